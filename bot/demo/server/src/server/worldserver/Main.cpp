#include "Config.h"
#include "GitRevision.h"
#include "Log.h"
#include "RAServer.h"
#include "ServiceWin32.h"
#include "SoapServer.h"
#include "Socket.h"
#include "StartupCheck.h"
#include "Util.h"
#include "WheatyExceptionReport.h"
#include "World.h"
#include "WorldSocketMgr.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#ifdef _WIN32
#include <windows.h>
#include <process.h>
#else
#include <csignal>
#include <unistd.h>
#endif

namespace
{
    char const* const DefaultConfigFile = "worldserver.conf";
    char const* const CrashAfterEnvVar = "WORLDSERVER_CRASH_ON_START_AFTER";

    struct Options
    {
        std::string configFile = DefaultConfigFile;
        bool configGiven = false;
        bool showVersion = false;
        bool showHelp = false;
        double crashAfterSeconds = -1.0;
        bool service = false;  // --service run: started by the Windows Service Control Manager
        // Command-line overrides of configuration keys.
        std::vector<std::pair<std::string, std::string>> overrides;
    };

    void PrintUsage(char const* program)
    {
        std::printf(
            "Usage: %s [options]\n"
            "  -c, --config <file>             configuration file (default: %s)\n"
            "  --world-port <port>             overrides WorldServerPort\n"
            "  --soap-port <port>              overrides SOAP.Port\n"
            "  --ra-port <port>                overrides Ra.Port\n"
            "  --bind-ip <ip>                  overrides BindIP, SOAP.IP and Ra.IP\n"
            "  --crash-on-start-after <secs>   scripted demo event that hits the whisper bug (also %s)\n"
            "  --service run                   run as the Windows service the Service Control Manager started\n"
            "  -v, --version                   print the revision and exit\n"
            "  -h, --help                      print this help and exit\n",
            program, DefaultConfigFile, CrashAfterEnvVar);
    }

    // Returns false (with `error`) on an unknown option or a missing or invalid value.
    bool ParseOptions(int argc, char** argv, Options& options, std::string& error)
    {
        for (int i = 1; i < argc; ++i)
        {
            std::string const arg = argv[i];
            auto value = [&](std::string& out) -> bool
            {
                if (i + 1 >= argc)
                {
                    error = "option " + arg + " needs a value";
                    return false;
                }
                out = argv[++i];
                return true;
            };
            auto port = [&](char const* key) -> bool
            {
                std::string text;
                int64 number = 0;
                if (!value(text))
                    return false;
                if (!Trinity::ParseInt(text, number) || number < 0 || number > 65535)
                {
                    error = "option " + arg + " needs a port number (0-65535), got '" + text + "'";
                    return false;
                }
                options.overrides.emplace_back(key, text);
                return true;
            };

            if (arg == "-c" || arg == "--config")
            {
                if (!value(options.configFile))
                    return false;
                options.configGiven = true;
            }
            else if (arg == "--world-port")
            {
                if (!port("WorldServerPort"))
                    return false;
            }
            else if (arg == "--soap-port")
            {
                if (!port("SOAP.Port"))
                    return false;
            }
            else if (arg == "--ra-port")
            {
                if (!port("Ra.Port"))
                    return false;
            }
            else if (arg == "--bind-ip")
            {
                std::string ip;
                if (!value(ip))
                    return false;
                options.overrides.emplace_back("BindIP", ip);
                options.overrides.emplace_back("SOAP.IP", ip);
                options.overrides.emplace_back("Ra.IP", ip);
            }
            else if (arg == "--crash-on-start-after")
            {
                std::string text;
                if (!value(text))
                    return false;
                if (!Trinity::ParseDouble(text, options.crashAfterSeconds) || options.crashAfterSeconds < 0)
                {
                    error = "option --crash-on-start-after needs a number of seconds, got '" + text + "'";
                    return false;
                }
            }
            else if (arg == "--service")
            {
                std::string mode;
                if (!value(mode))
                    return false;
                if (mode != "run")
                {
                    error = "option --service takes 'run' (register the service with sc.exe create), got '" + mode + "'";
                    return false;
                }
                options.service = true;
            }
            else if (arg == "-v" || arg == "--version")
                options.showVersion = true;
            else if (arg == "-h" || arg == "--help")
                options.showHelp = true;
            else
            {
                error = "unknown option '" + arg + "' (see --help)";
                return false;
            }
        }
        return true;
    }

    uint16 ConfigPort(char const* key, int64 def)
    {
        int64 const value = sConfigMgr->GetIntDefault(key, def);
        return value >= 0 && value <= 65535 ? static_cast<uint16>(value) : static_cast<uint16>(def);
    }

