#include "SoapServer.h"

#include "Log.h"
#include "Util.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <utility>

namespace
{
    constexpr std::size_t MaxHeaderBytes = 16 * 1024;
    constexpr std::size_t MaxBodyBytes = 1024 * 1024;
    constexpr auto RequestTimeout = std::chrono::seconds(15);

    char const* const EnvelopeOpen =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\""
        " xmlns:SOAP-ENC=\"http://schemas.xmlsoap.org/soap/encoding/\""
        " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
        " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:ns1=\"urn:TC\">"
        "<SOAP-ENV:Body>";
    char const* const EnvelopeClose = "</SOAP-ENV:Body></SOAP-ENV:Envelope>\n";

    struct HttpRequest
    {
        std::string method;
        std::string target;
        std::map<std::string, std::string> headers; // lower-cased names
        std::string body;
    };

    enum class ReadStatus
    {
        Ok,
        Closed,
        BadRequest,
        TooLarge,
        LengthRequired,
    };

    std::string LowerAscii(std::string text)
    {
        for (char& c : text)
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
        return text;
    }

    std::string Header(HttpRequest const& request, std::string const& name)
    {
        auto const itr = request.headers.find(name);
        return itr == request.headers.end() ? std::string() : itr->second;
    }

    // Reads more bytes into `buffer`; false when the peer closed, errored, stalled or we are stopping.
    bool ReadMore(Trinity::Net::Socket const& socket, std::atomic<bool> const& stopping,
        std::chrono::steady_clock::time_point deadline, std::string& buffer)
    {
        while (!stopping && std::chrono::steady_clock::now() < deadline)
        {
            Trinity::Net::WaitResult const wait = socket.WaitReadable(200);
            if (wait == Trinity::Net::WaitResult::Timeout)
                continue;
            if (wait == Trinity::Net::WaitResult::Error)
                return false;
            char chunk[4096];
            int const received = socket.Receive(chunk, sizeof(chunk));
            if (received <= 0)
                return false;
            buffer.append(chunk, static_cast<std::size_t>(received));
            return true;
        }
        return false;
    }

    ReadStatus ReadRequest(Trinity::Net::Socket const& socket, std::atomic<bool> const& stopping, HttpRequest& request)
    {
        auto const deadline = std::chrono::steady_clock::now() + RequestTimeout;
        std::string buffer;
        std::size_t headerEnd = std::string::npos;
        while ((headerEnd = buffer.find("\r\n\r\n")) == std::string::npos)
        {
            if (buffer.size() > MaxHeaderBytes)
                return ReadStatus::TooLarge;
            if (!ReadMore(socket, stopping, deadline, buffer))
                return buffer.empty() ? ReadStatus::Closed : ReadStatus::BadRequest;
        }

        std::string const head = buffer.substr(0, headerEnd);
        std::size_t lineEnd = head.find("\r\n");
        std::string const requestLine = head.substr(0, lineEnd);
        std::vector<std::string> const parts = Trinity::Tokenize(requestLine);
        if (parts.size() != 3 || parts[2].compare(0, 5, "HTTP/") != 0)
            return ReadStatus::BadRequest;
        request.method = parts[0];
        request.target = parts[1];

        while (lineEnd != std::string::npos)
        {
            std::size_t const next = head.find("\r\n", lineEnd + 2);
            std::string const line = head.substr(lineEnd + 2, next == std::string::npos ? std::string::npos : next - lineEnd - 2);
            lineEnd = next;
            std::size_t const colon = line.find(':');
            if (colon == std::string::npos)
                return ReadStatus::BadRequest;
            request.headers[LowerAscii(Trinity::Trim(line.substr(0, colon)))] = Trinity::Trim(line.substr(colon + 1));
        }

        if (!Header(request, "transfer-encoding").empty())
            return ReadStatus::LengthRequired;

        int64 length = 0;
        std::string const lengthHeader = Header(request, "content-length");
        if (!lengthHeader.empty() && (!Trinity::ParseInt(lengthHeader, length) || length < 0))
            return ReadStatus::BadRequest;
        if (static_cast<std::size_t>(length) > MaxBodyBytes)
            return ReadStatus::TooLarge;

        if (length > 0 && LowerAscii(Header(request, "expect")) == "100-continue")
            socket.SendAll("HTTP/1.1 100 Continue\r\n\r\n");

        request.body = buffer.substr(headerEnd + 4);
        while (request.body.size() < static_cast<std::size_t>(length))
            if (!ReadMore(socket, stopping, deadline, request.body))
                return ReadStatus::BadRequest;
        request.body.resize(static_cast<std::size_t>(length));
        return ReadStatus::Ok;
    }

    std::string HttpResponse(char const* status, std::string const& body, std::string const& extraHeaders = std::string())
    {
        return std::string("HTTP/1.1 ") + status + "\r\n"
            "Server: gSOAP/2.8\r\n"
            "Content-Type: text/xml; charset=utf-8\r\n"
            "Content-Length: " + std::to_string(body.size()) + "\r\n"
            + extraHeaders +
            "Connection: close\r\n\r\n" + body;
    }

