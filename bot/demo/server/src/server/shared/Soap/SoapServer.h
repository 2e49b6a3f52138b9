#ifndef TRINITY_SOAPSERVER_H
#define TRINITY_SOAPSERVER_H

#include "CliCommand.h"
#include "TcpListener.h"

#include <string>

// A gSOAP-compatible endpoint: HTTP/1.1 POST (any path) with Basic auth, a SOAP 1.1 envelope
// carrying <ns1:executeCommand><command>...</command> in urn:TC (or urn:AC), one request per connection.
class SoapServer
{
public:
    SoapServer(AccountCredentials account, CommandExecutor executor);

    bool Start(std::string const& ip, uint16 port, std::string& error);
    void Stop();
    uint16 GetPort() const { return _listener.GetPort(); }

private:
    void HandleConnection(Trinity::Net::Socket socket, std::atomic<bool> const& stopping);

    AccountCredentials _account;
    CommandExecutor _executor;
    Trinity::Net::TcpListener _listener;
};

namespace Soap
{
    // Exposed for clarity of the wire format; pure functions over strings.
    bool DecodeBase64(std::string const& text, std::string& out);
    std::string EscapeXml(std::string const& text);
    std::string UnescapeXml(std::string const& text);

    enum class CommandParse
    {
        Ok,
        NoMethod,   // no executeCommand in a namespace this server implements
        NoCommand,  // executeCommand without a <command> element
    };
    CommandParse ExtractCommand(std::string const& envelope, std::string& command);
}

#endif
