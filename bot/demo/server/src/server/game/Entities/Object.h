#ifndef TRINITY_OBJECT_H
#define TRINITY_OBJECT_H

#include "Define.h"

#include <string>
#include <utility>

class WorldSession;

// Anything that exists in the world. Only players are driven by a client session.
class WorldObject
{
public:
    WorldObject(uint64 guid, std::string name) : m_guid(guid), m_name(std::move(name)) { }
    virtual ~WorldObject() = default;

    WorldObject(WorldObject const&) = delete;
    WorldObject& operator=(WorldObject const&) = delete;

    uint64 GetGUID() const { return m_guid; }
    std::string const& GetName() const { return m_name; }

    virtual bool IsPlayer() const { return false; }
    virtual WorldSession* GetSession() const { return nullptr; }

private:
    uint64 m_guid;
    std::string m_name;
};

#endif
