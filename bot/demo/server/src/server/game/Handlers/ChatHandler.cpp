#include "Chat.h"

#include "Log.h"
#include "ObjectAccessor.h"
#include "Player.h"
#include "Util.h"
#include "World.h"
#include "WorldSession.h"

bool ChatHandler::HandleWhisperCommand(std::string const& args)
{
    std::string const trimmed = Trinity::Trim(args);
    std::size_t const space = trimmed.find_first_of(" \t");
    if (space == std::string::npos)
        return false;

    std::string const name = trimmed.substr(0, space);
    std::string const text = Trinity::Trim(trimmed.substr(space + 1));

    Player* target = ObjectAccessor::FindPlayerByName(name);
    SendWhisper(target, text);
    SendSysMessage("You whisper to " + name + ": " + text);
    return true;
}

void ChatHandler::SendWhisper(Player* target, std::string const& text)
{
    target->GetSession()->SendChatMessage(CHAT_MSG_WHISPER, GetNameLink(), text);
}

bool ChatHandler::HandleAnnounceCommand(std::string const& args)
{
    std::string const text = Trinity::Trim(args);
    if (text.empty())
        return false;
    std::size_t const receivers = sWorld->SendServerMessage(GetNameLink() + " announces: " + text);
    SendSysMessage("Announced to " + std::to_string(receivers) + " player(s).");
    return true;
}
