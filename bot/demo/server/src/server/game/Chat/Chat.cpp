#include "Chat.h"

#include "Log.h"
#include "Player.h"
#include "Util.h"
#include "WorldSession.h"

#include <cstddef>

namespace
{
    struct ChatCommand
    {
        char const* name;
        bool (ChatHandler::*handler)(std::string const& args);
        char const* help;
    };

    // Longer names first so "server shutdown cancel" wins over "server shutdown".
    ChatCommand const CommandTable[] =
    {
        { "server shutdown cancel", &ChatHandler::HandleServerShutdownCancelCommand, "Syntax: .server shutdown cancel - cancel a pending shutdown or restart." },
        { "server shutdown", &ChatHandler::HandleServerShutdownCommand, "Syntax: .server shutdown <delay> [exitcode] [reason] - shut the server down after <delay> (seconds or 1h30m)." },
        { "server restart", &ChatHandler::HandleServerRestartCommand, "Syntax: .server restart <delay> [exitcode] [reason] - stop with exit code 2 so a restarter starts it again." },
        { "server info", &ChatHandler::HandleServerInfoCommand, "Syntax: .server info - revision, players and uptime." },
        { "server exit", &ChatHandler::HandleServerExitCommand, "Syntax: .server exit - stop immediately with exit code 0." },
        { "whisper", &ChatHandler::HandleWhisperCommand, "Syntax: .whisper <player> <text> - whisper to an online player." },
        { "announce", &ChatHandler::HandleAnnounceCommand, "Syntax: .announce <text> - send a system message to all players." },
        { "help", &ChatHandler::HandleHelpCommand, "Syntax: .help - list the commands." },
    };

    // Matches the command's words against the start of `line`; on success `args` is the rest.
    bool MatchCommand(std::string const& name, std::string const& line, std::string& args)
    {
        std::vector<std::string> const words = Trinity::Tokenize(name);
        std::size_t position = 0;
        for (std::string const& word : words)
        {
            position = line.find_first_not_of(" \t", position);
            if (position == std::string::npos)
                return false;
            std::size_t end = line.find_first_of(" \t", position);
            if (end == std::string::npos)
                end = line.size();
            if (!Trinity::EqualsIgnoringCase(line.substr(position, end - position), word))
                return false;
            position = end;
        }
        args = Trinity::Trim(line.substr(position));
        return true;
    }
}

bool ChatHandler::ParseCommands(std::string const& text)
{
    std::string line = Trinity::Trim(text);
    if (!line.empty() && (line[0] == '.' || line[0] == '!'))
        line = Trinity::Trim(line.substr(1));
    if (line.empty())
    {
        SendSysMessage("Command can not be empty.");
        return false;
    }

    for (ChatCommand const& command : CommandTable)
    {
        std::string args;
        if (!MatchCommand(command.name, line, args))
            continue;
        SetSentErrorMessage(false);
        if ((this->*command.handler)(args))
            return true;
        if (!HasSentErrorMessage())
            SendSysMessage(command.help);
        return false;
    }

    SendSysMessage("There is no such command.");
    return false;
}

void ChatHandler::SendSysMessage(std::string const& text)
{
    if (m_session)
        m_session->SendChatMessage(CHAT_MSG_SYSTEM, std::string(), text);
}

std::string ChatHandler::GetNameLink() const
{
    if (m_session && m_session->GetPlayer())
        return m_session->GetPlayer()->GetName();
    return "Console";
}

bool ChatHandler::HandleHelpCommand(std::string const& /*args*/)
{
    for (ChatCommand const& command : CommandTable)
        SendSysMessage(command.help);
    return true;
}

void CliHandler::SendSysMessage(std::string const& text)
{
    m_print(text);
}
