#include "WorldSession.h"

#include "Log.h"
#include "Player.h"

WorldSession::WorldSession(uint32 accountId, std::string accountName)
    : m_accountId(accountId), m_accountName(std::move(accountName))
{
}

void WorldSession::SendChatMessage(ChatMsg type, std::string const& sender, std::string const& text)
{
    ++m_receivedMessages;
    std::string const receiver = m_player ? m_player->GetName() : m_accountName;
    switch (type)
    {
        case CHAT_MSG_WHISPER:
            TC_LOG_INFO("chat.log.whisper", "[Whisper] ", sender, " -> ", receiver, ": ", text);
            break;
        case CHAT_MSG_SAY:
            TC_LOG_INFO("chat.log.say", "[Say] ", sender, ": ", text);
            break;
        case CHAT_MSG_SYSTEM:
            TC_LOG_DEBUG("chat.system", "[System] -> ", receiver, ": ", text);
            break;
    }
}
