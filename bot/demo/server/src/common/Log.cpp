#include "Log.h"

#include "Util.h"

#include <ctime>

namespace
{
    char const* LevelName(LogLevel level)
    {
        switch (level)
        {
            case LogLevel::Debug: return "DEBUG";
            case LogLevel::Info: return "INFO ";
            case LogLevel::Warn: return "WARN ";
            case LogLevel::Error: return "ERROR";
            case LogLevel::Fatal: return "FATAL";
        }
        return "INFO ";
    }
}

Log* Log::instance()
{
    static Log instance;
    return &instance;
}

Log::~Log()
{
    CloseFile();
}

bool Log::OpenFile(std::string const& path, std::string& error)
{
    std::lock_guard<std::mutex> guard(_lock);
    if (_file)
        std::fclose(_file);
    // Truncated on every start, as TC's default Appender.Server does ("w").
    _file = std::fopen(path.c_str(), "w");
    if (!_file)
    {
        error = "cannot open log file " + path + " for writing";
        return false;
    }
    return true;
}

void Log::CloseFile()
{
    std::lock_guard<std::mutex> guard(_lock);
    if (_file)
    {
        std::fclose(_file);
        _file = nullptr;
    }
}

void Log::Write(LogLevel level, char const* filter, std::string const& message)
{
    std::lock_guard<std::mutex> guard(_lock);
    // File first: whoever reacts to a console line (a supervisor waiting for "ready...") can rely on
    // Server.log already holding it.
    if (_file)
    {
        std::string const stamp = Trinity::FormatTime(std::time(nullptr), "%Y-%m-%d_%H:%M:%S");
        std::fprintf(_file, "%s %s [%s] %s\n", stamp.c_str(), LevelName(level), filter, message.c_str());
        std::fflush(_file);
    }
    std::fputs(message.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}
