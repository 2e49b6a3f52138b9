#ifndef TRINITY_CLICOMMAND_H
#define TRINITY_CLICOMMAND_H

#include "Util.h"

#include <functional>
#include <string>

// The outcome of one console command run for a remote console (SOAP or RA).
struct CommandResult
{
    bool success = false;
    std::string output;
};

// Runs a console command on the world thread and waits for its output.
typedef std::function<CommandResult(std::string const& command)> CommandExecutor;

// The one account a remote console accepts. TC upper-cases account names and passwords before
// checking them, so both compare case-insensitively here too.
struct AccountCredentials
{
    std::string username;
    std::string password;

    bool IsConfigured() const { return !username.empty(); }

    bool Matches(std::string const& user, std::string const& pass) const
    {
        return IsConfigured() && Trinity::EqualsIgnoringCase(user, username)
            && Trinity::EqualsIgnoringCase(pass, password);
    }
};

#endif
