"""Redaction: scrub secrets and personal data from report text before anything leaves the host.

Everything is replaced by a ``[REDACTED:<kind>]`` marker (user paths by ``<user>``), so a reader sees that
something was there. Redaction must not break parsing: hex addresses (``0x…``, ``0001:…``, cdb's
backtick-split values), version numbers (``10.0.19045``) and C++ names with ``::`` are never taken for
IP addresses, and values are cut at ``)``, ``,`` and ``;`` so gdb argument lists stay balanced.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# PEM private keys and certificates (multi-line).
_PEM = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*?(?:PRIVATE KEY|CERTIFICATE|PGP PRIVATE KEY BLOCK))-----"
    r".*?(?:-----END (?P=label)-----|\Z)",
    re.DOTALL,
)

# Well-known token shapes, whatever surrounds them.
_TOKENS = re.compile(
    r"""(?<![\w-])(?:
        gh[pousr]_[A-Za-z0-9_.\-]{30,1024}      # GitHub tokens, incl. stateless ghs_<app id>_<JWT>
      | github_pat_[A-Za-z0-9_]{22,255}          # GitHub fine-grained PAT
      | sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{20,} # OpenAI/Anthropic/Stripe-style secret keys
      | (?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16} # AWS access key ids
      | xox[abprs]-[A-Za-z0-9-]{10,}             # Slack tokens
      | glpat-[A-Za-z0-9_\-]{20,}                # GitLab PAT
      | AIza[0-9A-Za-z_\-]{35}                   # Google API key
      | eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,} # JWT
      | [MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40} # Discord bot token
    )""",
    re.VERBOSE,
)
_SRP6_STRUCT = re.compile(
    r"(?P<key>(?<![\w])(?:(?:this->|m_)?_?[Kvbs]|(?:m_|_)?(?:salt|Salt)|(?:m_|_)?[Kk]ey)(?![\w]))"
    r"(?P<sep>\s*=\s*)\{(?=\s*(?:_M_elems|_bn|_M_p)\b)"
)
# Incoming webhooks carry their secret in the path: Discord's /api/webhooks/<id>/<token>, Slack's
# /services/T…/B…/<token>. Whoever has the URL can post as the bot.
_WEBHOOK = re.compile(
    r"""(?P<head>https?://(?:(?:ptb\.|canary\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks
        |hooks\.slack\.com/(?:services|workflows|triggers))/)(?P<value>[^\s"'<>)\]]+)""",
    re.VERBOSE | re.IGNORECASE,
)
# ``Authorization: Basic dXNlcjpwdw==`` (a short base64 pair is a password too), ``Bearer …``, ``token …``.
_AUTH_HEADER = re.compile(
    r"(?P<head>\b(?:proxy-)?authori[sz]ation\b[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|token|digest|negotiate)\s+)"
    r"(?P<value>[^\s\"',;]+)",
    re.IGNORECASE,
)
# Environment-style secret names: ``CRASHBOT_SIGNING_KEY=…``, ``SOAP_PASS=…``, ``DB_PWD: …``.
_ENV_SECRET = re.compile(
    r"(?P<key>(?<![\w.\-])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_(?:KEY|SECRET|TOKEN|PASS|PASSWD|PWD|CREDENTIALS?|HMAC))"
    r"(?P<sep>\s*[=:]\s*)(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;]+)"
)
# A MySQL/MariaDB command line: ``-pSECRET`` (no space, the client's own syntax) and ``--password SECRET``.
_MYSQL_LINE = re.compile(r"^.*\b(?:mysql\w*|mariadb\w*)\b.*$", re.IGNORECASE | re.MULTILINE)
_MYSQL_PASSWORD = re.compile(r"(?P<head>(?<=\s)-p|--password[= ]\s*)(?P<value>[^\s\"']+)")
# GM commands whose arguments are an account name and its password (TrinityCore/AzerothCore/cMaNGOS):
# ``.account set password bob pw pw``, ``account create bob pw``, ``.account password old new new``.
# Everything after the command words goes, to the end of the line or of the quoted text.
_GM_ACCOUNT = re.compile(
    r"""(?P<head>(?<![\w])\.?account\s+(?:set\s+(?:password|pass|gmlevel|sec(?:level)?|addon|email)|create|password
        |delete|email|onlinelist)\b)(?P<value>[ \t]+[^\n"'`)\]]+)""",
    re.VERBOSE | re.IGNORECASE,
)
# SRP6 (the login handshake): the session key K, the verifier v, the private ephemeral b and the salt s.
# With v and s a password falls to an offline guess; K decrypts the session. TrinityCore keeps them in
# ``std::array<uint8, N>`` (gdb: ``{_M_elems = "…"}``) or a BigNumber (``{_bn = 0x…}``).
_SRP6_VALUE = re.compile(
    r"""(?P<key>(?<![\w])(?:(?:this->|m_)?_?[Kvbs]|(?:m_|_)?(?:salt|Salt)|(?:m_|_)?[Kk]ey)(?![\w]))
        (?P<sep>\s*=\s*)
        (?P<value>"(?:\\\d{3}|\\x[0-9A-Fa-f]{2}|[^"\\\n]){16,}"|0x[0-9A-Fa-f]{32,})""",
    re.VERBOSE,
)

# ``host;port;user;password;database`` (TrinityCore/AzerothCore *DatabaseInfo), or the socket form
# ``.;/path/to/socket;user;password;database``.
_DB_CONNECTION = re.compile(
    r"""(?<![\w;.\-])                           # (a host starts a run and is taken whole: linear time)
        (?:[A-Za-z0-9_.\-]++|\[[0-9A-Fa-f:]++\])  # host, or [ipv6]
        ;(?:\d{1,5}|[^;\s"']*/[^;\s"']*)        # port or socket path
        ;[^;\s"']+                              # user
        ;[^;\s"']*                              # password (may be empty)
        ;[\w$\-]+                               # database
        (?:;\w+)?                               # TrinityCore's optional ssl field
        (?![\w;])""",
    re.VERBOSE,
)
# The *DatabaseInfo settings themselves: the whole quoted value, whatever the password contains.
_DB_INFO_SETTING = re.compile(r'(?P<key>\b\w*DatabaseInfo\s*=\s*")(?P<value>[^"\n]+)(?=")', re.IGNORECASE)
# ``scheme://user:password@host``: the password, whatever the host part looks like.
# The scheme is matched from the start of its run only and possessively, so a long run of name characters
# costs one scan, not one per word in it.
_URL_USERINFO = re.compile(
    r"(?P<head>(?<![\w+.\-])[A-Za-z][A-Za-z0-9+.\-]*+://[^\s:/@\"']*+:)(?P<value>[^\s/@\"']++)(?=@)"
)

# Words that make a name secret wherever they appear in it (``newPassword``, ``db_pass``, ``m_sessionKey``);
# the SRP6 verifier stored for an account is as good as its password. A bare ``pass`` must not run on into
# a lower-case letter, so ``passengers`` and ``PassiveAI`` are not secret names.
_SENSITIVE_WORDS = (
    r"pass(?:word|wd|phrase)|pass(?-i:(?![a-z]))|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|private[_\-]?key|auth[_\-]?(?:key|token)|client[_\-]?secret|credentials?|bearer|session[_\-]?key"
    r"|verifier|signing[_\-]?key|hmac"
)
# A name that is secret: a whole run of name characters holding a sensitive word, or ``pw`` as the whole
# name (not ``upward``). The run is taken whole and possessively, from its start only, so a megabyte of
# dots or of repeated words costs one linear scan (a backtracking name pattern took minutes on 8 KB).
# Source file names are not secret names: gdb's ``at …/PassiveAI.cpp:30`` is a location, not ``key: value``.
_SOURCE_SUFFIXES = ("cpp", "cxx", "hpp", "hxx", "inl", "ipp", "tpp", "cc", "hh", "c", "h")
_NOT_A_SOURCE_FILE = "".join(rf"(?<!\.{ext})" for ext in _SOURCE_SUFFIXES)
# The shell's ``PWD``/``OLDPWD`` (upper case, exactly) are working directories, which build logs print.
_SHELL_DIRECTORY = r"(?!(?-i:(?:OLD)?PWD)(?![\w.\-]))"
_SENSITIVE_NAME = (
    rf"(?<![\w.\-:]){_SHELL_DIRECTORY}(?:(?=[\w.\-]*(?:{_SENSITIVE_WORDS}))[\w.\-]++{_NOT_A_SOURCE_FILE}"
    rf"|(?:m_|_)?pw(?![\w.\-]))"
)
# A quoted value as debuggers print it: an encoding prefix (``L"…"``, ``u8"…"``), ``\"`` inside, gdb's
# ``'x' <repeats 24 times>, "…"`` pieces; a quote the copy cut open takes the rest of the line.
_ONE_QUOTED = r"""(?:L|u8|u|U)?(?:"(?:[^"\\\n]|\\.)*(?:"|(?=\n)|\Z)|'(?:[^'\\\n]|\\.)*(?:'|(?=\n)|\Z))"""
_REPEATS = r"(?:[ \t]*<repeats[ ]\d+[ ]times>)?"  # [ ]: these are used in verbose patterns
_QUOTED = rf"{_ONE_QUOTED}{_REPEATS}(?:,[ \t]*{_ONE_QUOTED}{_REPEATS})*"
# What gdb prints before a pointer's or reference's target: ``0x7ffd1 "…"``, ``@0x7ffe: "…"``.
_ADDRESS_PREFIX = r"(?:@?0x[0-9A-Fa-f]+:?[ \t]+)?"
# gdb's own words for a value it has not got: not a secret, and kept whole.
_GDB_NO_VALUE = (
    r"<(?:optimized[ ]out|value[ ]optimized[ ]out|synthetic[ ]pointer|incomplete[ ]type|error:[^>\n]*)>"
)
# ``password=…``, ``passwd: …``, ``"token": "…"``, ``SOAP password = …``; the key keeps its name.
_KEY_VALUE = re.compile(
    rf"""(?P<key>["']?(?:{_SENSITIVE_NAME})["']?)
        (?P<sep>\s*(?:=|:(?!:))\s*)
        (?P<value>{_ADDRESS_PREFIX}(?:{_QUOTED})|(?!<sensitive|{_GDB_NO_VALUE})[^\s,;)\]}}>"']+)""",
    re.VERBOSE | re.IGNORECASE,
)
# ``password = {…}``: gdb's struct form of a std::string (the text is in ``_M_p`` and ``_M_local_buf``),
# of a key array, or of a container (``std::vector of length 3, capacity 3 = {115 's', …}``), also behind
# a reference (``@0x7ffe: {…}``); the whole brace-balanced value goes (:func:`_struct_end`).
_STRUCT_VALUE = re.compile(
    rf"""(?P<key>{_SENSITIVE_NAME})(?P<sep>\s*=\s*)
        (?:@0x[0-9A-Fa-f]+:\s*)?
        (?:[\w:<>]+\ (?:of\ length\ \d+(?:,\ capacity\ \d+)?|with\ \d+\ elements?)\ =\ )?
        \{{""",
    re.VERBOSE | re.IGNORECASE,
)
# A long hex or base64 run right after a key-ish word (``key 3f9a…``, ``Authorization: Bearer …``).
_KEYED_BLOB = re.compile(
    rf"""(?P<key>\b(?:{_SENSITIVE_WORDS}|key|signature|authorization)\b\W{{1,3}})
        (?P<value>[A-Fa-f0-9]{{32,}}|[A-Za-z0-9+/_\-]{{32,}}={{0,2}})""",
    re.VERBOSE | re.IGNORECASE,
)

_EMAIL = re.compile(r"(?<![\w.+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}\b")

# Dotted quads not glued to a longer dotted/word run (``10.0.19045.2`` is a version, not an address).
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
# IPv6 candidates; ipaddress decides, and C++ ``Foo::Bar`` never parses as one.
_IPV6 = re.compile(r"(?<![\w:`])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?:%\w+)?(?![\w:`])")

_WINDOWS_PROFILE = re.compile(
    r"(?P<root>[A-Za-z]:\\+(?:Users|Documents and Settings)\\+)(?P<name>[^\\/:*?\"<>|\r\n]+)(?=\\)",
    re.IGNORECASE,
)
_POSIX_HOME = re.compile(r"(?P<root>(?<![\w.])/(?:home|Users)/)(?P<name>[^/\s:'\"<>]+)(?=/)")
_KEEP_PROFILE_NAMES = frozenset({"<user>", "public", "default", "all users", "default user"})


@dataclass(frozen=True)
class Redacted:
    """The scrubbed text and how many of each kind were replaced."""

    text: str
    counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _keep_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback and unspecified addresses identify nobody, and config defaults are full of them."""
    return address.is_loopback or address.is_unspecified


def _sub(
    pattern: re.Pattern[str],
    text: str,
    counts: Counter[str],
    kind: str,
    replace: Callable[[re.Match[str]], str | None],
) -> str:
    def repl(m: re.Match[str]) -> str:
        out = replace(m)
        if out is None:
            return m.group(0)
        counts[kind] += 1
        return out

    return pattern.sub(repl, text)


def _mysql_line(m: re.Match[str], counts: Counter[str]) -> str | None:
    line = m.group(0)
    out = _MYSQL_PASSWORD.sub(lambda p: f"{p.group('head')}{_marker('secret')}", line)
    if out == line:
        return None
    counts["secret"] -= 1  # _sub counts the line once; count each password instead
    counts["secret"] += len(_MYSQL_PASSWORD.findall(line))
    return out


def _ipv4(m: re.Match[str]) -> str | None:
    try:
        address = ipaddress.IPv4Address(m.group(0))
    except ValueError:
        return None
    return None if _keep_ip(address) else _marker("ip")


def _ipv6(m: re.Match[str]) -> str | None:
    candidate = m.group(0).split("%", 1)[0]
    if candidate.count(":") < 2 or not any(ch.isdigit() for ch in candidate):
        return None
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    return None if _keep_ip(address) else _marker("ip")


def _profile(m: re.Match[str]) -> str | None:
    if m.group("name").strip().lower() in _KEEP_PROFILE_NAMES:
        return None
    return f"{m.group('root')}<user>"


def _key_value(m: re.Match[str]) -> str | None:
    value = m.group("value")
    if value.strip("\"'") in ("", "<sensitive data>") or value.startswith("[REDACTED"):
        return None
    return f"{m.group('key')}{m.group('sep')}{_marker('secret')}"


# How far a pretty-printed (``set print pretty on``) struct value may run before it is taken as cut off.
_MAX_STRUCT_LINES = 1000


def _struct_end(text: str, start: int) -> int:
    """The index just past the ``}`` closing the ``{`` at ``start`` (quoted text and escapes respected).

    A ``{`` that ends its line opens gdb's pretty-printed form, which runs over the following lines (up to
    :data:`_MAX_STRUCT_LINES`); any other value that the line ends inside was cut by the copy, and
    everything to the end of the line is taken.
    """
    multiline = text[start + 1 : start + 2] in ("\n", "\r") or text[start + 1 :].startswith((" \n", "\t\n"))
    lines_left = _MAX_STRUCT_LINES if multiline else 0
    depth = 0
    quote = ""
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            if lines_left == 0:
                return i
            lines_left -= 1
            quote = ""  # a quote never spans lines; an unclosed one ended with its line
        elif quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _redact_structs(text: str, counts: Counter[str], pattern: re.Pattern[str] = _STRUCT_VALUE) -> str:
    """Replace the brace-balanced value of every ``<secret name> = {…}`` (one left-to-right pass)."""
    out: list[str] = []
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        end = _struct_end(text, m.end() - 1)
        out.append(text[pos : m.start()])
        out.append(f"{m.group('key')}{m.group('sep')}{_marker('secret')}")
        counts["secret"] += 1
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """Compile user-supplied patterns; ValueError naming the bad one."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as e:
            raise ValueError(f"redaction pattern {pattern!r} is not a valid regular expression: {e}") from e
    return tuple(compiled)


def redact(
    text: str,
    *,
    ip_addresses: bool = True,
    emails: bool = True,
    user_paths: bool = True,
    extra_patterns: Iterable[str | re.Pattern[str]] = (),
) -> Redacted:
    """Scrub ``text``; secrets and tokens always, the rest as configured (``[redaction]`` in config).

    ``extra_patterns`` are regular expressions (strings or compiled); each match becomes
    ``[REDACTED:custom]``. ValueError if one does not compile.
    """
    counts: Counter[str] = Counter()
    text = _sub(_PEM, text, counts, "key", lambda m: _marker("key"))
    text = _sub(_TOKENS, text, counts, "token", lambda m: _marker("token"))
    text = _sub(_WEBHOOK, text, counts, "token", lambda m: f"{m.group('head')}{_marker('token')}")
    text = _sub(_AUTH_HEADER, text, counts, "secret", lambda m: f"{m.group('head')}{_marker('secret')}")
    text = _sub(_GM_ACCOUNT, text, counts, "account", lambda m: f"{m.group('head')} {_marker('account')}")
    text = _redact_structs(text, counts, _SRP6_STRUCT)
    text = _sub(
        _SRP6_VALUE, text, counts, "secret", lambda m: f"{m.group('key')}{m.group('sep')}{_marker('secret')}"
    )
    text = _sub(
        _ENV_SECRET, text, counts, "secret", lambda m: f"{m.group('key')}{m.group('sep')}{_marker('secret')}"
    )
    text = _sub(_MYSQL_LINE, text, counts, "secret", lambda m: _mysql_line(m, counts))
    text = _sub(_DB_INFO_SETTING, text, counts, "db", lambda m: f"{m.group('key')}{_marker('db')}")
    text = _sub(_DB_CONNECTION, text, counts, "db", lambda m: _marker("db"))
    text = _sub(_URL_USERINFO, text, counts, "secret", lambda m: f"{m.group('head')}{_marker('secret')}")
    text = _redact_structs(text, counts)
    text = _sub(_KEY_VALUE, text, counts, "secret", _key_value)
    text = _sub(_KEYED_BLOB, text, counts, "secret", lambda m: f"{m.group('key')}{_marker('secret')}")
    if emails:
        text = _sub(_EMAIL, text, counts, "email", lambda m: _marker("email"))
    if ip_addresses:
        text = _sub(_IPV4, text, counts, "ip", _ipv4)
        if ":" in text:
            text = _sub(_IPV6, text, counts, "ip", _ipv6)
    if user_paths:
        text = _sub(_WINDOWS_PROFILE, text, counts, "user_path", _profile)
        text = _sub(_POSIX_HOME, text, counts, "user_path", _profile)
    extras = tuple(extra_patterns)
    compiled = [p for p in extras if isinstance(p, re.Pattern)]
    compiled += compile_patterns(p for p in extras if isinstance(p, str))
    for pattern in compiled:
        text = _sub(pattern, text, counts, "custom", lambda m: _marker("custom"))
    return Redacted(text=text, counts=MappingProxyType(dict(counts)))
