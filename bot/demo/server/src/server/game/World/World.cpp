#include "World.h"

#include "Chat.h"
#include "Config.h"
#include "Log.h"
#include "ObjectAccessor.h"
#include "Player.h"
#include "Util.h"
#include "WorldSession.h"

std::atomic<bool> World::m_stopEvent{false};
std::atomic<int> World::m_exitCode{SHUTDOWN_EXIT_CODE};

World* World::instance()
{
    static World instance;
    return &instance;
}

void World::StopNow(uint8 exitCode)
{
    // The exit code first: whoever sees the stop flag must read the matching code.
    m_exitCode.store(exitCode);
    m_stopEvent.store(true);
}

void World::SetInitialWorldSettings()
{
    m_startTime = std::chrono::steady_clock::now();
    m_motd = sConfigMgr->GetStringDefault("Motd", "Welcome to a TrinityCore server.");

    TC_LOG_INFO("server.loading", "Loading Trinity strings...");
    TC_LOG_INFO("server.loading", "Loading characters...");
    std::vector<std::string> const names = Trinity::Tokenize(
        [] (std::string list) { for (char& c : list) if (c == ',') c = ' '; return list; }
        (sConfigMgr->GetStringDefault("World.Players", "Anaprox,Thrall,Jaina")));

    uint32 accountId = 0;
    for (std::string const& name : names)
    {
        ++accountId;
        auto session = std::make_unique<WorldSession>(accountId, Trinity::ToUpperAscii(name));
        auto player = std::make_unique<Player>(session.get(), 0x100 + accountId, name, 80);
        session->SetPlayer(player.get());
        ObjectAccessor::AddPlayer(player.get());
        TC_LOG_INFO("server.loading", "Player ", player->GetDescription(), " entered the world");
        m_sessions.push_back(std::move(session));
        m_players.push_back(std::move(player));
    }
    TC_LOG_INFO("server.loading", "World initialized in 0 minutes 0 seconds");
}

void World::Update(uint32 diffMs)
{
    ProcessCliCommands();

    if (m_scriptedWhisperTimerMs >= 0)
    {
        // A zero delay must fire on the very first update, even one with a zero time diff.
        m_scriptedWhisperTimerMs -= diffMs;
        if (m_scriptedWhisperTimerMs <= 0)
        {
            m_scriptedWhisperTimerMs = -1;
            RunScriptedWhisper();
        }
    }

    int64 const before = m_shutdownTimerMs.load();
    if (before > 0)
    {
        int64 const after = before - diffMs;
        m_shutdownTimerMs = after > 0 ? after : 0;
        if (after <= 0)
        {
            TC_LOG_INFO("server.worldserver", m_shutdownIsRestart ? "Server restart" : "Server shutdown",
                " timer expired, stopping with exit code ", int(m_shutdownExitCode));
            StopNow(m_shutdownExitCode);
        }
        else if ((before + 999) / 1000 != (after + 999) / 1000)
            ShutdownMsg(false);
    }
}

void World::CleanupsBeforeStop()
{
    std::deque<std::shared_ptr<CliCommandHolder>> pending;
    {
        std::lock_guard<std::mutex> guard(m_cliLock);
        pending.swap(m_cliQueue);
    }
    for (auto const& holder : pending)
        holder->result.set_value(CommandResult{false, "Server is shutting down."});

    for (auto const& player : m_players)
        ObjectAccessor::RemovePlayer(player.get());
    TC_LOG_INFO("server.worldserver", "Logged out ", m_players.size(), " player(s).");
    m_players.clear();
    m_sessions.clear();
}

void World::ShutdownServ(uint32 seconds, bool restart, uint8 exitCode, std::string const& reason)
{
    m_shutdownIsRestart = restart;
    m_shutdownExitCode = exitCode;
    m_shutdownReason = reason;
    if (seconds == 0)
    {
        ShutdownMsg(true);
        StopNow(exitCode);
        return;
    }
    m_shutdownTimerMs = static_cast<int64>(seconds) * 1000;
    ShutdownMsg(true);
}

bool World::ShutdownCancel()
{
    if (m_shutdownTimerMs <= 0)
        return false;
    m_shutdownTimerMs = 0;
    std::string const text = std::string(m_shutdownIsRestart ? "Server restart" : "Server shutdown") + " cancelled.";
    TC_LOG_INFO("server.worldserver", text);
    SendServerMessage(text);
    return true;
}

uint32 World::GetShutDownTimeLeft() const
{
    return static_cast<uint32>((m_shutdownTimerMs.load() + 999) / 1000);
}

void World::ShutdownMsg(bool showTime)
{
    uint32 const left = GetShutDownTimeLeft();
    // Announce when ordered, then at each of the last 5 seconds, every 15 s below a minute, each minute.
    if (!showTime && !(left <= 5 || (left < 60 && left % 15 == 0) || left % 60 == 0))
        return;
    std::string text = std::string(m_shutdownIsRestart ? "Server restart" : "Server shutdown")
        + (left ? " in " + Trinity::SecsToTimeString(left) : std::string(" now")) + ".";
    if (!m_shutdownReason.empty())
        text += " Reason: " + m_shutdownReason;
    std::size_t const receivers = SendServerMessage(text);
    TC_LOG_INFO("server.worldserver", "[SERVER] ", text, " (announced to ", receivers, " player(s))");
}

std::size_t World::SendServerMessage(std::string const& text)
{
    std::size_t receivers = 0;
    for (auto const& session : m_sessions)
    {
        session->SendChatMessage(CHAT_MSG_SYSTEM, std::string(), text);
        ++receivers;
    }
    return receivers;
}

uint32 World::GetUptime() const
{
    return static_cast<uint32>(std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - m_startTime).count());
}

CommandResult World::ExecuteCliCommand(std::string const& command)
{
    auto holder = std::make_shared<CliCommandHolder>();
    holder->command = command;
    std::future<CommandResult> future = holder->result.get_future();
    {
        // Checked under the lock CleanupsBeforeStop drains with, so no command is left unanswered.
        std::lock_guard<std::mutex> guard(m_cliLock);
        if (IsStopped())
            return CommandResult{false, "Server is shutting down."};
        m_cliQueue.push_back(holder);
    }
    m_cliCondition.notify_one();
    return future.get();
}

void World::WaitForCliCommands(std::chrono::milliseconds timeout)
{
    std::unique_lock<std::mutex> lock(m_cliLock);
    m_cliCondition.wait_for(lock, timeout, [this] { return !m_cliQueue.empty(); });
}

void World::ProcessCliCommands()
{
    std::deque<std::shared_ptr<CliCommandHolder>> commands;
    {
        std::lock_guard<std::mutex> guard(m_cliLock);
        commands.swap(m_cliQueue);
    }
    for (auto const& holder : commands)
    {
        TC_LOG_INFO("commands.gm", "CLI command: ", holder->command);
        std::string output;
        CliHandler handler([&output](std::string const& line)
        {
            if (!output.empty())
                output += '\n';
            output += line;
        });
        bool const success = handler.ParseCommands(holder->command);
        holder->result.set_value(CommandResult{success, output});
    }
}

void World::ScheduleWhisperToOfflinePlayer(uint32 delayMs)
{
    m_scriptedWhisperTimerMs = delayMs;
}

void World::RunScriptedWhisper()
{
    std::string const command = "whisper Nobody Are you still there?";
    TC_LOG_INFO("server.worldserver", "Scripted event: the console runs '", command, "'");
    CliHandler handler([](std::string const& line) { TC_LOG_INFO("commands.gm", line); });
    handler.ParseCommands(command);
}
