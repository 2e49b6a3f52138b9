#include "ServiceWin32.h"

#ifdef _WIN32

#include <windows.h>

#include <cstring>

namespace
{
    SERVICE_STATUS_HANDLE StatusHandle = nullptr;
    int (*Body)() = nullptr;
    void (*Stop)() = nullptr;
    int ExitCode = 0;

    void Report(DWORD state, int exitCode = 0, DWORD waitHintMs = 0)
    {
        if (!StatusHandle)
            return;
        SERVICE_STATUS status = {};
        status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
        status.dwCurrentState = state;
        status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
        status.dwWin32ExitCode = exitCode == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
        status.dwServiceSpecificExitCode = static_cast<DWORD>(exitCode);
        status.dwWaitHint = waitHintMs;
        SetServiceStatus(StatusHandle, &status);
    }

    DWORD WINAPI Control(DWORD control, DWORD /*eventType*/, LPVOID /*eventData*/, LPVOID /*context*/)
    {
        switch (control)
        {
            case SERVICE_CONTROL_STOP:
            case SERVICE_CONTROL_SHUTDOWN:
                Report(SERVICE_STOP_PENDING, 0, 30000);
                Stop();  // the world loop ends; Run() reports SERVICE_STOPPED once it has
                return NO_ERROR;
            case SERVICE_CONTROL_INTERROGATE:
                return NO_ERROR;
            default:
                return ERROR_CALL_NOT_IMPLEMENTED;
        }
    }

    void WINAPI ServiceMain(DWORD argc, LPSTR* argv)
    {
        StatusHandle = RegisterServiceCtrlHandlerExA(argc > 0 ? argv[0] : "", Control, nullptr);
        if (!StatusHandle)
            return;
        Report(SERVICE_START_PENDING, 0, 60000);
        // The SCM starts services in the system folder: relative paths (Server.log, Crashes\) are the
        // executable's folder's, as when it runs from a console there.
        char folder[MAX_PATH];
        DWORD const length = GetModuleFileNameA(nullptr, folder, MAX_PATH);
        if (length > 0 && length < MAX_PATH)
        {
            if (char* slash = std::strrchr(folder, '\\'))
                *slash = '\0';
            SetCurrentDirectoryA(folder);
        }
        ExitCode = Body();
        Report(SERVICE_STOPPED, ExitCode);
    }
}

int Trinity::Service::Run(int (*body)(), void (*stop)(), std::string& error)
{
    Body = body;
    Stop = stop;
    char name[] = "";
    SERVICE_TABLE_ENTRYA const table[] = {{name, ServiceMain}, {nullptr, nullptr}};
    if (!StartServiceCtrlDispatcherA(table))
    {
        DWORD const code = GetLastError();
        error = code == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT
            ? "--service run: not started by the Service Control Manager (start it with sc.exe start <name>)"
            : "--service run: StartServiceCtrlDispatcher failed with error " + std::to_string(code);
        return -1;
    }
    return ExitCode;
}

void Trinity::Service::SetRunning()
{
    Report(SERVICE_RUNNING);
}

#else

int Trinity::Service::Run(int (*)(), void (*)(), std::string& error)
{
    error = "--service is for Windows; on Linux run worldserver under systemd";
    return -1;
}

void Trinity::Service::SetRunning()
{
}

#endif
