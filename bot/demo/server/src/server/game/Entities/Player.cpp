#include "Player.h"

#include "WorldSession.h"

Player::Player(WorldSession* session, uint64 guid, std::string name, uint8 level)
    : WorldObject(guid, std::move(name)), m_session(session), m_level(level)
{
}

Player::~Player() = default;

std::string Player::GetDescription() const
{
    return GetName() + " (GUID " + std::to_string(GetGUID()) + ", level " + std::to_string(m_level)
        + ", account " + (m_session ? m_session->GetAccountName() : std::string("none")) + ")";
}
