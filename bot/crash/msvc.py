"""MSVC symbol names: undecorate ``?Name@Scope@@…`` and cut argument lists off readable signatures.

Wheaty prints a decorated name when dbghelp only had the export table (``?AddSpellMod@Player@@QEAAX…@Z``);
VS and cdb print readable signatures with arguments. Both end up as the bare qualified name that rules and
signatures compare (``Player::AddSpellMod``). The undecorator follows the MSVC mangling grammar (names,
nested scopes, templates with their own back-reference tables, operators, ctor/dtor, locally scoped names of
lambdas and statics) far enough to know where every part ends; it renders names the way dbghelp's
undecorator does (``std::vector<Player *,std::allocator<Player *> >``) and never raises: malformed input
yields None.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["readable_name", "strip_arguments", "undecorate"]

# Decorated names longer than this are not undecorated (bounded work on hostile input).
_MAX_DECORATED = 4096
# Nesting bound for templates/local scopes/function types (each level is a recursive call).
_MAX_DEPTH = 40

_OPERATORS: dict[str, str] = {
    "2": "operator new",
    "3": "operator delete",
    "4": "operator=",
    "5": "operator>>",
    "6": "operator<<",
    "7": "operator!",
    "8": "operator==",
    "9": "operator!=",
    "A": "operator[]",
    "C": "operator->",
    "D": "operator*",
    "E": "operator++",
    "F": "operator--",
    "G": "operator-",
    "H": "operator+",
    "I": "operator&",
    "J": "operator->*",
    "K": "operator/",
    "L": "operator%",
    "M": "operator<",
    "N": "operator<=",
    "O": "operator>",
    "P": "operator>=",
    "Q": "operator,",
    "R": "operator()",
    "S": "operator~",
    "T": "operator^",
    "U": "operator|",
    "V": "operator&&",
    "W": "operator||",
    "X": "operator*=",
    "Y": "operator+=",
    "Z": "operator-=",
}

_UNDERSCORE_OPERATORS: dict[str, str] = {
    "0": "operator/=",
    "1": "operator%=",
    "2": "operator>>=",
    "3": "operator<<=",
    "4": "operator&=",
    "5": "operator|=",
    "6": "operator^=",
    "7": "`vftable'",
    "8": "`vbtable'",
    "9": "`vcall'",
    "A": "`typeof'",
    "B": "`local static guard'",
    "D": "`vbase destructor'",
    "E": "`vector deleting destructor'",
    "F": "`default constructor closure'",
    "G": "`scalar deleting destructor'",
    "H": "`vector constructor iterator'",
    "I": "`vector destructor iterator'",
    "J": "`vector vbase constructor iterator'",
    "K": "`virtual displacement map'",
    "L": "`eh vector constructor iterator'",
    "M": "`eh vector destructor iterator'",
    "N": "`eh vector vbase constructor iterator'",
    "O": "`copy constructor closure'",
    "S": "`local vftable'",
    "T": "`local vftable constructor closure'",
    "U": "operator new[]",
    "V": "operator delete[]",
    "X": "`placement delete closure'",
    "Y": "`placement delete[] closure'",
}

_DOUBLE_UNDERSCORE_OPERATORS: dict[str, str] = {
    "A": "`managed vector constructor iterator'",
    "B": "`managed vector destructor iterator'",
    "C": "`eh vector copy constructor iterator'",
    "D": "`eh vector vbase copy constructor iterator'",
    "G": "`vector copy constructor iterator'",
    "H": "`vector vbase copy constructor iterator'",
    "I": "`managed vector copy constructor iterator'",
    "J": "`local static thread guard'",
    "L": "operator co_await",
    "M": "operator<=>",
}

_RTTI: dict[str, str] = {
    "2": "`RTTI Base Class Array'",
    "3": "`RTTI Class Hierarchy Descriptor'",
    "4": "`RTTI Complete Object Locator'",
}

_PRIMITIVES: dict[str, str] = {
    "C": "signed char",
    "D": "char",
    "E": "unsigned char",
    "F": "short",
    "G": "unsigned short",
    "H": "int",
    "I": "unsigned int",
    "J": "long",
    "K": "unsigned long",
    "M": "float",
    "N": "double",
    "O": "long double",
    "X": "void",
}

_UNDERSCORE_PRIMITIVES: dict[str, str] = {
    "D": "__int8",
    "E": "unsigned __int8",
    "F": "__int16",
    "G": "unsigned __int16",
    "H": "__int32",
    "I": "unsigned __int32",
    "J": "__int64",
    "K": "unsigned __int64",
    "L": "__int128",
    "M": "unsigned __int128",
    "N": "bool",
    "P": "auto",
    "Q": "char8_t",
    "S": "char16_t",
    "T": "decltype(auto)",
    "U": "char32_t",
    "W": "wchar_t",
}

_CALLING_CONVENTIONS: dict[str, str] = {
    "A": "__cdecl",
    "B": "__cdecl",
    "C": "__pascal",
    "D": "__pascal",
    "E": "__thiscall",
    "F": "__thiscall",
    "G": "__stdcall",
    "H": "__stdcall",
    "I": "__fastcall",
    "J": "__fastcall",
    "K": "",
    "L": "",
    "M": "__clrcall",
    "N": "__clrcall",
    "O": "__eabi",
    "P": "__eabi",
    "Q": "__vectorcall",
    "S": "__swift_1",
    "W": "__swift_2",
}

_CV: dict[str, str] = {"A": "", "B": "const", "C": "volatile", "D": "const volatile"}
_MEMBER_CV: dict[str, str] = {"Q": "", "R": "const", "S": "volatile", "T": "const volatile"}

# Function access/kind letters: the member functions that carry ``this`` qualifiers.
_MEMBER_FUNCTION = frozenset("ABEFGHIJMNOPQRUVWX")
_STATIC_OR_GLOBAL = frozenset("CDKLSTYZ")
_ADJUSTOR = frozenset("GHOPWX")


class _Malformed(Exception):
    """The decorated name does not follow the grammar (internal; never leaves this module)."""


@dataclass(frozen=True)
class _Type:
    """A demangled type: its text, its own cv-qualifiers, and whether it is a pointer/reference."""

    text: str
    cv: str = ""
    indirect: bool = False

    def render(self) -> str:
        return f"{self.text} {self.cv}" if self.cv else self.text

    def qualified(self, cv: str) -> _Type:
        if not cv:
            return self
        merged = " ".join(q for q in ("const", "volatile") if q in self.cv or q in cv)
        return _Type(self.text, merged, self.indirect)


@dataclass
class _Backrefs:
    names: list[str]
    types: list[str]


class _Demangler:
    """A recursive-descent reader over one decorated name."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.refs = _Backrefs([], [])
        self.depth = 0

    # -- low level -------------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.s[j] if j < len(self.s) else ""

    def startswith(self, prefix: str) -> bool:
        return self.s.startswith(prefix, self.i)

    def consume(self, prefix: str) -> bool:
        if self.s.startswith(prefix, self.i):
            self.i += len(prefix)
            return True
        return False

    def take(self) -> str:
        if self.i >= len(self.s):
            raise _Malformed("unexpected end")
        c = self.s[self.i]
        self.i += 1
        return c

    def enter(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Malformed("nested too deeply")

    def leave(self) -> None:
        self.depth -= 1

    def number(self) -> int:
        """``0``-``9`` encode 1..10; otherwise hex digits ``A``-``P`` terminated by ``@``; ``?`` negates."""
        negative = self.consume("?")
        c = self.take()
        if c.isdigit():
            value = int(c) + 1
        else:
            value = 0
            while c != "@":
                if not "A" <= c <= "P":
                    raise _Malformed("bad number")
                value = value * 16 + (ord(c) - ord("A"))
                c = self.take()
        return -value if negative else value

    def simple_name(self) -> str:
        end = self.s.find("@", self.i)
        if end <= self.i:
            raise _Malformed("empty or unterminated name")
        name = self.s[self.i : end]
        self.i = end + 1
        return name

    def memorize(self, name: str) -> None:
        if len(self.refs.names) < 10 and name not in self.refs.names:
            self.refs.names.append(name)

    def name_backref(self) -> str:
        n = int(self.take())
        if n >= len(self.refs.names):
            raise _Malformed("name back-reference out of range")
        return self.refs.names[n]

    # -- names -----------------------------------------------------------------------------------------
    def symbol(self) -> str:
        """``?`` qualified-name encoding; returns the qualified name and consumes the encoding."""
        self.enter()
        if not self.consume("?"):
            raise _Malformed("not a decorated name")
        if self.startswith("?_C@"):
            self.i = len(self.s)
            self.leave()
            return "`string'"
        name, conversion = self.qualified_name(symbol_level=True)
        result_type = self.encoding()
        if conversion:
            name = name[: -len("operator cast")] + (
                f"operator {result_type}" if result_type else "operator cast"
            )
        self.leave()
        return name

    def qualified_name(self, *, symbol_level: bool) -> tuple[str, bool]:
        """Unqualified name, then scopes until ``@``: (``A::B::name``, whether it is ``operator T``)."""
        first, kind = self.unqualified_name(symbol_level=symbol_level)
        scopes: list[str] = []
        while not self.consume("@"):
            if self.i >= len(self.s):
                raise _Malformed("unterminated qualified name")
            scopes.append(self.scope_piece())
        scopes.reverse()
        if kind in ("ctor", "dtor"):
            if not scopes:
                raise _Malformed("constructor without class")
            cls = scopes[-1]
            first = cls if kind == "ctor" else "~" + cls
        return "::".join([*scopes, first]), kind == "conv"

    def unqualified_name(self, *, symbol_level: bool) -> tuple[str, str]:
        c = self.peek()
        if c.isdigit():
            return self.name_backref(), ""
        if self.startswith("?$"):
            name = self.template_name()
            # A function's own template name is not back-referenceable; a type's is.
            if not symbol_level:
                self.memorize(name)
            return name, ""
        if c == "?":
            self.i += 1
            return self.special_name()
        name = self.simple_name()
        self.memorize(name)
        return name, ""

    def special_name(self) -> tuple[str, str]:
        """The name after ``?``: operators, ctor/dtor, compiler-generated names."""
        c = self.take()
        if c == "0":
            return "", "ctor"
        if c == "1":
            return "", "dtor"
        if c == "B":
            return "operator cast", "conv"
        if c in _OPERATORS:
            return _OPERATORS[c], ""
        if c != "_":
            raise _Malformed("unknown operator")
        c = self.take()
        if c == "R":
            kind = self.take()
            if kind not in _RTTI:
                raise _Malformed("unsupported RTTI name")
            return _RTTI[kind], ""
        if c in _UNDERSCORE_OPERATORS:
            return _UNDERSCORE_OPERATORS[c], ""
        if c != "_":
            raise _Malformed("unknown operator")
        c = self.take()
        if c in ("E", "F"):
            what = "dynamic initializer" if c == "E" else "dynamic atexit destructor"
            target = self.symbol() if self.peek() == "?" else self.simple_name()
            return f"`{what} for '{target}''", ""
        if c == "K":
            return 'operator "" ' + self.simple_name(), ""
        if c in _DOUBLE_UNDERSCORE_OPERATORS:
            return _DOUBLE_UNDERSCORE_OPERATORS[c], ""
        raise _Malformed("unknown operator")

    def scope_piece(self) -> str:
        c = self.peek()
        if c.isdigit():
            return self.name_backref()
        if self.startswith("?$"):
            name = self.template_name()
            self.memorize(name)
            return name
        if self.startswith("?A"):
            end = self.s.find("@", self.i)
            if end < 0:
                raise _Malformed("unterminated anonymous namespace")
            self.memorize(self.s[self.i : end])
            self.i = end + 1
            return "`anonymous namespace'"
        if c == "?":
            return self.local_scope()
        name = self.simple_name()
        self.memorize(name)
        return name

    def local_scope(self) -> str:
        """``?<n>?<enclosing symbol>``: a name local to a function (lambdas, statics) -> ```f'::`n'``."""
        self.i += 1
        n = self.number()
        if not self.consume("?") or self.peek() != "?":
            raise _Malformed("bad local scope")
        parent = self.symbol()
        return f"`{parent}'::`{n}'"

    def template_name(self) -> str:
        """``?$`` name args ``@`` with a fresh back-reference table, rendered ``name<a,b>``."""
        self.enter()
        self.i += 2
        outer, self.refs = self.refs, _Backrefs([], [])
        try:
            if self.peek() == "?":
                self.i += 1
                base, kind = self.special_name()
                if kind:
                    raise _Malformed("template of constructor")
            else:
                base = self.simple_name()
                self.memorize(base)
            args: list[str] = []
            while not self.consume("@"):
                if self.i >= len(self.s):
                    raise _Malformed("unterminated template arguments")
                arg = self.template_argument()
                if arg is not None:
                    args.append(arg)
        finally:
            self.refs = outer
        self.leave()
        joined = ",".join(args)
        return f"{base}<{joined} >" if joined.endswith(">") else f"{base}<{joined}>"

    def template_argument(self) -> str | None:
        for pack in ("$$$V", "$$V", "$$Z", "$S"):
            if self.consume(pack):
                return None
        if self.consume("$M"):
            self.type()
            return self.template_argument()
        if self.consume("$$Y"):
            return self.qualified_name(symbol_level=False)[0]
        if self.consume("$$B") or self.consume("$$C"):
            return self.type().render()
        if self.startswith("$0"):
            self.i += 2
            return str(self.number())
        if self.startswith("$1") or self.startswith("$H") or self.startswith("$I") or self.startswith("$J"):
            return self.entity_argument()
        if self.consume("$E"):
            return self.symbol()
        if self.consume("$F") or self.consume("$G"):
            kind = self.s[self.i - 1]
            for _ in range(2 if kind == "F" else 3):
                self.number()
            return "{}"
        if self.consume("$2"):
            self.number()
            self.number()
            return "<float>"
        if self.consume("$D"):
            return f"`template-parameter{self.number()}'"
        return self.type().render()

    def entity_argument(self) -> str:
        """``$1``/``$H``/``$I``/``$J``: a pointer to an entity (and 0-3 offsets), or nullptr."""
        kind = self.s[self.i + 1]
        self.i += 2
        target = "nullptr"
        if self.peek() == "?":
            target = "&" + self.symbol()
        elif self.consume("@"):
            target = "nullptr"
        for _ in range("1HIJ".index(kind)):
            self.number()
        return target

    # -- encoding --------------------------------------------------------------------------------------
    def encoding(self) -> str | None:
        """Consume what follows a symbol's name; returns the return type of functions (for ``operator T``)."""
        c = self.peek()
        if not c:
            return None
        if c in "01234":
            self.i += 1
            self.type()
            self.storage_qualifiers()
            return None
        if c in "67":
            self.i += 1
            self.storage_qualifiers()
            while not self.consume("@"):
                if self.i >= len(self.s):
                    raise _Malformed("unterminated vftable scope")
                self.qualified_name(symbol_level=False)
            return None
        if c in "89":
            self.i += 1
            return None
        if c == "$":
            self.i += 1
            return self.thunk()
        self.i += 1
        if c in _ADJUSTOR:
            self.number()
        if c in _MEMBER_FUNCTION:
            return self.function_type(member=True)
        if c in _STATIC_OR_GLOBAL:
            return self.function_type(member=False)
        raise _Malformed("unknown function class")

    def thunk(self) -> str | None:
        """What follows ``$`` in a thunk's encoding (vcall, virtual-base adjustor, displacement)."""
        kind = self.take()
        if kind == "B":
            self.number()
            self.take()
            return None
        if kind == "R":
            self.take()
            for _ in range(4):
                self.number()
        elif kind in "012345":
            for _ in range(2):
                self.number()
        else:
            raise _Malformed("unknown thunk")
        return self.function_type(member=True)

    def storage_qualifiers(self) -> None:
        while self.peek() in ("E", "F", "I"):
            self.i += 1
        c = self.take()
        if c not in _CV and c not in _MEMBER_CV:
            raise _Malformed("bad storage class")
        if c in _MEMBER_CV:
            self.qualified_name(symbol_level=False)

    def function_type(self, *, member: bool) -> str | None:
        """[this-qualifiers] calling-convention return-type parameters throw-spec."""
        self.enter()
        if member:
            while self.peek() in ("E", "F", "I", "G", "H"):
                self.i += 1
            if self.take() not in _CV:
                raise _Malformed("bad this qualifier")
        self.take()  # calling convention
        result: str | None = None
        if not self.consume("@"):
            result = self.return_type().render()
        self.parameters()
        if not self.consume("Z"):
            self.consume("_E")
        self.leave()
        return result

    def return_type(self) -> _Type:
        if self.consume("?"):
            cv = self.take()
            if cv not in _CV:
                raise _Malformed("bad return qualifier")
            return self.type().qualified(_CV[cv])
        return self.type()

    def parameters(self) -> list[str]:
        if self.consume("X"):
            return ["void"]
        params: list[str] = []
        while True:
            c = self.peek()
            if not c:
                raise _Malformed("unterminated parameter list")
            if c == "@":
                self.i += 1
                return params
            if c == "Z":
                self.i += 1
                return [*params, "..."]
            if c.isdigit():
                n = int(c)
                if n >= len(self.refs.types):
                    raise _Malformed("type back-reference out of range")
                self.i += 1
                params.append(self.refs.types[n])
                continue
            start = self.i
            text = self.type().render()
            if self.i - start > 1 and len(self.refs.types) < 10:
                self.refs.types.append(text)
            params.append(text)

    # -- types -----------------------------------------------------------------------------------------
    def type(self) -> _Type:
        self.enter()
        try:
            return self._type()
        finally:
            self.leave()

    def _type(self) -> _Type:
        c = self.peek()
        if not c:
            raise _Malformed("missing type")
        if c in _PRIMITIVES:
            self.i += 1
            return _Type(_PRIMITIVES[c])
        if c == "_":
            return self.underscore_primitive()
        if c in "TUV":
            self.i += 1
            return _Type(self.qualified_name(symbol_level=False)[0])
        if c == "W":
            return self.enum_type()
        if c == "Y":
            return self.array()
        if c in "PQRS":
            self.i += 1
            return self.pointer("*", {"P": "", "Q": "const", "R": "volatile", "S": "const volatile"}[c])
        if c in "AB":
            self.i += 1
            return self.pointer("&", "volatile" if c == "B" else "")
        if c.isdigit():
            n = int(c)
            if n >= len(self.refs.types):
                raise _Malformed("type back-reference out of range")
            self.i += 1
            return _Type(self.refs.types[n])
        if c == "?":
            self.i += 1
            cv = self.take()
            if cv not in _CV:
                raise _Malformed("bad qualifier")
            return self.type().qualified(_CV[cv])
        if c == "$":
            return self.dollar_type()
        raise _Malformed("unknown type")

    def underscore_primitive(self) -> _Type:
        """``_J`` (``__int64``), ``_N`` (``bool``) and the other two-letter primitives."""
        self.i += 1
        d = self.take()
        if d not in _UNDERSCORE_PRIMITIVES:
            raise _Malformed("unknown primitive")
        return _Type(_UNDERSCORE_PRIMITIVES[d])

    def enum_type(self) -> _Type:
        """``W4Name@@``: an enum (its underlying-type digit is not shown)."""
        self.i += 1
        if not self.take().isdigit():
            raise _Malformed("bad enum")
        return _Type(self.qualified_name(symbol_level=False)[0])

    def dollar_type(self) -> _Type:
        if self.consume("$$T"):
            return _Type("std::nullptr_t")
        if self.consume("$$Q"):
            return self.pointer("&&", "")
        if self.consume("$$R"):
            return self.pointer("&&", "volatile")
        if self.consume("$$A6"):
            return _Type(self.function_signature("", member=False))
        if self.consume("$$A8@@"):
            return _Type(self.function_signature("", member=True))
        if self.consume("$$B"):
            return self.type()
        if self.consume("$$C"):
            cv = self.take()
            if cv not in _CV:
                raise _Malformed("bad qualifier")
            return self.type().qualified(_CV[cv])
        raise _Malformed("unknown extended type")

    def array(self) -> _Type:
        self.i += 1
        rank = self.number()
        if rank <= 0 or rank > 16:
            raise _Malformed("bad array rank")
        dims = "".join(f"[{self.number()}]" for _ in range(rank))
        element = self.type()
        return _Type(f"{element.render()} {dims}")

    def pointer(self, symbol: str, own_cv: str) -> _Type:
        if self.consume("6"):
            return _Type(self.function_signature(f"({symbol})", member=False), own_cv, indirect=True)
        while self.peek() in ("E", "I", "F"):
            self.i += 1
        if self.consume("8"):
            cls = self.qualified_name(symbol_level=False)[0]
            return _Type(self.function_signature(f"({cls}::{symbol})", member=True), own_cv, indirect=True)
        c = self.take()
        if c in _MEMBER_CV:
            cls = self.qualified_name(symbol_level=False)[0]
            pointee = self.type().qualified(_MEMBER_CV[c])
            return _Type(f"{pointee.render()} {cls}::{symbol}", own_cv, indirect=True)
        if c not in _CV:
            raise _Malformed("bad pointer qualifier")
        pointee = self.type().qualified(_CV[c])
        return _Type(f"{pointee.render()} {symbol}", own_cv, indirect=True)

    def function_signature(self, declarator: str, *, member: bool) -> str:
        """A function type's text: ``ret (cc *)(params)`` for pointers, ``ret cc(params)`` for types."""
        if member:
            while self.peek() in ("E", "F", "I", "G", "H"):
                self.i += 1
            if self.take() not in _CV:
                raise _Malformed("bad this qualifier")
        cc = _CALLING_CONVENTIONS.get(self.take())
        if cc is None:
            raise _Malformed("unknown calling convention")
        result = "" if self.consume("@") else self.return_type().render()
        params = ",".join(self.parameters())
        if not self.consume("Z"):
            self.consume("_E")
        if declarator:
            inner = declarator[1:-1]
            return f"{result} ({cc} {inner})({params})" if cc else f"{result} ({inner})({params})"
        return f"{result} {cc}({params})" if cc else f"{result} ({params})"


def undecorate(symbol: str) -> str | None:
    """The qualified name of an MSVC-decorated symbol (``?GetMap@WorldObject@@QEBAPEAVMap@@XZ`` ->
    ``WorldObject::GetMap``), without return type, parameters or qualifiers; None when ``symbol`` is not
    a decorated name or does not follow the grammar. A truncated encoding after a complete name still
    yields the name."""
    if not symbol.startswith("?") or len(symbol) > _MAX_DECORATED:
        return None
    demangler = _Demangler(symbol)
    try:
        return demangler.symbol()
    except _Malformed:
        pass
    except (IndexError, ValueError, RecursionError):
        return None
    # The name parsed but the encoding after it did not (cut off by a copy, or a construct we do not
    # model): the name is what callers need, so retry reading the name alone.
    retry = _Demangler(symbol)
    try:
        retry.i = 1
        if retry.startswith("?_C@"):
            return "`string'"
        name, _ = retry.qualified_name(symbol_level=True)
    except (_Malformed, IndexError, ValueError, RecursionError):
        return None
    return name


def readable_name(symbol: str) -> str:
    """``symbol`` undecorated when it is an MSVC-decorated name, else unchanged."""
    if symbol.startswith("?"):
        return undecorate(symbol) or symbol
    return symbol


def strip_arguments(signature: str) -> str:
    """Cut the argument list (and any trailing ``const``/``noexcept``) off a readable signature.

    ``Ns::F<T>(int a, std::function<void(int)> f) const`` -> ``Ns::F<T>``; ``Foo::operator()(int x)`` ->
    ``Foo::operator()``; a signature cut off inside its arguments (``Map::Update(const unsi``) loses the
    partial list; names without an argument list are returned stripped.
    """
    text = signature.strip()
    end = len(text)
    for suffix in (" noexcept", " volatile", " const", " &&", " &"):
        while text.endswith(suffix, 0, end):
            end -= len(suffix)
    if end == 0 or text[end - 1] != ")":
        return _cut_open_arguments(text)
    depth = 0
    j = end - 1
    while j >= 0:
        ch = text[j]
        if ch == ")":
            depth += 1
        elif ch == "(":
            depth -= 1
            if depth == 0:
                break
        j -= 1
    if j <= 0:
        return text[:end].rstrip()
    head = text[:j].rstrip()
    if head.endswith("operator"):
        # ``Foo::operator()`` printed without an argument list: the pair was the operator's name.
        return text[:end].rstrip()
    return head


def _cut_open_arguments(text: str) -> str:
    """Cut at the first ``(`` outside template brackets: the start of an argument list that was cut off."""
    angle = 0
    j = 0
    n = len(text)
    while j < n:
        if text.startswith("operator", j):
            j += len("operator")
            # Skip the operator's own symbol (``<<``, ``()``, ``->``) so it is not read as brackets.
            if text.startswith("()", j):
                j += 2
            while j < n and text[j] in _OPERATOR_CHARS:
                j += 1
            continue
        ch = text[j]
        if ch == "<":
            angle += 1
        elif ch == ">" and angle:
            angle -= 1
        elif ch == "(" and angle == 0:
            return text[:j].rstrip()
        j += 1
    return text


_OPERATOR_CHARS = frozenset("<>=!+-*/%^&|~[],")
