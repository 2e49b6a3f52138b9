#include "GitRevision.h"

#include "revision_data.h"

#include <string>

#ifndef WORLDSERVER_BUILD_TYPE
#define WORLDSERVER_BUILD_TYPE "RelWithDebInfo"
#endif

char const* GitRevision::GetHash()
{
    return REVISION_HASH;
}

char const* GitRevision::GetDate()
{
    return REVISION_DATE;
}

char const* GitRevision::GetBranch()
{
    return REVISION_BRANCH;
}

char const* GitRevision::GetPlatformStr()
{
#if defined(_WIN32)
#  if defined(_M_ARM64)
    return "Windows, ARM64";
#  elif defined(_M_X64) || defined(__x86_64__)
    return "Windows, AMD64";
#  else
    return "Windows, x86";
#  endif
#else
    return "Unix";
#endif
}

char const* GitRevision::GetBuildDirective()
{
    // Multi-config generators leave $<CONFIG> empty only when nothing was chosen.
    static std::string const directive = std::string(WORLDSERVER_BUILD_TYPE).empty()
        ? std::string("RelWithDebInfo") : std::string(WORLDSERVER_BUILD_TYPE);
    return directive.c_str();
}

char const* GitRevision::GetFullVersion()
{
    static std::string const version = std::string("TrinityCore rev. ") + GetHash() + " " + GetDate()
        + " (" + GetBranch() + " branch) (" + GetPlatformStr() + ", " + GetBuildDirective() + ", Static)";
    return version.c_str();
}
