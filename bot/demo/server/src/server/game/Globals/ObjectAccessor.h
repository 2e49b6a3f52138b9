#ifndef TRINITY_OBJECTACCESSOR_H
#define TRINITY_OBJECTACCESSOR_H

#include <cstddef>
#include <string>
#include <vector>

class Player;

namespace ObjectAccessor
{
    void AddPlayer(Player* player);
    void RemovePlayer(Player* player);

    // Case-insensitive lookup among online players; nullptr when nobody by that name is online.
    Player* FindPlayerByName(std::string const& name);

    std::vector<Player*> GetPlayers();
    std::size_t GetPlayerCount();
}

#endif
