#include "TcpListener.h"

#include "Log.h"

#include <utility>

namespace Trinity::Net
{
    TcpListener::TcpListener(std::string name, Handler handler)
        : _name(std::move(name)), _handler(std::move(handler))
    {
    }

    TcpListener::~TcpListener()
    {
        Stop();
    }

    bool TcpListener::Start(std::string const& ip, uint16 port, std::string& error)
    {
        _listener = Listen(ip, port, error);
        if (!_listener.IsOpen())
            return false;
        _port = _listener.GetLocalPort();
        _stopping = false;
        _acceptThread = std::thread(&TcpListener::AcceptLoop, this);
        return true;
    }

    void TcpListener::Stop()
    {
        _stopping = true;
        if (_acceptThread.joinable())
            _acceptThread.join();
        _listener.Close();

        std::vector<Connection> connections;
        {
            std::lock_guard<std::mutex> guard(_connectionsLock);
            connections.swap(_connections);
        }
        for (Connection& connection : connections)
            if (connection.thread.joinable())
                connection.thread.join();
    }

    void TcpListener::AcceptLoop()
    {
        while (!_stopping)
        {
            ReapFinished();
            WaitResult const wait = _listener.WaitReadable(200);
            if (wait == WaitResult::Timeout)
                continue;
            if (wait == WaitResult::Error)
            {
                TC_LOG_ERROR("network", _name, ": waiting for connections failed: ", LastErrorString());
                return;
            }
            Socket socket = Accept(_listener);
            if (!socket.IsOpen())
                continue;

            TC_LOG_DEBUG("network", _name, ": accepted connection from ", socket.GetRemoteAddress());
            auto done = std::make_shared<std::atomic<bool>>(false);
            ++_active;
            std::thread thread([this, done, client = std::move(socket)]() mutable
            {
                _handler(std::move(client), _stopping);
                --_active;
                *done = true;
            });
            std::lock_guard<std::mutex> guard(_connectionsLock);
            _connections.push_back(Connection{std::move(thread), done});
        }
    }

    void TcpListener::ReapFinished()
    {
        std::lock_guard<std::mutex> guard(_connectionsLock);
        for (auto itr = _connections.begin(); itr != _connections.end();)
        {
            if (*itr->done)
            {
                itr->thread.join();
                itr = _connections.erase(itr);
            }
            else
                ++itr;
        }
    }
}
