#ifndef TRINITY_PLAYER_H
#define TRINITY_PLAYER_H

#include "Object.h"

class Player : public WorldObject
{
public:
    Player(WorldSession* session, uint64 guid, std::string name, uint8 level);
    ~Player() override;

    bool IsPlayer() const override { return true; }
    WorldSession* GetSession() const override { return m_session; }

    uint8 GetLevel() const { return m_level; }
    bool IsAcceptWhispers() const { return m_acceptWhispers; }
    void SetAcceptWhispers(bool on) { m_acceptWhispers = on; }

    std::string GetDescription() const;

private:
    WorldSession* m_session;
    uint8 m_level;
    bool m_acceptWhispers = true;
};

#endif