    unsigned long CurrentProcessId()
    {
#ifdef _WIN32
        return static_cast<unsigned long>(_getpid());
#else
        return static_cast<unsigned long>(getpid());
#endif
    }

#ifdef _WIN32
    BOOL WINAPI ConsoleCtrlHandler(DWORD type)
    {
        switch (type)
        {
            case CTRL_C_EVENT:
            case CTRL_BREAK_EVENT:
                World::StopNow(SHUTDOWN_EXIT_CODE);
                return TRUE;
            case CTRL_CLOSE_EVENT:
                World::StopNow(SHUTDOWN_EXIT_CODE);
                // Windows ends the process when this returns; give the world loop time to finish.
                Sleep(5000);
                return TRUE;
            default:
                return FALSE;
        }
    }

    void InstallStopHandlers()
    {
        SetConsoleCtrlHandler(ConsoleCtrlHandler, TRUE);
    }
#else
    extern "C" void SignalHandler(int /*signal*/)
    {
        World::StopNow(SHUTDOWN_EXIT_CODE);
    }

    void InstallStopHandlers()
    {
        struct sigaction action = {};
        action.sa_handler = SignalHandler;
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, nullptr);
        sigaction(SIGTERM, &action, nullptr);
    }
#endif

    void PrintBanner()
    {
        TC_LOG_INFO("server.worldserver", GitRevision::GetFullVersion(), " (worldserver-daemon)");
        TC_LOG_INFO("server.worldserver", "<Ctrl-C> to stop.\n");
        TC_LOG_INFO("server.worldserver", " ______                       __");
        TC_LOG_INFO("server.worldserver", "/\\__  _\\       __          __/\\ \\__");
        TC_LOG_INFO("server.worldserver", "\\/_/\\ \\/ _ __ /\\_\\    ___ /\\_\\ \\, _\\  __  __");
        TC_LOG_INFO("server.worldserver", "   \\ \\ \\/\\`'__\\/\\ \\ /' _ `\\/\\ \\ \\ \\/ /\\ \\/\\ \\");
        TC_LOG_INFO("server.worldserver", "    \\ \\ \\ \\ \\/ \\ \\ \\/\\ \\/\\ \\ \\ \\ \\ \\_\\ \\ \\_\\ \\");
        TC_LOG_INFO("server.worldserver", "     \\ \\_\\ \\_\\  \\ \\_\\ \\_\\ \\_\\ \\_\\ \\__\\\\/`____ \\");
        TC_LOG_INFO("server.worldserver", "      \\/_/\\/_/   \\/_/\\/_/\\/_/\\/_/\\/__/ `/___/> \\");
        TC_LOG_INFO("server.worldserver", "                                 C O R E  /\\___/");
        TC_LOG_INFO("server.worldserver", "                                          \\/__/  (crashbot demo)\n");
    }
}

namespace
{
    Options TheOptions;

    int WorldMain();
    void StopWorld()
    {
        World::StopNow(SHUTDOWN_EXIT_CODE);
    }
}

int main(int argc, char** argv)
{
    Options& options = TheOptions;
    std::string error;
    if (!ParseOptions(argc, argv, options, error))
    {
        std::fprintf(stderr, "worldserver: %s\n", error.c_str());
        return ERROR_EXIT_CODE;
    }
    if (options.showHelp)
    {
        PrintUsage(argv[0]);
        return SHUTDOWN_EXIT_CODE;
    }
    if (options.showVersion)
    {
        std::printf("%s\n", GitRevision::GetFullVersion());
        return SHUTDOWN_EXIT_CODE;
    }
    if (!options.service)
        return WorldMain();
    int const code = Trinity::Service::Run(WorldMain, StopWorld, error);
    if (code < 0)
    {
        std::fprintf(stderr, "worldserver: %s\n", error.c_str());
        return ERROR_EXIT_CODE;
    }
    return code;
}

