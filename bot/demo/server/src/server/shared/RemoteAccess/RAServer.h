#ifndef TRINITY_RASERVER_H
#define TRINITY_RASERVER_H

#include "CliCommand.h"
#include "TcpListener.h"

#include <string>

// Remote Access: the telnet-style console. "Username: " / "Password: " login, then a "TC>" prompt,
// one command per line, "quit" ends the session.
class RAServer
{
public:
    RAServer(AccountCredentials account, std::string motd, CommandExecutor executor);

    bool Start(std::string const& ip, uint16 port, std::string& error);
    void Stop();
    uint16 GetPort() const { return _listener.GetPort(); }

private:
    void HandleSession(Trinity::Net::Socket socket, std::atomic<bool> const& stopping);

    AccountCredentials _account;
    std::string _motd;
    CommandExecutor _executor;
    Trinity::Net::TcpListener _listener;
};

#endif
