#ifndef TRINITY_NET_SOCKET_H
#define TRINITY_NET_SOCKET_H

#include "Define.h"

#include <cstddef>
#include <string>

// A minimal portability shim over BSD sockets and Winsock: blocking IPv4 TCP with select()-based
// waits, so every loop can notice a shutdown request within a fraction of a second.
namespace Trinity::Net
{
#ifdef _WIN32
    typedef std::uintptr_t SocketHandle; // SOCKET
    constexpr SocketHandle InvalidSocket = ~static_cast<std::uintptr_t>(0);
#else
    typedef int SocketHandle;
    constexpr SocketHandle InvalidSocket = -1;
#endif

    // WSAStartup on Windows; ignores SIGPIPE elsewhere (a peer hanging up must not kill the server).
    bool Initialize(std::string& error);
    void Cleanup();

    enum class WaitResult
    {
        Ready,
        Timeout,
        Error
    };

    class Socket
    {
    public:
        Socket() = default;
        explicit Socket(SocketHandle handle) : _handle(handle) { }
        ~Socket() { Close(); }

        Socket(Socket const&) = delete;
        Socket& operator=(Socket const&) = delete;
        Socket(Socket&& other) noexcept : _handle(other._handle) { other._handle = InvalidSocket; }
        Socket& operator=(Socket&& other) noexcept;

        bool IsOpen() const { return _handle != InvalidSocket; }
        SocketHandle GetHandle() const { return _handle; }
        void Close();

        WaitResult WaitReadable(int timeoutMs) const;
        // > 0: bytes read; 0: orderly close by the peer; < 0: error.
        int Receive(char* buffer, std::size_t length) const;
        bool SendAll(std::string const& data) const;

        uint16 GetLocalPort() const;
        std::string GetRemoteAddress() const;

    private:
        SocketHandle _handle = InvalidSocket;
    };

    // A listening socket bound to ip:port (port 0 = any free port).
    Socket Listen(std::string const& ip, uint16 port, std::string& error);
    // Accepts one pending connection; call after WaitReadable() said Ready.
    Socket Accept(Socket const& listener);

    std::string LastErrorString();
}

#endif
