#ifndef TRINITY_WORLDSESSION_H
#define TRINITY_WORLDSESSION_H

#include "Define.h"

#include <atomic>
#include <string>

class Player;

enum ChatMsg : uint8
{
    CHAT_MSG_SYSTEM  = 0x00,
    CHAT_MSG_SAY     = 0x01,
    CHAT_MSG_WHISPER = 0x07,
};

// A logged-in account. This demo has no game protocol, so "sending" a packet means logging it.
class WorldSession
{
public:
    WorldSession(uint32 accountId, std::string accountName);

    uint32 GetAccountId() const { return m_accountId; }
    std::string const& GetAccountName() const { return m_accountName; }
    Player* GetPlayer() const { return m_player; }
    void SetPlayer(Player* player) { m_player = player; }

    void SendChatMessage(ChatMsg type, std::string const& sender, std::string const& text);
    uint32 GetReceivedMessageCount() const { return m_receivedMessages.load(); }

private:
    uint32 m_accountId;
    std::string m_accountName;
    Player* m_player = nullptr;
    std::atomic<uint32> m_receivedMessages{0};
};

#endif