    std::string FaultBody(char const* code, std::string const& text)
    {
        std::string const escaped = Soap::EscapeXml(text);
        return std::string(EnvelopeOpen) + "<SOAP-ENV:Fault><faultcode>" + code + "</faultcode><faultstring>"
            + escaped + "</faultstring><detail>" + escaped + "</detail></SOAP-ENV:Fault>" + EnvelopeClose;
    }

    std::string ResultBody(std::string const& text)
    {
        return std::string(EnvelopeOpen) + "<ns1:executeCommandResponse><result>" + Soap::EscapeXml(text)
            + "</result></ns1:executeCommandResponse>" + EnvelopeClose;
    }

    bool ParseBasicAuth(std::string const& header, std::string& user, std::string& password)
    {
        if (header.size() < 6 || LowerAscii(header.substr(0, 6)) != "basic ")
            return false;
        std::string decoded;
        if (!Soap::DecodeBase64(Trinity::Trim(header.substr(6)), decoded))
            return false;
        std::size_t const colon = decoded.find(':');
        if (colon == std::string::npos)
            return false;
        user = decoded.substr(0, colon);
        password = decoded.substr(colon + 1);
        return true;
    }

    // The namespace URI bound to `prefix` anywhere in the document ("" = default namespace).
    std::string NamespaceFor(std::string const& xml, std::string const& prefix)
    {
        std::string const attribute = prefix.empty() ? "xmlns=" : "xmlns:" + prefix + "=";
        std::size_t const position = xml.find(attribute);
        if (position == std::string::npos)
            return std::string();
        std::size_t const quote = position + attribute.size();
        if (quote >= xml.size() || (xml[quote] != '"' && xml[quote] != '\''))
            return std::string();
        std::size_t const close = xml.find(xml[quote], quote + 1);
        if (close == std::string::npos)
            return std::string();
        return xml.substr(quote + 1, close - quote - 1);
    }

    bool IsNameEnd(char c)
    {
        return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
    }
}

namespace Soap
{
    bool DecodeBase64(std::string const& text, std::string& out)
    {
        out.clear();
        unsigned buffer = 0;
        int bits = 0;
        std::size_t padding = 0;
        for (char c : text)
        {
            int value;
            if (c >= 'A' && c <= 'Z') value = c - 'A';
            else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
            else if (c >= '0' && c <= '9') value = c - '0' + 52;
            else if (c == '+') value = 62;
            else if (c == '/') value = 63;
            else if (c == '=') { ++padding; continue; }
            else return false;
            if (padding)
                return false;
            buffer = (buffer << 6) | static_cast<unsigned>(value);
            bits += 6;
            if (bits >= 8)
            {
                bits -= 8;
                out += static_cast<char>((buffer >> bits) & 0xFF);
            }
        }
        return padding <= 2;
    }

    std::string EscapeXml(std::string const& text)
    {
        std::string out;
        out.reserve(text.size());
        for (char c : text)
        {
            switch (c)
            {
                case '&': out += "&amp;"; break;
                case '<': out += "&lt;"; break;
                case '>': out += "&gt;"; break;
                case '"': out += "&quot;"; break;
                default:
                    // XML 1.0 cannot carry other control characters at all.
                    if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r')
                        out += c;
                    break;
            }
        }
        return out;
    }

    std::string UnescapeXml(std::string const& text)
    {
        std::string out;
        out.reserve(text.size());
        for (std::size_t i = 0; i < text.size(); ++i)
        {
            if (text[i] != '&')
            {
                out += text[i];
                continue;
            }
            std::size_t const semicolon = text.find(';', i);
            if (semicolon == std::string::npos || semicolon - i > 10)
            {
                out += text[i];
                continue;
            }
            std::string const entity = text.substr(i + 1, semicolon - i - 1);
            if (entity == "amp") out += '&';
            else if (entity == "lt") out += '<';
            else if (entity == "gt") out += '>';
            else if (entity == "quot") out += '"';
            else if (entity == "apos") out += '\'';
            else if (entity.size() > 1 && entity[0] == '#')
            {
                int64 code = 0;
                bool const hex = entity[1] == 'x' || entity[1] == 'X';
                std::string const digits = entity.substr(hex ? 2 : 1);
                char* end = nullptr;
                code = std::strtoll(digits.c_str(), &end, hex ? 16 : 10);
                if (digits.empty() || *end != '\0' || code <= 0 || code > 0x7F)
                {
                    // Non-ASCII references are rare in console commands; keep them verbatim.
                    out += text.substr(i, semicolon - i + 1);
                }
                else
                    out += static_cast<char>(code);
            }
            else
                out += text.substr(i, semicolon - i + 1);
            i = semicolon;
        }
        return out;
    }

