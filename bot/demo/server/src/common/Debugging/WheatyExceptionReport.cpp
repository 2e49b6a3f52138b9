#include "WheatyExceptionReport.h"

#ifdef _WIN32

#include "GitRevision.h"

#include <windows.h>
#include <dbghelp.h>

#include <cstdio>
#include <cstring>

namespace
{
    int const MaxFrames = 64;

    char const* ExceptionName(DWORD code)
    {
        switch (code)
        {
            case EXCEPTION_ACCESS_VIOLATION: return "ACCESS_VIOLATION";
            case EXCEPTION_ARRAY_BOUNDS_EXCEEDED: return "ARRAY_BOUNDS_EXCEEDED";
            case EXCEPTION_BREAKPOINT: return "BREAKPOINT";
            case EXCEPTION_DATATYPE_MISALIGNMENT: return "DATATYPE_MISALIGNMENT";
            case EXCEPTION_FLT_DIVIDE_BY_ZERO: return "FLT_DIVIDE_BY_ZERO";
            case EXCEPTION_ILLEGAL_INSTRUCTION: return "ILLEGAL_INSTRUCTION";
            case EXCEPTION_IN_PAGE_ERROR: return "IN_PAGE_ERROR";
            case EXCEPTION_INT_DIVIDE_BY_ZERO: return "INT_DIVIDE_BY_ZERO";
            case EXCEPTION_PRIV_INSTRUCTION: return "PRIV_INSTRUCTION";
            case EXCEPTION_STACK_OVERFLOW: return "STACK_OVERFLOW";
            default: return "Unknown";
        }
    }

    // Where `address` lies as a release build without its .pdb can say it: the module's file name and
    // the 1-based section holding the address with the offset in it (Wheaty's "logical address").
    struct Site
    {
        char module[MAX_PATH] = "";
        DWORD section = 0;
        DWORD64 offset = 0;
    };

    bool Locate(DWORD64 address, Site& site)
    {
        HMODULE module = nullptr;
        DWORD const flags = GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT;
        if (!GetModuleHandleExA(flags, reinterpret_cast<LPCSTR>(address), &module)
            || !GetModuleFileNameA(module, site.module, MAX_PATH))
            return false;
        auto const base = reinterpret_cast<BYTE const*>(module);
        auto const dos = reinterpret_cast<IMAGE_DOS_HEADER const*>(base);
        auto const nt = reinterpret_cast<IMAGE_NT_HEADERS const*>(base + dos->e_lfanew);
        DWORD64 const rva = address - reinterpret_cast<DWORD64>(base);
        IMAGE_SECTION_HEADER const* header = IMAGE_FIRST_SECTION(nt);
        for (WORD i = 0; i < nt->FileHeader.NumberOfSections; ++i, ++header)
        {
            DWORD const size = header->Misc.VirtualSize > header->SizeOfRawData ? header->Misc.VirtualSize : header->SizeOfRawData;
            if (rva >= header->VirtualAddress && rva < header->VirtualAddress + size)
            {
                site.section = i + 1;
                site.offset = rva - header->VirtualAddress;
                return true;
            }
        }
        return false;
    }

    void WriteRegisters(FILE* out, CONTEXT const& c)
    {
        std::fprintf(out, "Registers:\nRAX:%016llX\nRBX:%016llX\nRCX:%016llX\nRDX:%016llX\nRSI:%016llX\nRDI:%016llX\n",
            c.Rax, c.Rbx, c.Rcx, c.Rdx, c.Rsi, c.Rdi);
        std::fprintf(out, "R8: %016llX\nR9: %016llX\nR10:%016llX\nR11:%016llX\nR12:%016llX\nR13:%016llX\nR14:%016llX\nR15:%016llX\n",
            c.R8, c.R9, c.R10, c.R11, c.R12, c.R13, c.R14, c.R15);
        std::fprintf(out, "CS:RIP:%04X:%016llX\nSS:RSP:%04X:%016llX  RBP:%016llX\n", c.SegCs, c.Rip, c.SegSs, c.Rsp, c.Rbp);
        std::fprintf(out, "DS:%04X  ES:%04X  FS:%04X  GS:%04X\nFlags:%08lX\n\n", c.SegDs, c.SegEs, c.SegFs, c.SegGs, c.EFlags);
    }

    // The crashing thread's stack from the exception's context, unwound with the images' own unwind
    // data (.pdata/.xdata); a function without any is a leaf whose return address is on top.
    void WriteStack(FILE* out, CONTEXT context)
    {
        std::fprintf(out, "Call stack:\nAddress   Frame     Function      SourceFile\n");
        for (int depth = 0; depth < MaxFrames && context.Rip; ++depth)
        {
            Site site;
            if (Locate(context.Rip, site))
                std::fprintf(out, "%016llX  %016llX  %04lX:%016llX %s\n", context.Rip, context.Rsp, site.section, site.offset, site.module);
            else
                std::fprintf(out, "%016llX  %016llX\n", context.Rip, context.Rsp);
            DWORD64 imageBase = 0;
            PRUNTIME_FUNCTION function = RtlLookupFunctionEntry(context.Rip, &imageBase, nullptr);
            if (function)
            {
                PVOID handlerData = nullptr;
                DWORD64 establisherFrame = 0;
                RtlVirtualUnwind(UNW_FLAG_NHANDLER, imageBase, context.Rip, function, &context, &handlerData, &establisherFrame, nullptr);
            }
            else
            {
                context.Rip = *reinterpret_cast<DWORD64 const*>(context.Rsp);
                context.Rsp += sizeof(DWORD64);
            }
        }
    }

