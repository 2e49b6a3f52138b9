"""Itanium C++ ABI demangling (GCC, Clang): the qualified name of a mangled symbol, parameters dropped.

glibc's ``backtrace_symbols`` (TC's old Linux assert backtrace) and gdb without demangling print
``_ZN6Player11RemoveSpellEjbb`` where a demangled log says ``Player::RemoveSpell(unsigned int, bool,
bool)``. Signatures drop parameter types anyway, so only the name is rendered: ``Player::RemoveSpell``.
Template arguments are read (they must be, to find where the name ends) but rendered as ``<T>``, which is
what :func:`bot.crash.normalize.normalize_function` reduces any template argument list to. Lambdas and
unnamed types are spelled as GCC's demangler spells them (``{lambda()#1}``, ``{unnamed type#1}``), ABI
tags as ``[abi:cxx11]``, the anonymous namespace as ``(anonymous namespace)``, and thunks as
``non-virtual thunk to …``, so the result normalises exactly as the demangled spelling does.

Covered: nested and local names, constructors and destructors, operators and conversions, template
arguments (types, literals, packs, simple expressions), the substitution table (``S_``, ``S0_``…) and the
standard abbreviations (``St``, ``Sa``, ``Sb``, ``Ss``, ``Si``, ``So``, ``Sd``), cv/ref-qualified
methods, clone suffixes (``.cold``, ``.isra.0``). Anything else gives None and the name stays as printed.
Grammar: https://itanium-cxx-abi.github.io/cxx-abi/abi.html#mangling
"""

from __future__ import annotations

__all__ = ["demangle"]

# Longer symbols exist (deep template nests) but never name a frame worth reading; the bound keeps the
# recursive reader cheap on hostile input.
MAX_MANGLED = 4096
_MAX_DEPTH = 64

_TEMPLATE = "<T>"

_BUILTIN = {
    "v": "void",
    "w": "wchar_t",
    "b": "bool",
    "c": "char",
    "a": "signed char",
    "h": "unsigned char",
    "s": "short",
    "t": "unsigned short",
    "i": "int",
    "j": "unsigned int",
    "l": "long",
    "m": "unsigned long",
    "x": "long long",
    "y": "unsigned long long",
    "n": "__int128",
    "o": "unsigned __int128",
    "f": "float",
    "d": "double",
    "e": "long double",
    "g": "__float128",
    "z": "...",
}
_BUILTIN_D = {
    "d": "decimal64",
    "e": "decimal128",
    "f": "decimal32",
    "h": "half",
    "i": "char32_t",
    "s": "char16_t",
    "u": "char8_t",
    "a": "auto",
    "c": "decltype(auto)",
    "n": "decltype(nullptr)",
}
_STD_ABBREVIATIONS = {
    "t": "std",
    "a": "std::allocator",
    "b": "std::basic_string",
    "s": "std::string",
    "i": "std::istream",
    "o": "std::ostream",
    "d": "std::iostream",
}
# As a nested name's prefix (``NSo9_M_insert…``) GCC's demangler spells these out in full.
_STD_PREFIX_ABBREVIATIONS = {
    "s": "std::basic_string" + _TEMPLATE,
    "i": "std::basic_istream" + _TEMPLATE,
    "o": "std::basic_ostream" + _TEMPLATE,
    "d": "std::basic_iostream" + _TEMPLATE,
}
_OPERATORS = {
    "nw": "new",
    "na": "new[]",
    "dl": "delete",
    "da": "delete[]",
    "ps": "+",
    "ng": "-",
    "ad": "&",
    "de": "*",
    "co": "~",
    "pl": "+",
    "mi": "-",
    "ml": "*",
    "dv": "/",
    "rm": "%",
    "an": "&",
    "or": "|",
    "eo": "^",
    "aS": "=",
    "pL": "+=",
    "mI": "-=",
    "mL": "*=",
    "dV": "/=",
    "rM": "%=",
    "aN": "&=",
    "oR": "|=",
    "eO": "^=",
    "ls": "<<",
    "rs": ">>",
    "lS": "<<=",
    "rS": ">>=",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "ss": "<=>",
    "nt": "!",
    "aa": "&&",
    "oo": "||",
    "pp": "++",
    "mm": "--",
    "cm": ",",
    "pm": "->*",
    "pt": "->",
    "cl": "()",
    "ix": "[]",
    "qu": "?",
    "aw": "co_await",
}


