#ifndef TRINITY_STARTUPCHECK_H
#define TRINITY_STARTUPCHECK_H

#include <string>

// Checks that must pass before the server opens any port; on failure `error` says why.
bool RunStartupChecks(std::string& error);

#endif
