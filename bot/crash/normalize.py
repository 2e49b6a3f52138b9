"""C++ function-name normalisation: one spelling per function, whatever compiler or debugger printed it.

The same function reaches crashbot as ``WorldObject::GetMap`` (Wheaty), ``WorldObject::GetMap(void) const``
(VS), ``worldserver!WorldObject::GetMap+0x2f`` (cdb), ``WorldObject::GetMap (this=0x…) const`` (gdb) or
``?GetMap@WorldObject@@QEBAPEAVMap@@XZ`` (exports only), or ``_ZNK11WorldObject6GetMapEv`` (glibc's
backtrace, gdb without demangling). A signature must not care, so names are reduced
to the qualified name: templates become ``<T>``, parameters, return types, calling conventions and cv/ref
qualifiers go, compiler-generated pieces get one spelling (lambdas ``{lambda}``, anonymous namespaces
dropped, libstdc++/libc++ inline namespaces dropped, ``[clone .cold]`` dropped).

Why not siggen's ``normalize_cpp_function``: measured on the real samples (see ``bench/parse.py``), it keeps
MSVC lambda spellings (`` `X::f'::`109'::<lambda_1> `` becomes ``X::f'::`109'::<T>``, with the scope
number that shifts with unrelated edits), keeps gdb's ``{lambda()#2}`` numbering, keeps ``worldserver!``
prefixes and ``+0x…`` displacements from cdb, does not know ``(anonymous namespace)`` vs ``{anonymous}``
and leaves ``std::__cxx11::`` in. Those differences split one crash into several signatures across
debuggers and rebuilds. Measured with ``bench/parse.py`` (six groups of real spellings of one function from
Wheaty, VS, cdb and gdb): siggen reduces 1 of 6 groups to one name, this normaliser 6 of 6, at about the same
cost (10-15 k names/s each on a loaded 2-vCPU box). siggen's whole pipeline on the samples also signs every
AC handler-walked thread ``NtGetContextThread``, every assert ``Trinity::Assert`` and every unsymbolised stack
``worldserver.exe`` (bundled lists). So crashbot keeps its own normaliser and lists.
"""

from __future__ import annotations

import re

from bot.crash.itanium import demangle
from bot.crash.msvc import undecorate

# Longest name kept: MSVC template names pass 4,000 characters; the head identifies the function.
MAX_NAME = 300

_MODULE_PREFIX = re.compile(r"^[\w.\-]+!(?!=)")
_DISPLACEMENT = re.compile(r"(?<!operator)\+(?:0x)?[0-9A-Fa-f]+$")
_INLINE_TAG = re.compile(r"^\[inline\]\s*")
_CLONE = re.compile(r"\s*\[clone [^\]]*\]|\.(?:cold|part|isra|constprop|lto_priv)(?:\.\d+)*\b")
_MSVC_SCOPE_NUMBER = re.compile(r"::`\d+'|::__l\d+\b")
_MSVC_QUOTED = re.compile(r"`([^`']*)'")
_MSVC_DELETING_DTOR = re.compile(r"`(?:scalar|vector) deleting destructor'")
_MSVC_DYNAMIC = re.compile(r"`dynamic (?:initializer|atexit destructor) for '([^']*)''")
_MSVC_LAMBDA = re.compile(r"<lambda_[0-9a-fA-F]+>|<lambda_invoker_cdecl>")
_CLANG_LAMBDA = re.compile(r"\$_\d+|'lambda\d*'\([^)]*\)")
_GCC_LAMBDA_START = re.compile(r"\{lambda\(")
_ANON_NAMESPACE = re.compile(r"(?:\(anonymous namespace\)|`anonymous namespace'|\{anonymous\})::")
_STD_INLINE_NS = re.compile(r"\bstd::(?:__cxx11|__1|__debug|__8|_V2)::")
_CALLING_CONV = re.compile(r"\b__(?:cdecl|stdcall|fastcall|thiscall|vectorcall|clrcall|ptr64)\b")
# The qualifiers stripped off a name's end: these words (after a space), and ``&`` or ``&&``.
_QUALIFIER_WORDS = ("const", "volatile", "noexcept", "override", "final")
_QUALIFIER_ENDS = (*_QUALIFIER_WORDS, "&")
_ENDS_WITH_OPERATOR = re.compile(r"\boperator\s*[^\w\s]+$")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[*&,])")
_OPERATOR_TOKEN = re.compile(r"operator\s*(?:<=>|<<=?|>>=?|<=|>=|->\*?|\(\)|\[\]|[<>])")

_GCC_LAMBDA = "{lambda}"


def _replace_gcc_lambdas(name: str) -> str:
    """``{lambda(int, std::string const&)#2}`` -> ``{lambda}`` (the parameter list may nest parentheses)."""
    out: list[str] = []
    pos = 0
    for m in _GCC_LAMBDA_START.finditer(name):
        if m.start() < pos:
            continue
        depth = 0
        i = m.end() - 1
        end = len(name)
        while i < len(name):
            ch = name[i]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "}" and depth == 0:
                end = i + 1
                break
            i += 1
        out.append(name[pos : m.start()])
        out.append(_GCC_LAMBDA)
        pos = end
    out.append(name[pos:])
    return "".join(out)


