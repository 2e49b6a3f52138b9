#include "StartupCheck.h"

#include "worldserver_options.h"

namespace
{
    // Flip to true (or configure with -DWORLDSERVER_BROKEN=ON) to produce a release that refuses
    // to start: this is how the deploy rollback path is exercised with a real build.
    bool const BrokenRelease = WORLDSERVER_BROKEN_BUILD != 0;
}

bool RunStartupChecks(std::string& error)
{
    if (BrokenRelease)
    {
        error = "World database version mismatch: this build requires world DB structure 2024_09_01_00, "
            "found 2024_08_01_00 (built with WORLDSERVER_BROKEN)";
        return false;
    }
    error.clear();
    return true;
}
