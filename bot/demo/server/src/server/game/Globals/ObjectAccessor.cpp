#include "ObjectAccessor.h"

#include "Player.h"
#include "Util.h"

#include <map>
#include <mutex>

namespace
{
    std::mutex& PlayersLock()
    {
        static std::mutex lock;
        return lock;
    }

    std::map<std::string, Player*>& PlayersByName()
    {
        static std::map<std::string, Player*> players;
        return players;
    }
}

void ObjectAccessor::AddPlayer(Player* player)
{
    std::lock_guard<std::mutex> guard(PlayersLock());
    PlayersByName()[Trinity::ToUpperAscii(player->GetName())] = player;
}

void ObjectAccessor::RemovePlayer(Player* player)
{
    std::lock_guard<std::mutex> guard(PlayersLock());
    auto const itr = PlayersByName().find(Trinity::ToUpperAscii(player->GetName()));
    if (itr != PlayersByName().end() && itr->second == player)
        PlayersByName().erase(itr);
}

Player* ObjectAccessor::FindPlayerByName(std::string const& name)
{
    std::lock_guard<std::mutex> guard(PlayersLock());
    auto const itr = PlayersByName().find(Trinity::ToUpperAscii(name));
    return itr == PlayersByName().end() ? nullptr : itr->second;
}

std::vector<Player*> ObjectAccessor::GetPlayers()
{
    std::lock_guard<std::mutex> guard(PlayersLock());
    std::vector<Player*> players;
    for (auto const& entry : PlayersByName())
        players.push_back(entry.second);
    return players;
}

std::size_t ObjectAccessor::GetPlayerCount()
{
    std::lock_guard<std::mutex> guard(PlayersLock());
    return PlayersByName().size();
}