namespace
{
int WorldMain()
{
    Options const& options = TheOptions;
    std::string error;
    InstallStopHandlers();
    Trinity::InstallCrashReporter();

    // A missing default config is fine (built-in defaults); a missing explicit one is an error.
    bool configLoaded = false;
    if (options.configGiven || std::ifstream(options.configFile).good())
    {
        if (!sConfigMgr->LoadInitial(options.configFile, error))
        {
            std::fprintf(stderr, "%s\n", error.c_str());
            return ERROR_EXIT_CODE;
        }
        configLoaded = true;
    }
    for (auto const& entry : options.overrides)
        sConfigMgr->Set(entry.first, entry.second);

    sLog->SetDebug(sConfigMgr->GetBoolDefault("Log.Debug", false));
    std::string const logFile = sConfigMgr->GetStringDefault("LogFile", "Server.log");
    if (!logFile.empty() && !sLog->OpenFile(logFile, error))
        std::fprintf(stderr, "worldserver: %s; logging to the console only\n", error.c_str());

    PrintBanner();
    if (configLoaded)
        TC_LOG_INFO("server.worldserver", "Using configuration file ", sConfigMgr->GetFilename(), ".");
    else
        TC_LOG_INFO("server.worldserver", "No configuration file ", options.configFile, " found; using built-in defaults.");
    TC_LOG_INFO("server.worldserver", "Daemon PID: ", CurrentProcessId());

    if (!RunStartupChecks(error))
    {
        TC_LOG_FATAL("server.worldserver", error);
        TC_LOG_FATAL("server.worldserver", "Unable to start the worldserver. Halting.");
        return ERROR_EXIT_CODE;
    }

    if (!Trinity::Net::Initialize(error))
    {
        TC_LOG_FATAL("server.worldserver", error);
        return ERROR_EXIT_CODE;
    }

    sWorld->SetInitialWorldSettings();

    std::string const bindIp = sConfigMgr->GetStringDefault("BindIP", "127.0.0.1");
    uint16 const worldPort = ConfigPort("WorldServerPort", 8085);
    if (!sWorldSocketMgr->StartWorldNetwork(bindIp, worldPort, error))
    {
        TC_LOG_FATAL("server.worldserver", "Failed to initialize network on ", bindIp, ":", worldPort, ": ", error);
        return ERROR_EXIT_CODE;
    }

    CommandExecutor const executor = [](std::string const& command) { return sWorld->ExecuteCliCommand(command); };

    std::unique_ptr<RAServer> ra;
    if (sConfigMgr->GetBoolDefault("Ra.Enable", true))
    {
        AccountCredentials account{sConfigMgr->GetStringDefault("Ra.Username", ""), sConfigMgr->GetStringDefault("Ra.Password", "")};
        if (!account.IsConfigured())
            TC_LOG_WARN("server.worldserver", "Ra.Username is empty: every RA login will be refused.");
        ra = std::make_unique<RAServer>(account, sWorld->GetMotd(), executor);
        std::string const ip = sConfigMgr->GetStringDefault("Ra.IP", "127.0.0.1");
        uint16 const port = ConfigPort("Ra.Port", 3443);
        if (!ra->Start(ip, port, error))
        {
            TC_LOG_FATAL("server.worldserver", "Trinity RA can not bind to ", ip, ":", port, ": ", error);
            sWorldSocketMgr->StopNetwork();
            return ERROR_EXIT_CODE;
        }
    }

    std::unique_ptr<SoapServer> soap;
    if (sConfigMgr->GetBoolDefault("SOAP.Enabled", true))
    {
        AccountCredentials account{sConfigMgr->GetStringDefault("SOAP.Username", ""), sConfigMgr->GetStringDefault("SOAP.Password", "")};
        if (!account.IsConfigured())
            TC_LOG_WARN("server.worldserver", "SOAP.Username is empty: every SOAP request will be refused.");
        soap = std::make_unique<SoapServer>(account, executor);
        std::string const ip = sConfigMgr->GetStringDefault("SOAP.IP", "127.0.0.1");
        uint16 const port = ConfigPort("SOAP.Port", 7878);
        if (!soap->Start(ip, port, error))
        {
            TC_LOG_FATAL("network.soap", "Couldn't bind to ", ip, ":", port, ": ", error);
            if (ra)
                ra->Stop();
            sWorldSocketMgr->StopNetwork();
            return ERROR_EXIT_CODE;
        }
    }

    double crashAfter = options.crashAfterSeconds;
    if (crashAfter < 0)
    {
        char const* env = std::getenv(CrashAfterEnvVar);
        if (env && *env && (!Trinity::ParseDouble(env, crashAfter) || crashAfter < 0))
        {
            TC_LOG_ERROR("server.worldserver", CrashAfterEnvVar, "='", env, "' is not a number of seconds; ignored.");
            crashAfter = -1;
        }
    }
    if (crashAfter >= 0)
    {
        TC_LOG_INFO("server.worldserver", "Scripted event scheduled: the console whispers to an offline player in ", crashAfter, " s.");
        sWorld->ScheduleWhisperToOfflinePlayer(static_cast<uint32>(crashAfter * 1000.0));
    }

    TC_LOG_INFO("server.worldserver", GitRevision::GetFullVersion(), " (worldserver-daemon) ready...");
    Trinity::Service::SetRunning();

    auto previous = std::chrono::steady_clock::now();
    while (!World::IsStopped())
    {
        sWorld->WaitForCliCommands(std::chrono::milliseconds(50));
        auto const now = std::chrono::steady_clock::now();
        auto const diff = std::chrono::duration_cast<std::chrono::milliseconds>(now - previous).count();
        previous = now;
        sWorld->Update(static_cast<uint32>(diff));
    }

    TC_LOG_INFO("server.worldserver", "Halting process...");
    sWorld->CleanupsBeforeStop();
    if (soap)
        soap->Stop();
    if (ra)
        ra->Stop();
    sWorldSocketMgr->StopNetwork();
    Trinity::Net::Cleanup();

    uint8 const exitCode = World::GetExitCode();
    TC_LOG_INFO("server.worldserver", "Worldserver stopped with exit code ", int(exitCode), ".");
    sLog->CloseFile();
    return exitCode;
}
}
