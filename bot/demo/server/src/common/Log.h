#ifndef TRINITY_LOG_H
#define TRINITY_LOG_H

#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>

enum class LogLevel
{
    Debug,
    Info,
    Warn,
    Error,
    Fatal
};

// Console (stdout, flushed per line so supervisors see the ready line at once) plus Server.log.
class Log
{
public:
    static Log* instance();

    bool OpenFile(std::string const& path, std::string& error);
    void CloseFile();
    void SetDebug(bool enabled) { _debug = enabled; }

    void Write(LogLevel level, char const* filter, std::string const& message);

    template <typename... Args>
    void Out(LogLevel level, char const* filter, Args const&... args)
    {
        if (level == LogLevel::Debug && !_debug)
            return;
        std::ostringstream stream;
        (stream << ... << args);
        Write(level, filter, stream.str());
    }

private:
    Log() = default;
    ~Log();

    std::mutex _lock;
    std::FILE* _file = nullptr;
    bool _debug = false;
};

#define sLog Log::instance()

#define TC_LOG_DEBUG(filter, ...) sLog->Out(LogLevel::Debug, filter, __VA_ARGS__)
#define TC_LOG_INFO(filter, ...) sLog->Out(LogLevel::Info, filter, __VA_ARGS__)
#define TC_LOG_WARN(filter, ...) sLog->Out(LogLevel::Warn, filter, __VA_ARGS__)
#define TC_LOG_ERROR(filter, ...) sLog->Out(LogLevel::Error, filter, __VA_ARGS__)
#define TC_LOG_FATAL(filter, ...) sLog->Out(LogLevel::Fatal, filter, __VA_ARGS__)

#endif
