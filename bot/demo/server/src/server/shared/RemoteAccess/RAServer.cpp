#include "RAServer.h"

#include "Log.h"
#include "Util.h"

#include <chrono>
#include <utility>

namespace
{
    constexpr std::size_t MaxLineBytes = 4096;
    constexpr auto LoginTimeout = std::chrono::seconds(60);

    unsigned char const TelnetIac = 0xFF;
    unsigned char const TelnetSb = 0xFA;
    unsigned char const TelnetSe = 0xF0;
    unsigned char const TelnetWill = 0xFB;
    unsigned char const TelnetDont = 0xFE;

    // Reads CR/LF-terminated lines, dropping telnet negotiation that clients such as PuTTY send.
    class LineReader
    {
    public:
        LineReader(Trinity::Net::Socket const& socket, std::atomic<bool> const& stopping)
            : _socket(socket), _stopping(stopping) { }

        // False when the peer closed, the line was too long, the deadline passed or we are stopping.
        bool ReadLine(std::string& line, std::chrono::steady_clock::time_point deadline)
        {
            while (true)
            {
                std::size_t const newline = _buffer.find('\n');
                if (newline != std::string::npos)
                {
                    line = _buffer.substr(0, newline);
                    _buffer.erase(0, newline + 1);
                    if (!line.empty() && line.back() == '\r')
                        line.pop_back();
                    return true;
                }
                if (_buffer.size() > MaxLineBytes)
                    return false;
                if (_stopping || std::chrono::steady_clock::now() >= deadline)
                    return false;
                Trinity::Net::WaitResult const wait = _socket.WaitReadable(200);
                if (wait == Trinity::Net::WaitResult::Timeout)
                    continue;
                if (wait == Trinity::Net::WaitResult::Error)
                    return false;
                char chunk[1024];
                int const received = _socket.Receive(chunk, sizeof(chunk));
                if (received <= 0)
                    return false;
                Append(chunk, static_cast<std::size_t>(received));
            }
        }

    private:
        void Append(char const* data, std::size_t length)
        {
            for (std::size_t i = 0; i < length; ++i)
            {
                unsigned char const byte = static_cast<unsigned char>(data[i]);
                switch (_telnetState)
                {
                    case State::Data:
                        if (byte == TelnetIac)
                            _telnetState = State::Command;
                        else if (byte != 0)
                            _buffer += static_cast<char>(byte);
                        break;
                    case State::Command:
                        if (byte >= TelnetWill && byte <= TelnetDont)
                            _telnetState = State::Option;
                        else if (byte == TelnetSb)
                            _telnetState = State::Subnegotiation;
                        else
                            _telnetState = State::Data;
                        break;
                    case State::Option:
                        _telnetState = State::Data;
                        break;
                    case State::Subnegotiation:
                        if (byte == TelnetIac)
                            _telnetState = State::SubnegotiationIac;
                        break;
                    case State::SubnegotiationIac:
                        _telnetState = byte == TelnetSe ? State::Data : State::Subnegotiation;
                        break;
                }
            }
        }

        enum class State { Data, Command, Option, Subnegotiation, SubnegotiationIac };

        Trinity::Net::Socket const& _socket;
        std::atomic<bool> const& _stopping;
        std::string _buffer;
        State _telnetState = State::Data;
    };

    bool IsQuitCommand(std::string const& line)
    {
        std::string const upper = Trinity::ToUpperAscii(line);
        return upper == "QUIT" || upper == "EXIT" || upper == "LOGOUT";
    }
}

RAServer::RAServer(AccountCredentials account, std::string motd, CommandExecutor executor)
    : _account(std::move(account)), _motd(std::move(motd)), _executor(std::move(executor)),
    _listener("RA", [this](Trinity::Net::Socket socket, std::atomic<bool> const& stopping)
    {
        HandleSession(std::move(socket), stopping);
    })
{
}

bool RAServer::Start(std::string const& ip, uint16 port, std::string& error)
{
    if (!_listener.Start(ip, port, error))
        return false;
    TC_LOG_INFO("server.worldserver", "Starting Trinity RA daemon on ", ip, ":", _listener.GetPort());
    return true;
}

void RAServer::Stop()
{
    _listener.Stop();
}

void RAServer::HandleSession(Trinity::Net::Socket socket, std::atomic<bool> const& stopping)
{
    std::string const peer = socket.GetRemoteAddress();
    LineReader reader(socket, stopping);
    auto const loginDeadline = std::chrono::steady_clock::now() + LoginTimeout;

    std::string user;
    std::string password;
    if (!socket.SendAll("Authentication Required\r\nUsername: ") || !reader.ReadLine(user, loginDeadline))
        return;
    if (!socket.SendAll("Password: ") || !reader.ReadLine(password, loginDeadline))
        return;

    user = Trinity::Trim(user);
    if (!_account.Matches(user, password))
    {
        TC_LOG_INFO("commands.ra", "User ", user, " from ", peer, " failed to authenticate");
        socket.SendAll("Authentication failed\r\n");
        return;
    }
    TC_LOG_INFO("commands.ra", "User ", user, " from ", peer, " logged in");

    if (!socket.SendAll(_motd + "\r\n"))
        return;

    auto const noDeadline = std::chrono::steady_clock::time_point::max();
    while (socket.SendAll("TC>"))
    {
        std::string line;
        if (!reader.ReadLine(line, noDeadline))
            return;
        line = Trinity::Trim(line);
        if (line.empty())
            continue;
        if (IsQuitCommand(line))
        {
            socket.SendAll("Bye\r\n");
            TC_LOG_INFO("commands.ra", "User ", user, " from ", peer, " logged out");
            return;
        }

        CommandResult const result = _executor(line);
        std::string output;
        for (char c : result.output)
        {
            if (c == '\n')
                output += "\r\n";
            else if (c != '\r')
                output += c;
        }
        if (!output.empty() && (output.size() < 2 || output.compare(output.size() - 2, 2, "\r\n") != 0))
            output += "\r\n";
        if (!socket.SendAll(output))
            return;
    }
}
