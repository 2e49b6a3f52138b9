#ifndef TRINITY_GITREVISION_H
#define TRINITY_GITREVISION_H

namespace GitRevision
{
    char const* GetHash();
    char const* GetDate();
    char const* GetBranch();
    char const* GetPlatformStr();
    char const* GetBuildDirective();
    // "TrinityCore rev. <hash> <date> (<branch> branch) (Unix, RelWithDebInfo, Static)"
    char const* GetFullVersion();
}

#endif
