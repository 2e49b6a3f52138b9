#ifndef TRINITY_SERVICEWIN32_H
#define TRINITY_SERVICEWIN32_H

#include <string>

// `worldserver --service run`: the server as a Windows service, started by the Service Control Manager
// (register it with `sc.exe create <name> binPath= "<dir>\worldserver.exe --service run -c <conf>"`).
// Windows only; elsewhere Run() refuses with an error.
namespace Trinity::Service
{
    // Runs `body` as the service the SCM started; a stop or shutdown request from the SCM calls `stop`.
    // Returns body's exit code, or -1 with `error` when the SCM did not start this process.
    int Run(int (*body)(), void (*stop)(), std::string& error);

    // The server is ready: tell the SCM it runs (SERVICE_RUNNING). Does nothing outside a service.
    void SetRunning();
}

#endif
