#include "Chat.h"

#include "GitRevision.h"
#include "ObjectAccessor.h"
#include "Util.h"
#include "World.h"
#include "WorldSocketMgr.h"

namespace
{
    // "<delay> [exitcode] [reason...]": the exit code is taken only when the second word is a number.
    bool ParseShutdownArgs(std::string const& args, uint32& delay, int& exitCode, std::string& reason)
    {
        std::vector<std::string> const tokens = Trinity::Tokenize(args);
        if (tokens.empty())
            return false;
        int64 const seconds = Trinity::TimeStringToSecs(tokens[0]);
        if (seconds < 0)
            return false;
        delay = static_cast<uint32>(seconds);

        std::size_t reasonStart = 1;
        int64 code = 0;
        if (tokens.size() > 1 && Trinity::ParseInt(tokens[1], code))
        {
            if (code < 0 || code > 125)
                return false;
            exitCode = static_cast<int>(code);
            reasonStart = 2;
        }
        reason.clear();
        for (std::size_t i = reasonStart; i < tokens.size(); ++i)
            reason += (reason.empty() ? "" : " ") + tokens[i];
        return true;
    }
}

bool ChatHandler::HandleServerInfoCommand(std::string const& /*args*/)
{
    SendSysMessage(std::string(GitRevision::GetFullVersion()) + " (worldserver-daemon)");
    SendSysMessage("Connected players: " + std::to_string(sWorldSocketMgr->GetConnectionCount())
        + ". Characters in world: " + std::to_string(ObjectAccessor::GetPlayerCount()) + ".");
    SendSysMessage("Server uptime: " + Trinity::SecsToTimeString(sWorld->GetUptime()));
    if (sWorld->IsShuttingDown())
        SendSysMessage("Server shutdown in " + Trinity::SecsToTimeString(sWorld->GetShutDownTimeLeft()) + ".");
    return true;
}

bool ChatHandler::HandleServerShutdownCommand(std::string const& args)
{
    uint32 delay = 0;
    int exitCode = SHUTDOWN_EXIT_CODE;
    std::string reason;
    if (!ParseShutdownArgs(args, delay, exitCode, reason))
        return false;
    sWorld->ShutdownServ(delay, false, static_cast<uint8>(exitCode), reason);
    SendSysMessage("Server shutdown in " + Trinity::SecsToTimeString(delay) + ".");
    return true;
}

bool ChatHandler::HandleServerRestartCommand(std::string const& args)
{
    uint32 delay = 0;
    int exitCode = RESTART_EXIT_CODE;
    std::string reason;
    if (!ParseShutdownArgs(args, delay, exitCode, reason))
        return false;
    sWorld->ShutdownServ(delay, true, static_cast<uint8>(exitCode), reason);
    SendSysMessage("Server restart in " + Trinity::SecsToTimeString(delay) + ".");
    return true;
}

bool ChatHandler::HandleServerShutdownCancelCommand(std::string const& /*args*/)
{
    if (sWorld->ShutdownCancel())
        SendSysMessage("Server shutdown cancelled.");
    else
        SendSysMessage("No server shutdown is pending.");
    return true;
}

bool ChatHandler::HandleServerExitCommand(std::string const& /*args*/)
{
    SendSysMessage("Server is going down now.");
    World::StopNow(SHUTDOWN_EXIT_CODE);
    return true;
}
