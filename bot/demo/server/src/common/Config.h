#ifndef TRINITY_CONFIG_H
#define TRINITY_CONFIG_H

#include "Define.h"

#include <map>
#include <mutex>
#include <string>

// worldserver.conf: "Key = Value" lines, '#' comments, optional double quotes around values.
class ConfigMgr
{
public:
    static ConfigMgr* instance();

    bool LoadInitial(std::string const& file, std::string& error);
    void Set(std::string const& key, std::string const& value);

    std::string const& GetFilename() const { return _filename; }
    std::string GetStringDefault(std::string const& key, std::string const& def) const;
    int64 GetIntDefault(std::string const& key, int64 def) const;
    bool GetBoolDefault(std::string const& key, bool def) const;

private:
    ConfigMgr() = default;

    mutable std::mutex _lock;
    std::string _filename;
    std::map<std::string, std::string> _values;
};

#define sConfigMgr ConfigMgr::instance()

#endif