def _templated(name: str) -> str:
    """``name`` with its template arguments; GCC puts a space after ``operator<`` and ``operator<<``."""
    return f"{name} {_TEMPLATE}" if name.endswith("<") else name + _TEMPLATE


class _Malformed(Exception):
    """The text does not follow the part of the grammar this reader knows."""


class _Reader:
    """A cursor over one mangled symbol and its substitution table."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.subs: list[str] = []
        self.depth = 0

    # -- cursor ------------------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.text[j] if j < len(self.text) else ""

    def take(self) -> str:
        c = self.peek()
        if not c:
            raise _Malformed("unexpected end")
        self.i += 1
        return c

    def consume(self, prefix: str) -> bool:
        if self.text.startswith(prefix, self.i):
            self.i += len(prefix)
            return True
        return False

    def expect(self, prefix: str) -> None:
        if not self.consume(prefix):
            raise _Malformed(f"expected {prefix!r} at {self.i}")

    def number(self) -> int:
        start = self.i
        self.consume("n")  # negative
        digits = self.i
        while self.peek().isdigit() and self.peek().isascii():
            self.i += 1
        if self.i == digits:
            raise _Malformed("expected a number")
        return int(self.text[start:digits].replace("n", "-") + self.text[digits : self.i])

    def seq_id(self) -> int:
        """Base-36 ``<seq-id>`` before ``_``: ``_`` is 0, ``0_`` is 1, ``A_`` is 11."""
        if self.consume("_"):
            return 0
        value = 0
        while (c := self.take()) != "_":
            if c.isdigit():
                value = value * 36 + int(c)
            elif "A" <= c <= "Z":
                value = value * 36 + ord(c) - ord("A") + 10
            else:
                raise _Malformed("bad seq-id")
        return value + 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Malformed("nested too deeply")

    def leave(self) -> None:
        self.depth -= 1

    # -- encodings and names -----------------------------------------------------------------------------
    def encoding(self) -> str:
        """``<encoding>``: the name; the parameter types that follow are not read."""
        if self.peek() == "T" and self.peek(1) in "hvc":
            return self.thunk()
        if self.peek() in ("T", "G"):
            raise _Malformed("special name")
        name, _ = self.name()
        return name

    def thunk(self) -> str:
        self.expect("T")
        kind = self.take()
        if kind == "h":
            self.call_offset_body("h")
            return "non-virtual thunk to " + self.encoding()
        if kind == "v":
            self.call_offset_body("v")
            return "virtual thunk to " + self.encoding()
        self.call_offset()
        self.call_offset()
        return "covariant return thunk to " + self.encoding()

    def call_offset(self) -> None:
        self.call_offset_body(self.take())

    def call_offset_body(self, kind: str) -> None:
        if kind == "h":
            self.number()
            self.expect("_")
        elif kind == "v":
            self.number()
            self.expect("_")
            self.number()
            self.expect("_")
        else:
            raise _Malformed("bad call offset")

    def name(self) -> tuple[str, bool]:
        """``<name>``; returns the rendered name and whether it ends in template arguments."""
        self.enter()
        try:
            c = self.peek()
            if c == "N":
                return self.nested_name()
            if c == "Z":
                return self.local_name(), False
            if c == "S" and self.peek(1) != "t":
                # A substitution here can only be a template name followed by its arguments.
                name = self.substitution()
                if self.peek() != "I":
                    raise _Malformed("substitution used as a name")
                self.template_args()
                return _templated(name), True
            prefix = ""
            if self.consume("St"):
                prefix = "std::"
            unqualified = prefix + self.unqualified_name()
            if self.peek() == "I":
                self.subs.append(unqualified)  # <unscoped-template-name>
                self.template_args()
                return _templated(unqualified), True
            return unqualified, False
        finally:
            self.leave()

    def nested_name(self) -> tuple[str, bool]:
        self.expect("N")
        while self.peek() in ("r", "V", "K"):
            self.i += 1
        if self.peek() in ("R", "O"):
            self.i += 1
        parts = ""
        last = ""
        templated = False
        while True:
            c = self.peek()
            if c == "E":
                self.i += 1
                if not parts:
                    raise _Malformed("empty nested name")
                return parts, templated
            if c == "I":
                if not parts:
                    raise _Malformed("template arguments without a name")
                self.template_args()
                parts = _templated(parts)
                templated = True
            elif c == "S" and self.peek(1) != "t":
                if parts:
                    raise _Malformed("substitution inside a nested name")
                parts = self.substitution(prefix=True)
                last = parts.rsplit("::", 1)[-1].split("<", 1)[0]
                templated = False
                continue  # already in the table: not a new candidate
            elif c == "T" or (c == "D" and self.peek(1) in ("t", "T")):
                parts = self._nested_prefix(c, parts)
                templated = False
            else:
                parts, last = self._nested_component(c, parts, last)
                templated = False
            if self.peek() != "E":
                self.subs.append(parts)

    def _nested_prefix(self, c: str, parts: str) -> str:
        """A nested name's first part when it is a template parameter (``T_``) or a ``decltype``."""
        if c == "T":
            if parts:
                raise _Malformed("template parameter inside a nested name")
            return self.template_param()
        if parts:
            raise _Malformed("decltype inside a nested name")
        self.i += 2
        self.skip_expression()
        self.expect("E")
        return "decltype(...)"

    def _nested_component(self, c: str, parts: str, last: str) -> tuple[str, str]:
        """``parts`` with the next ``::component`` of a nested name, and that component (a constructor or
        destructor is named after ``last``, the component before it)."""
        if not parts and self.consume("St"):
            parts = "std"
            component = self.unqualified_name()
        elif c in ("C", "D") and self.peek(1) != "C":
            component = self.ctor_dtor(last)
        else:
            component = self.unqualified_name()
        return (f"{parts}::{component}" if parts else component), component

    def local_name(self) -> str:
        """``Z <function encoding> E <entity>``: the entity is spelled inside its function, as gdb does."""
        self.expect("Z")
        function = self.encoding_with_parameters()
        self.expect("E")
        if self.consume("s"):
            self.discriminator()
            return f"{function}::string literal"
        if self.consume("d"):
            if self.peek() != "_":
                self.number()
            self.expect("_")
        entity, _ = self.name()
        self.discriminator()
        return f"{function}::{entity}"

    def encoding_with_parameters(self) -> str:
        """An enclosing function's encoding: its name, then its parameter types (read to find the end)."""
        name, templated = self.name()
        if templated:
            self.type()  # the return type of a function template specialisation
        while self.peek() not in ("E", ""):
            self.type()
        return name + "()"

    def discriminator(self) -> None:
        if self.peek() == "_":
            if self.peek(1) == "_":
                self.i += 2
                self.number()
                self.expect("_")
            elif self.peek(1).isdigit():
                self.i += 2

    def unqualified_name(self) -> str:
        self.consume("L")  # internal linkage
        c = self.peek()
        if c.isdigit():
            name = self.source_name()
        elif c == "U":
            name = self.unnamed_type()
        elif c == "D" and self.peek(1) == "C":
            self.i += 2
            names = []
            while self.peek() != "E":
                names.append(self.source_name())
            self.i += 1
            name = "[" + ", ".join(names) + "]"
        elif c and c.islower():
            name = self.operator_name()
        else:
            raise _Malformed(f"unknown name start {c!r}")
        while self.peek() == "B":
            self.i += 1
            name += f"[abi:{self.source_name()}]"
        return name

    def source_name(self) -> str:
        length = self.number()
        if length <= 0 or self.i + length > len(self.text):
            raise _Malformed("bad source-name length")
        identifier = self.text[self.i : self.i + length]
        self.i += length
        if identifier.startswith("_GLOBAL__N"):
            return "(anonymous namespace)"
        return identifier

    def unnamed_type(self) -> str:
        if self.consume("Ut"):
            n = 1 if self.peek() == "_" else self.number() + 2
            self.expect("_")
            return f"{{unnamed type#{n}}}"
        if self.consume("Ul"):
            while self.peek() != "E":
                self.type()
            self.i += 1
            n = 1 if self.peek() == "_" else self.number() + 2
            self.expect("_")
            return f"{{lambda()#{n}}}"
        raise _Malformed("unknown unnamed type")

    def operator_name(self) -> str:
        code = self.text[self.i : self.i + 2]
        if code == "cv":
            self.i += 2
            return "operator " + self.type()
        if code == "li":
            self.i += 2
            return 'operator"" ' + self.source_name()
        if code.startswith("v") and code[1:].isdigit():
            self.i += 2
            return "operator " + self.source_name()
        if code not in _OPERATORS:
            raise _Malformed(f"unknown operator {code!r}")
        self.i += 2
        symbol = _OPERATORS[code]
        return f"operator{' ' if symbol[0].isalpha() else ''}{symbol}"

    def ctor_dtor(self, cls: str) -> str:
        if not cls:
            raise _Malformed("constructor without class")
        base = cls.split("<", 1)[0].split("[abi:", 1)[0]
        if self.consume("CI1") or self.consume("CI2"):
            self.type()
            return base
        c = self.take()
        kind = self.take()
        if kind not in "012345":
            raise _Malformed("bad constructor/destructor")
        return base if c == "C" else "~" + base

    def substitution(self, *, prefix: bool = False) -> str:
        self.expect("S")
        c = self.peek()
        if c in _STD_ABBREVIATIONS and c != "t":
            self.i += 1
            if prefix and c in _STD_PREFIX_ABBREVIATIONS:
                return _STD_PREFIX_ABBREVIATIONS[c]
            return _STD_ABBREVIATIONS[c]
        index = self.seq_id()
        if index >= len(self.subs):
            raise _Malformed("substitution out of range")
        return self.subs[index]

    def template_param(self) -> str:
        self.expect("T")
        self.seq_id()
        return "T"

    # -- template arguments --------------------------------------------------------------------------
    def template_args(self) -> None:
        self.expect("I")
        self.enter()
        try:
            while not self.consume("E"):
                self.template_arg()
        finally:
            self.leave()

    def template_arg(self) -> None:
        c = self.peek()
        if c == "L":
            self.literal()
        elif c == "X":
            self.i += 1
            self.skip_expression()
            self.expect("E")
        elif c == "J":
            self.i += 1
            while not self.consume("E"):
                self.template_arg()
        else:
            self.type()

    def literal(self) -> None:
        self.expect("L")
        if self.consume("_Z"):
            self.encoding_with_parameters()
            self.expect("E")
            return
        self.type()
        while (c := self.take()) != "E":
            if not (c.isalnum() or c in "_."):
                raise _Malformed("bad literal")

    def skip_expression(self) -> None:
        """Template-argument expressions: only the common primary forms are read."""
        self.enter()
        try:
            c = self.peek()
            if c == "L":
                self.literal()
            elif c == "T":
                self.template_param()
            elif self.consume("fp"):
                while self.peek() in ("r", "V", "K"):
                    self.i += 1
                if self.peek() != "_":
                    self.number()
                self.expect("_")
            elif self.consume("sr"):
                self.type()
                self.unqualified_name()
                if self.peek() == "I":
                    self.template_args()
            elif self.text[self.i : self.i + 2] in ("st", "sz", "at", "az", "te", "nx"):
                self.i += 2
                if self.text[self.i - 2 : self.i] in ("st", "at", "te"):
                    self.type()
                else:
                    self.skip_expression()
            elif self.text[self.i : self.i + 2] in _OPERATORS:
                code = self.text[self.i : self.i + 2]
                self.i += 2
                unary = code in ("ps", "ng", "ad", "de", "co", "nt", "pp", "mm")
                self.skip_expression()
                if not unary:
                    self.skip_expression()
            else:
                raise _Malformed("unsupported expression")
        finally:
            self.leave()

    # -- types ---------------------------------------------------------------------------------------
    def type(self) -> str:
        self.enter()
        try:
            return self._type()
        finally:
            self.leave()

    def _type(self) -> str:
        c = self.peek()
        if c in _BUILTIN:
            self.i += 1
            return _BUILTIN[c]
        if c == "D":
            special = self._d_type()
            if special is not None:
                return special
        if c == "u":
            self.i += 1
            return self.source_name()
        if c in ("r", "V", "K"):
            quals = []
            while self.peek() in ("r", "V", "K"):
                quals.append({"r": "restrict", "V": "volatile", "K": "const"}[self.take()])
            rendered = f"{self.type()} {' '.join(reversed(quals))}"
            self.subs.append(rendered)
            return rendered
        if c in ("P", "R", "O", "C", "G"):
            self.i += 1
            rendered = self.type() + {"P": "*", "R": "&", "O": "&&", "C": " _Complex", "G": " _Imaginary"}[c]
            self.subs.append(rendered)
            return rendered
        if c == "F":
            return self.function_type()
        if c == "A":
            return self.array_type()
        if c == "M":
            self.i += 1
            cls = self.type()
            member = self.type()
            rendered = f"{member} {cls}::*"
            self.subs.append(rendered)
            return rendered
        if c == "T":
            rendered = self.template_param()
            self.subs.append(rendered)
            if self.peek() == "I":
                self.template_args()
                rendered += _TEMPLATE
                self.subs.append(rendered)
            return rendered
        if c == "S" and self.peek(1) != "t":
            rendered = self.substitution()
            if self.peek() == "I":
                self.template_args()
                rendered += _TEMPLATE
                self.subs.append(rendered)
            return rendered
        # <class-enum-type>: a (possibly nested or local) name, itself a substitution candidate.
        rendered, _ = self.name()
        self.subs.append(rendered)
        return rendered

    def _d_type(self) -> str | None:
        """The ``D…`` types: builtins (``Dn``, ``Di``…), pack expansions, ``decltype`` and a function type's
        exception specification; None for any other ``D`` (a name)."""
        d = self.peek(1)
        if d in _BUILTIN_D:
            self.i += 2
            return _BUILTIN_D[self.text[self.i - 1]]
        if d == "p":
            self.i += 2
            rendered = self.type() + "..."
            self.subs.append(rendered)
            return rendered
        if d in ("t", "T"):
            self.i += 2
            self.skip_expression()
            self.expect("E")
            rendered = "decltype(...)"
            self.subs.append(rendered)
            return rendered
        if d in ("o", "O", "w", "x"):
            self.skip_exception_spec()
            return self.type()
        return None

    def skip_exception_spec(self) -> None:
        if self.consume("Do"):
            return
        if self.consume("DO"):
            self.skip_expression()
            self.expect("E")
            return
        if self.consume("Dw"):
            while not self.consume("E"):
                self.type()
            return
        self.expect("Dx")

    def function_type(self) -> str:
        self.expect("F")
        self.consume("Y")
        self.type()  # return type
        while self.peek() not in ("E", ""):
            if self.peek() in ("R", "O") and self.peek(1) == "E":
                self.i += 1
                continue
            self.type()
        self.expect("E")
        rendered = "function"
        self.subs.append(rendered)
        return rendered

    def array_type(self) -> str:
        self.expect("A")
        if self.peek().isdigit():
            self.number()
        elif self.peek() != "_":
            self.skip_expression()
        self.expect("_")
        rendered = self.type() + "[]"
        self.subs.append(rendered)
        return rendered


def demangle(symbol: str) -> str | None:
    """The qualified name of an Itanium-mangled symbol (``_ZN6Player6UpdateEj`` -> ``Player::Update``),
    without parameters and with template arguments as ``<T>``; None when ``symbol`` is not a mangled
    name this reader understands. A clone suffix (``.cold``) or anything after the name is ignored."""
    if not symbol.startswith("_Z") or len(symbol) > MAX_MANGLED:
        return None
    reader = _Reader(symbol)
    reader.i = 2
    try:
        return reader.encoding()
    except (_Malformed, IndexError, ValueError, RecursionError):
        return None
