#ifndef TRINITY_WORLDSOCKETMGR_H
#define TRINITY_WORLDSOCKETMGR_H

#include "TcpListener.h"

#include <string>

// The game port. The demo speaks no game protocol: it accepts clients and holds them until they
// hang up, which is what health checks and load balancers probe.
class WorldSocketMgr
{
public:
    static WorldSocketMgr* instance();

    bool StartWorldNetwork(std::string const& ip, uint16 port, std::string& error);
    void StopNetwork();

    uint16 GetPort() const { return _listener.GetPort(); }
    std::size_t GetConnectionCount() const { return _listener.GetConnectionCount(); }

private:
    WorldSocketMgr();
    void HandleClient(Trinity::Net::Socket socket, std::atomic<bool> const& stopping);

    Trinity::Net::TcpListener _listener;
};

#define sWorldSocketMgr WorldSocketMgr::instance()

#endif
