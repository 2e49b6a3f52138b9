#ifndef TRINITY_WORLD_H
#define TRINITY_WORLD_H

#include "CliCommand.h"
#include "Define.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

class Player;
class WorldSession;

// What main() returns; a restarter relaunches the server on RESTART_EXIT_CODE.
enum ShutdownExitCode : uint8
{
    SHUTDOWN_EXIT_CODE = 0,
    ERROR_EXIT_CODE    = 1,
    RESTART_EXIT_CODE  = 2,
};

class World
{
public:
    static World* instance();

    void SetInitialWorldSettings();
    void Update(uint32 diffMs);
    // Fails queued console commands and logs the players out; call once the update loop has ended.
    void CleanupsBeforeStop();

    // Async-signal-safe: only touches lock-free atomics.
    static void StopNow(uint8 exitCode);
    static bool IsStopped() { return m_stopEvent.load(); }
    static uint8 GetExitCode() { return static_cast<uint8>(m_exitCode.load()); }

    void ShutdownServ(uint32 seconds, bool restart, uint8 exitCode, std::string const& reason);
    bool ShutdownCancel();
    bool IsShuttingDown() const { return m_shutdownTimerMs > 0; }
    uint32 GetShutDownTimeLeft() const;

    // Any thread: queue a console command for the world thread and wait for its output.
    CommandResult ExecuteCliCommand(std::string const& command);
    // Blocks until a console command is queued or `timeout` passes.
    void WaitForCliCommands(std::chrono::milliseconds timeout);

    // Scripted demo event: after `delayMs` the console whispers to a player who is not online.
    void ScheduleWhisperToOfflinePlayer(uint32 delayMs);

    // Sends a system message to every online player; returns how many received it.
    std::size_t SendServerMessage(std::string const& text);

    uint32 GetUptime() const;
    std::string const& GetMotd() const { return m_motd; }

private:
    struct CliCommandHolder
    {
        std::string command;
        std::promise<CommandResult> result;
    };

    World() = default;

    void ProcessCliCommands();
    void ShutdownMsg(bool showTime);
    void RunScriptedWhisper();

    static std::atomic<bool> m_stopEvent;
    static std::atomic<int> m_exitCode;

    std::chrono::steady_clock::time_point m_startTime = std::chrono::steady_clock::now();
    std::string m_motd;

    std::vector<std::unique_ptr<WorldSession>> m_sessions;
    std::vector<std::unique_ptr<Player>> m_players;

    std::atomic<int64> m_shutdownTimerMs{0};
    bool m_shutdownIsRestart = false;
    uint8 m_shutdownExitCode = SHUTDOWN_EXIT_CODE;
    std::string m_shutdownReason;

    int64 m_scriptedWhisperTimerMs = -1;

    std::mutex m_cliLock;
    std::condition_variable m_cliCondition;
    std::deque<std::shared_ptr<CliCommandHolder>> m_cliQueue;
};

#define sWorld World::instance()

#endif
