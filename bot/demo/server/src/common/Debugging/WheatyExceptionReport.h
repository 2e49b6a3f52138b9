#ifndef TRINITY_WHEATYEXCEPTIONREPORT_H
#define TRINITY_WHEATYEXCEPTIONREPORT_H

// Windows only: an unhandled exception writes Crashes\<hash>_<exe>_[Y_M_D_h_m_s].txt beside the
// executable, in the layout of TrinityCore's WheatyExceptionReport as a release build without its .pdb
// prints it (each frame as `section:offset module`), and the .dmp of the same name (dbghelp's
// MiniDumpWriteDump, as TrinityCore writes it). Elsewhere crashes are captured by a debugger
// (contrib/debugger/crashreport.gdb).
namespace Trinity
{
    void InstallCrashReporter();
}

#endif
