#ifndef TRINITY_UTIL_H
#define TRINITY_UTIL_H

#include "Define.h"

#include <ctime>
#include <string>
#include <vector>

namespace Trinity
{
    // Splits on runs of spaces/tabs; empty tokens are never returned.
    std::vector<std::string> Tokenize(std::string const& text);

    std::string Trim(std::string const& text);

    // ASCII-only case mapping: account names and passwords are compared the way TC upper-cases them.
    std::string ToUpperAscii(std::string text);
    bool EqualsIgnoringCase(std::string const& a, std::string const& b);

    // Strict decimal parsing: the whole string must be a number.
    bool ParseInt(std::string const& text, int64& out);
    bool ParseDouble(std::string const& text, double& out);

    // "90", "1h30m", "2d" -> seconds; -1 if the text is not a time string.
    int64 TimeStringToSecs(std::string const& text);
    std::string SecsToTimeString(uint64 secs);

    // Thread-safe localtime for both CRTs.
    std::tm LocalTime(std::time_t t);
    std::string FormatTime(std::time_t t, char const* format);
}

#endif