def _collapse(name: str, open_ch: str, close_ch: str, replacement: str) -> str:
    """Replace each top-level ``open…close`` group by ``replacement``, leaving ``operator<``-style tokens.

    An unclosed group (a truncated name) is cut at its opening character.
    """
    out: list[str] = []
    depth = 0
    i = 0
    n = len(name)
    while i < n:
        if name.startswith("operator", i):
            m = _OPERATOR_TOKEN.match(name, i)
            if m:
                if depth == 0:
                    out.append(m.group(0))
                i = m.end()
                continue
        ch = name[i]
        if ch == open_ch:
            if depth == 0:
                out.append(replacement)
            depth += 1
        elif ch == close_ch and depth > 0:
            depth -= 1
        elif depth == 0:
            out.append(ch)
        i += 1
    return "".join(out)


def _drop_return_type(name: str) -> str:
    """Keep the qualified name: the last top-level token, or everything from ``operator`` on."""
    op = name.find("operator")
    if op >= 0:
        start = name.rfind(" ", 0, op) + 1
        return name[start:]
    space = name.rfind(" ")
    return name[space + 1 :] if space >= 0 else name


def normalize_function(function: str) -> str:
    """The stable spelling of a C++ (or C) function name as printed by Wheaty, cdb, VS or gdb."""
    name = function.strip()
    if not name:
        return ""
    # Each substitution runs only when a substring its pattern cannot match without is present: most
    # names are plain ``Class::Method`` and skip nearly all of them.
    if name.startswith("[inline]"):
        name = _INLINE_TAG.sub("", name)
    if "!" in name:
        name = _MODULE_PREFIX.sub("", name)
    if "+" in name:
        name = _DISPLACEMENT.sub("", name)
    if name.startswith("?"):
        name = undecorate(name) or name
    elif name.startswith("_Z"):
        name = demangle(name) or name
    if "." in name or "[clone " in name:
        name = _CLONE.sub("", name)
    name = _unify_scopes(name)
    if "<" in name:
        name = _collapse(name, "<", ">", "<T>")
    if "(" in name:
        name = _collapse(name, "(", ")", "")
    if name.rstrip().endswith(_QUALIFIER_ENDS) and not (
        "operator" in name and _ENDS_WITH_OPERATOR.search(name)
    ):
        name = _without_qualifiers(name)
    # str.split and the regex ``\s`` agree on what whitespace is (both use Py_UNICODE_ISSPACE).
    name = " ".join(name.split())
    name = _drop_return_type(name)
    if " " in name:
        name = _SPACE_BEFORE_PUNCT.sub("", name)
    return name[:MAX_NAME]


def _without_qualifiers(name: str) -> str:
    """``name`` without the qualifiers it ends with (``Foo::Bar const &&`` -> ``Foo::Bar``), the spaces
    around them included; unchanged when it ends with none.

    Read from the end, one qualifier at a time: the pattern it replaces, ``(?:\\s+const\\b|\\s*&&?)+\\s*$``,
    tried every way of splitting a run of ``&`` into ``&&`` and ``&`` at every position of the name
    (doubling with every two ``&``: a frame name with 60 of them never finished)."""
    end = len(name.rstrip())
    stripped = False
    while True:
        if name.endswith("&", 0, end):
            end -= 1
        else:
            word = next((w for w in _QUALIFIER_WORDS if name.endswith(w, 0, end)), None)
            before = end - len(word) - 1 if word else -1
            if word is None or before < 0 or not name[before].isspace():
                break
            end = before
        stripped = True
        while end and name[end - 1].isspace():
            end -= 1
    return name[:end] if stripped else name


def _unify_scopes(name: str) -> str:
    """One spelling for what compilers spell differently: MSVC's quoted scopes, anonymous namespaces,
    lambdas, libstdc++/MSVC inline namespaces and calling conventions."""
    if "`" in name:
        name = _MSVC_DYNAMIC.sub(r"\1", name)
        name = _MSVC_DELETING_DTOR.sub("{deleting-dtor}", name)
    if "anonymous" in name:
        name = _ANON_NAMESPACE.sub("", name)
    if "::`" in name or "::__l" in name:
        name = _MSVC_SCOPE_NUMBER.sub("", name)
    if "`" in name:
        name = _MSVC_QUOTED.sub(r"\1", name)
    if "<lambda_" in name:
        name = _MSVC_LAMBDA.sub(_GCC_LAMBDA, name)
    if "$_" in name or "'lambda" in name:
        name = _CLANG_LAMBDA.sub(_GCC_LAMBDA, name)
    if "{lambda(" in name:
        name = _replace_gcc_lambdas(name)
    if "std::_" in name:
        name = _STD_INLINE_NS.sub("std::", name)
    if "__" in name:
        name = _CALLING_CONV.sub("", name)
    return name


def normalize_module(module: str) -> str:
    """``D:\\wow\\Worldserver.EXE`` -> ``worldserver.exe``; modules compare case-insensitively on Windows."""
    base = re.split(r"[\\/]", module.strip())[-1]
    return base.lower()


def normalize_offset(offset: str) -> str:
    """``0001:000000000015B4A8`` -> ``1:15b4a8``; ``0x1A06D`` -> ``0x1a06d`` (leading zeros carry nothing)."""
    text = offset.strip().lower()
    if ":" in text:
        section, _, rest = text.partition(":")
        return f"{section.lstrip('0') or '0'}:{rest.lstrip('0') or '0'}"
    digits = text[2:] if text.startswith("0x") else text
    return "0x" + (digits.lstrip("0") or "0")


def file_basename(path: str) -> str:
    """The file name of a Windows or POSIX path (reports carry another machine's paths)."""
    return re.split(r"[\\/]", path.strip())[-1]