    void WriteReport(char const* path, EXCEPTION_POINTERS* pointers, SYSTEMTIME const& now)
    {
        FILE* out = std::fopen(path, "w");  // text mode: every line ends in CRLF, as Wheaty's do
        if (!out)
            return;
        EXCEPTION_RECORD const& record = *pointers->ExceptionRecord;
        DWORD64 const fault = reinterpret_cast<DWORD64>(record.ExceptionAddress);
        std::fprintf(out, "Revision: %s\n", GitRevision::GetFullVersion());
        std::fprintf(out, "Date %u:%u:%u. Time %u:%u \n", now.wDay, now.wMonth, now.wYear, now.wHour, now.wMinute);
        std::fprintf(out, "//=====================================================\n");
        std::fprintf(out, "Exception code: %08lX %s\n", record.ExceptionCode, ExceptionName(record.ExceptionCode));
        Site site;
        if (Locate(fault, site))
            std::fprintf(out, "Fault address:  %016llX %02lX:%016llX %s\n\n", fault, site.section, site.offset, site.module);
        else
            std::fprintf(out, "Fault address:  %016llX\n\n", fault);
        WriteRegisters(out, *pointers->ContextRecord);
        WriteStack(out, *pointers->ContextRecord);
        std::fclose(out);
    }

    // dbghelp's minidump of this process, written from the crashing thread as TrinityCore does.
    void WriteDump(char const* path, EXCEPTION_POINTERS* pointers)
    {
        using Writer = BOOL(WINAPI*)(HANDLE, DWORD, HANDLE, MINIDUMP_TYPE, PMINIDUMP_EXCEPTION_INFORMATION,
            PMINIDUMP_USER_STREAM_INFORMATION, PMINIDUMP_CALLBACK_INFORMATION);
        HMODULE const dbghelp = LoadLibraryA("dbghelp.dll");
        auto const write = dbghelp ? reinterpret_cast<Writer>(reinterpret_cast<void*>(GetProcAddress(dbghelp, "MiniDumpWriteDump"))) : nullptr;
        if (!write)
            return;
        HANDLE const file = CreateFileA(path, GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
        if (file == INVALID_HANDLE_VALUE)
            return;
        MINIDUMP_EXCEPTION_INFORMATION info;
        info.ThreadId = GetCurrentThreadId();
        info.ExceptionPointers = pointers;
        info.ClientPointers = FALSE;
        write(GetCurrentProcess(), GetCurrentProcessId(), file, MiniDumpWithIndirectlyReferencedMemory, &info, nullptr, nullptr);
        CloseHandle(file);
    }

    LONG WINAPI WriteCrashReport(EXCEPTION_POINTERS* pointers)
    {
        // Crashes\ beside the executable; the file names of TrinityCore's handler.
        char folder[MAX_PATH];
        DWORD const length = GetModuleFileNameA(nullptr, folder, MAX_PATH);
        if (length == 0 || length >= MAX_PATH)
            return EXCEPTION_CONTINUE_SEARCH;
        char* const slash = std::strrchr(folder, '\\');
        char const* const exe = slash ? slash + 1 : folder;
        char exeName[MAX_PATH];
        std::snprintf(exeName, sizeof(exeName), "%s", exe);
        if (slash)
            *slash = '\0';
        char crashes[MAX_PATH];
        std::snprintf(crashes, sizeof(crashes), "%s\\Crashes", folder);
        CreateDirectoryA(crashes, nullptr);

        SYSTEMTIME now;
        GetLocalTime(&now);
        char stem[MAX_PATH * 2];
        std::snprintf(stem, sizeof(stem), "%s\\%s_%s_[%u_%u_%u_%u_%u_%u]", crashes, GitRevision::GetHash(), exeName,
            now.wYear, now.wMonth, now.wDay, now.wHour, now.wMinute, now.wSecond);
        char path[MAX_PATH * 2 + 8];
        // The dump first: a watcher that sees the report complete finds its dump complete beside it.
        std::snprintf(path, sizeof(path), "%s.dmp", stem);
        WriteDump(path, pointers);
        std::snprintf(path, sizeof(path), "%s.txt", stem);
        WriteReport(path, pointers, now);
        // End the process with the exception's code, as TrinityCore's handler does: no Windows Error
        // Reporting dialog, and no AeDebug debugger after it (the dump is already written).
        return EXCEPTION_EXECUTE_HANDLER;
    }
}

void Trinity::InstallCrashReporter()
{
    SetUnhandledExceptionFilter(WriteCrashReport);
}

#else

void Trinity::InstallCrashReporter()
{
}

#endif