    CommandParse ExtractCommand(std::string const& envelope, std::string& command)
    {
        static std::string const method = "executeCommand";
        std::size_t position = 0;
        while ((position = envelope.find(method, position)) != std::string::npos)
        {
            std::size_t const nameEnd = position + method.size();
            std::size_t const open = envelope.rfind('<', position);
            position = nameEnd;
            if (open == std::string::npos || nameEnd >= envelope.size() || !IsNameEnd(envelope[nameEnd]))
                continue;
            std::string const qualified = envelope.substr(open + 1, nameEnd - open - 1);
            if (qualified.find_first_of(" \t\r\n/>") != std::string::npos)
                continue;
            std::size_t const colon = qualified.find(':');
            std::string const prefix = colon == std::string::npos ? std::string() : qualified.substr(0, colon);
            std::string const uri = NamespaceFor(envelope, prefix);
            if (uri != "urn:TC" && uri != "urn:AC")
                return CommandParse::NoMethod;

            std::size_t search = nameEnd;
            while ((search = envelope.find("<command", search)) != std::string::npos)
            {
                std::size_t const tagNameEnd = search + 8;
                if (tagNameEnd < envelope.size() && IsNameEnd(envelope[tagNameEnd]))
                    break;
                search = tagNameEnd;
            }
            if (search == std::string::npos)
                return CommandParse::NoCommand;
            std::size_t const tagClose = envelope.find('>', search);
            if (tagClose == std::string::npos)
                return CommandParse::NoCommand;
            if (envelope[tagClose - 1] == '/')
            {
                command.clear();
                return CommandParse::Ok;
            }
            std::size_t const end = envelope.find("</command>", tagClose);
            if (end == std::string::npos)
                return CommandParse::NoCommand;
            command = UnescapeXml(envelope.substr(tagClose + 1, end - tagClose - 1));
            return CommandParse::Ok;
        }
        return CommandParse::NoMethod;
    }
}

SoapServer::SoapServer(AccountCredentials account, CommandExecutor executor)
    : _account(std::move(account)), _executor(std::move(executor)),
    _listener("SOAP", [this](Trinity::Net::Socket socket, std::atomic<bool> const& stopping)
    {
        HandleConnection(std::move(socket), stopping);
    })
{
}

bool SoapServer::Start(std::string const& ip, uint16 port, std::string& error)
{
    if (!_listener.Start(ip, port, error))
        return false;
    TC_LOG_INFO("network.soap", "Bound SOAP service on ", ip, ":", _listener.GetPort());
    return true;
}

void SoapServer::Stop()
{
    _listener.Stop();
}

void SoapServer::HandleConnection(Trinity::Net::Socket socket, std::atomic<bool> const& stopping)
{
    std::string const peer = socket.GetRemoteAddress();
    HttpRequest request;
    switch (ReadRequest(socket, stopping, request))
    {
        case ReadStatus::Ok:
            break;
        case ReadStatus::Closed:
            return;
        case ReadStatus::BadRequest:
            socket.SendAll(HttpResponse("400 Bad Request", FaultBody("SOAP-ENV:Client", "Malformed HTTP request")));
            return;
        case ReadStatus::TooLarge:
            socket.SendAll(HttpResponse("413 Request Entity Too Large", FaultBody("SOAP-ENV:Client", "Request too large")));
            return;
        case ReadStatus::LengthRequired:
            socket.SendAll(HttpResponse("411 Length Required", FaultBody("SOAP-ENV:Client", "Content-Length required")));
            return;
    }

    if (request.method != "POST")
    {
        socket.SendAll(HttpResponse("405 Method Not Allowed",
            FaultBody("SOAP-ENV:Client", "Only POST is supported"), "Allow: POST\r\n"));
        return;
    }

    std::string user;
    std::string password;
    if (!ParseBasicAuth(Header(request, "authorization"), user, password) || !_account.Matches(user, password))
    {
        TC_LOG_INFO("network.soap", "SOAP: authentication failed for '", user, "' from ", peer);
        socket.SendAll(HttpResponse("401 Unauthorized", FaultBody("SOAP-ENV:Client", "HTTP Basic authentication failed"),
            "WWW-Authenticate: Basic realm=\"TrinityCore\"\r\n"));
        return;
    }

    std::string command;
    switch (Soap::ExtractCommand(request.body, command))
    {
        case Soap::CommandParse::Ok:
            break;
        case Soap::CommandParse::NoMethod:
            socket.SendAll(HttpResponse("500 Internal Server Error", FaultBody("SOAP-ENV:Client",
                "Method 'executeCommand' not implemented: method name or namespace not recognized")));
            return;
        case Soap::CommandParse::NoCommand:
            socket.SendAll(HttpResponse("500 Internal Server Error",
                FaultBody("SOAP-ENV:Client", "Missing <command> element in executeCommand")));
            return;
    }
    if (Trinity::Trim(command).empty())
    {
        socket.SendAll(HttpResponse("500 Internal Server Error", FaultBody("SOAP-ENV:Client", "Command can not be empty")));
        return;
    }

    TC_LOG_DEBUG("network.soap", "SOAP: ", user, "@", peer, " runs '", command, "'");
    CommandResult const result = _executor(command);
    if (result.success)
        socket.SendAll(HttpResponse("200 OK", ResultBody(result.output)));
    else
        socket.SendAll(HttpResponse("500 Internal Server Error", FaultBody("SOAP-ENV:Client", result.output)));
}
