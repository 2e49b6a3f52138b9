#include "Config.h"

#include "Util.h"

#include <fstream>

ConfigMgr* ConfigMgr::instance()
{
    static ConfigMgr instance;
    return &instance;
}

bool ConfigMgr::LoadInitial(std::string const& file, std::string& error)
{
    std::ifstream in(file);
    if (!in)
    {
        error = "Invalid or missing configuration file : " + file;
        return false;
    }

    std::map<std::string, std::string> values;
    std::string line;
    unsigned lineNumber = 0;
    while (std::getline(in, line))
    {
        ++lineNumber;
        std::string const text = Trinity::Trim(line);
        if (text.empty() || text[0] == '#' || text[0] == ';' || text[0] == '[')
            continue;
        std::size_t const equals = text.find('=');
        if (equals == std::string::npos)
        {
            error = "Error in configuration file " + file + " at line " + std::to_string(lineNumber)
                + ": expected 'Key = Value'";
            return false;
        }
        std::string const key = Trinity::Trim(text.substr(0, equals));
        std::string value = Trinity::Trim(text.substr(equals + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        if (key.empty())
        {
            error = "Error in configuration file " + file + " at line " + std::to_string(lineNumber)
                + ": empty key";
            return false;
        }
        values[key] = value;
    }

    std::lock_guard<std::mutex> guard(_lock);
    _filename = file;
    _values.swap(values);
    return true;
}

void ConfigMgr::Set(std::string const& key, std::string const& value)
{
    std::lock_guard<std::mutex> guard(_lock);
    _values[key] = value;
}

std::string ConfigMgr::GetStringDefault(std::string const& key, std::string const& def) const
{
    std::lock_guard<std::mutex> guard(_lock);
    auto const itr = _values.find(key);
    return itr == _values.end() ? def : itr->second;
}

int64 ConfigMgr::GetIntDefault(std::string const& key, int64 def) const
{
    int64 value = 0;
    return Trinity::ParseInt(GetStringDefault(key, ""), value) ? value : def;
}

bool ConfigMgr::GetBoolDefault(std::string const& key, bool def) const
{
    std::string const value = Trinity::ToUpperAscii(GetStringDefault(key, ""));
    if (value == "1" || value == "TRUE" || value == "YES")
        return true;
    if (value == "0" || value == "FALSE" || value == "NO")
        return false;
    return def;
}
