#include "Socket.h"

#include <cstring>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace Trinity::Net
{
    namespace
    {
#ifdef _WIN32
        typedef int SockLen;
        SOCKET Native(SocketHandle handle) { return static_cast<SOCKET>(handle); }
        void CloseNative(SocketHandle handle) { closesocket(Native(handle)); }
        constexpr int SendFlags = 0;
#else
        typedef socklen_t SockLen;
        int Native(SocketHandle handle) { return handle; }
        void CloseNative(SocketHandle handle) { ::close(handle); }
        // A vanished peer must produce an error return, not a process-killing SIGPIPE.
        constexpr int SendFlags = MSG_NOSIGNAL;
#endif
    }

    bool Initialize(std::string& error)
    {
#ifdef _WIN32
        WSADATA data;
        int const result = WSAStartup(MAKEWORD(2, 2), &data);
        if (result != 0)
        {
            error = "WSAStartup failed with error " + std::to_string(result);
            return false;
        }
#else
        std::signal(SIGPIPE, SIG_IGN);
#endif
        error.clear();
        return true;
    }

    void Cleanup()
    {
#ifdef _WIN32
        WSACleanup();
#endif
    }

    std::string LastErrorString()
    {
#ifdef _WIN32
        return "Winsock error " + std::to_string(WSAGetLastError());
#else
        return std::strerror(errno);
#endif
    }

    Socket& Socket::operator=(Socket&& other) noexcept
    {
        if (this != &other)
        {
            Close();
            _handle = other._handle;
            other._handle = InvalidSocket;
        }
        return *this;
    }

    void Socket::Close()
    {
        if (_handle != InvalidSocket)
        {
            CloseNative(_handle);
            _handle = InvalidSocket;
        }
    }

    WaitResult Socket::WaitReadable(int timeoutMs) const
    {
        if (!IsOpen())
            return WaitResult::Error;
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(Native(_handle), &readable);
        timeval timeout;
        timeout.tv_sec = timeoutMs / 1000;
        timeout.tv_usec = (timeoutMs % 1000) * 1000;
        // The first argument is ignored by Winsock and must be the highest fd + 1 elsewhere.
        int const result = select(static_cast<int>(Native(_handle)) + 1, &readable, nullptr, nullptr, &timeout);
        if (result > 0)
            return WaitResult::Ready;
        if (result == 0)
            return WaitResult::Timeout;
#ifndef _WIN32
        if (errno == EINTR)
            return WaitResult::Timeout;
#endif
        return WaitResult::Error;
    }

    int Socket::Receive(char* buffer, std::size_t length) const
    {
        return static_cast<int>(recv(Native(_handle), buffer, static_cast<int>(length), 0));
    }

    bool Socket::SendAll(std::string const& data) const
    {
        std::size_t sent = 0;
        while (sent < data.size())
        {
            int const result = static_cast<int>(send(Native(_handle), data.data() + sent,
                static_cast<int>(data.size() - sent), SendFlags));
            if (result <= 0)
            {
#ifndef _WIN32
                if (result < 0 && errno == EINTR)
                    continue;
#endif
                return false;
            }
            sent += static_cast<std::size_t>(result);
        }
        return true;
    }

    uint16 Socket::GetLocalPort() const
    {
        sockaddr_in address;
        std::memset(&address, 0, sizeof(address));
        SockLen length = sizeof(address);
        if (getsockname(Native(_handle), reinterpret_cast<sockaddr*>(&address), &length) != 0)
            return 0;
        return ntohs(address.sin_port);
    }

    std::string Socket::GetRemoteAddress() const
    {
        sockaddr_in address;
        std::memset(&address, 0, sizeof(address));
        SockLen length = sizeof(address);
        if (getpeername(Native(_handle), reinterpret_cast<sockaddr*>(&address), &length) != 0)
            return "?";
        char text[INET_ADDRSTRLEN] = {};
        if (!inet_ntop(AF_INET, &address.sin_addr, text, sizeof(text)))
            return "?";
        return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
    }

    Socket Listen(std::string const& ip, uint16 port, std::string& error)
    {
        sockaddr_in address;
        std::memset(&address, 0, sizeof(address));
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        if (inet_pton(AF_INET, ip.c_str(), &address.sin_addr) != 1)
        {
            error = "'" + ip + "' is not an IPv4 address";
            return Socket();
        }

        Socket listener(static_cast<SocketHandle>(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)));
        if (!listener.IsOpen())
        {
            error = "socket() failed: " + LastErrorString();
            return Socket();
        }

        int const enable = 1;
#ifdef _WIN32
        // SO_REUSEADDR on Windows lets another process steal the port; exclusive use is the safe twin.
        setsockopt(Native(listener.GetHandle()), SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
            reinterpret_cast<char const*>(&enable), sizeof(enable));
#else
        // Lets a restarted server bind again while old connections sit in TIME_WAIT.
        setsockopt(Native(listener.GetHandle()), SOL_SOCKET, SO_REUSEADDR, &enable, sizeof(enable));
#endif

        if (bind(Native(listener.GetHandle()), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
        {
            error = "bind() failed: " + LastErrorString();
            return Socket();
        }
        if (listen(Native(listener.GetHandle()), SOMAXCONN) != 0)
        {
            error = "listen() failed: " + LastErrorString();
            return Socket();
        }
        error.clear();
        return listener;
    }

    Socket Accept(Socket const& listener)
    {
        sockaddr_in address;
        SockLen length = sizeof(address);
        return Socket(static_cast<SocketHandle>(
            accept(Native(listener.GetHandle()), reinterpret_cast<sockaddr*>(&address), &length)));
    }
}
