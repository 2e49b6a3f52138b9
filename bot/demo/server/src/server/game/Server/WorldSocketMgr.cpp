#include "WorldSocketMgr.h"

#include "Log.h"

#include <utility>

WorldSocketMgr* WorldSocketMgr::instance()
{
    static WorldSocketMgr instance;
    return &instance;
}

WorldSocketMgr::WorldSocketMgr()
    : _listener("World", [this](Trinity::Net::Socket socket, std::atomic<bool> const& stopping)
    {
        HandleClient(std::move(socket), stopping);
    })
{
}

bool WorldSocketMgr::StartWorldNetwork(std::string const& ip, uint16 port, std::string& error)
{
    if (!_listener.Start(ip, port, error))
        return false;
    TC_LOG_INFO("server.worldserver", "World server listening on ", ip, ":", _listener.GetPort());
    return true;
}

void WorldSocketMgr::StopNetwork()
{
    _listener.Stop();
}

void WorldSocketMgr::HandleClient(Trinity::Net::Socket socket, std::atomic<bool> const& stopping)
{
    std::string const peer = socket.GetRemoteAddress();
    TC_LOG_DEBUG("network", "World connection from ", peer);
    char buffer[1024];
    while (!stopping)
    {
        Trinity::Net::WaitResult const wait = socket.WaitReadable(200);
        if (wait == Trinity::Net::WaitResult::Timeout)
            continue;
        if (wait == Trinity::Net::WaitResult::Error || socket.Receive(buffer, sizeof(buffer)) <= 0)
            break;
    }
    TC_LOG_DEBUG("network", "World connection from ", peer, " closed");
}
