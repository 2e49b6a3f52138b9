#include "Util.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace Trinity
{
    std::vector<std::string> Tokenize(std::string const& text)
    {
        std::vector<std::string> tokens;
        std::string current;
        for (char c : text)
        {
            if (c == ' ' || c == '\t')
            {
                if (!current.empty())
                    tokens.push_back(current);
                current.clear();
            }
            else
                current += c;
        }
        if (!current.empty())
            tokens.push_back(current);
        return tokens;
    }

    std::string Trim(std::string const& text)
    {
        std::size_t const first = text.find_first_not_of(" \t\r\n");
        if (first == std::string::npos)
            return std::string();
        std::size_t const last = text.find_last_not_of(" \t\r\n");
        return text.substr(first, last - first + 1);
    }

    std::string ToUpperAscii(std::string text)
    {
        for (char& c : text)
            if (c >= 'a' && c <= 'z')
                c = static_cast<char>(c - 'a' + 'A');
        return text;
    }

    bool EqualsIgnoringCase(std::string const& a, std::string const& b)
    {
        return a.size() == b.size() && ToUpperAscii(a) == ToUpperAscii(b);
    }

    bool ParseInt(std::string const& text, int64& out)
    {
        if (text.empty())
            return false;
        char* end = nullptr;
        errno = 0;
        long long const value = std::strtoll(text.c_str(), &end, 10);
        if (errno != 0 || end == text.c_str() || *end != '\0')
            return false;
        out = static_cast<int64>(value);
        return true;
    }

    bool ParseDouble(std::string const& text, double& out)
    {
        if (text.empty())
            return false;
        char* end = nullptr;
        errno = 0;
        double const value = std::strtod(text.c_str(), &end);
        if (errno != 0 || end == text.c_str() || *end != '\0')
            return false;
        out = value;
        return true;
    }

    int64 TimeStringToSecs(std::string const& text)
    {
        if (text.empty())
            return -1;
        int64 total = 0;
        int64 buffer = 0;
        bool haveDigits = false;
        for (char c : text)
        {
            if (std::isdigit(static_cast<unsigned char>(c)))
            {
                buffer = buffer * 10 + (c - '0');
                haveDigits = true;
                if (buffer > 100000000)
                    return -1;
                continue;
            }
            if (!haveDigits)
                return -1;
            int64 multiplier = 0;
            switch (c)
            {
                case 'd': multiplier = 86400; break;
                case 'h': multiplier = 3600; break;
                case 'm': multiplier = 60; break;
                case 's': multiplier = 1; break;
                default: return -1;
            }
            total += buffer * multiplier;
            buffer = 0;
            haveDigits = false;
        }
        return total + buffer;
    }

    std::string SecsToTimeString(uint64 secs)
    {
        uint64 const days = secs / 86400;
        uint64 const hours = (secs % 86400) / 3600;
        uint64 const minutes = (secs % 3600) / 60;
        uint64 const seconds = secs % 60;
        std::string out;
        if (days)
            out += std::to_string(days) + " day(s) ";
        if (days || hours)
            out += std::to_string(hours) + " hour(s) ";
        if (days || hours || minutes)
            out += std::to_string(minutes) + " minute(s) ";
        out += std::to_string(seconds) + " second(s)";
        return out;
    }

    std::tm LocalTime(std::time_t t)
    {
        std::tm result{};
#ifdef _WIN32
        localtime_s(&result, &t);
#else
        localtime_r(&t, &result);
#endif
        return result;
    }

    std::string FormatTime(std::time_t t, char const* format)
    {
        std::tm const local = LocalTime(t);
        char buffer[64];
        std::size_t const length = std::strftime(buffer, sizeof(buffer), format, &local);
        return std::string(buffer, length);
    }
}
