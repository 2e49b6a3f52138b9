#ifndef TRINITY_NET_TCPLISTENER_H
#define TRINITY_NET_TCPLISTENER_H

#include "Socket.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace Trinity::Net
{
    // Accepts on its own thread and serves each connection on a thread of its own. Handlers must
    // poll `stopping` at least every few hundred milliseconds; Stop() joins every thread.
    class TcpListener
    {
    public:
        typedef std::function<void(Socket socket, std::atomic<bool> const& stopping)> Handler;

        TcpListener(std::string name, Handler handler);
        ~TcpListener();

        TcpListener(TcpListener const&) = delete;
        TcpListener& operator=(TcpListener const&) = delete;

        bool Start(std::string const& ip, uint16 port, std::string& error);
        void Stop();

        uint16 GetPort() const { return _port; }
        std::size_t GetConnectionCount() const { return _active.load(); }

    private:
        struct Connection
        {
            std::thread thread;
            std::shared_ptr<std::atomic<bool>> done;
        };

        void AcceptLoop();
        void ReapFinished();

        std::string _name;
        Handler _handler;
        Socket _listener;
        uint16 _port = 0;
        std::atomic<bool> _stopping{false};
        std::atomic<std::size_t> _active{0};
        std::thread _acceptThread;
        std::mutex _connectionsLock;
        std::vector<Connection> _connections;
    };
}

#endif
