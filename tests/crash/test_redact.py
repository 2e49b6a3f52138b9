"""Redaction: every secret shape goes, everything a parser needs stays."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.crash import analyse, parse_report
from bot.crash.redact import redact

SECRETS = {
    "db": 'LoginDatabaseInfo = "10.1.2.3;3306;trinity;S3cr3tPw!;auth"',
    "db-socket": 'CharacterDatabaseInfo = ".;/var/run/mysqld/mysqld.sock;acore;hunter2;acore_characters"',
    "db-hotfix": "HotfixDatabaseInfo     = db.example.net;3306;tc;Pa55w0rd;hotfixes",
    "password": "password=hunter2",
    "passwd": 'Local char * passwd = "letmein"',
    "pwd": "pwd: correcthorse",
    "secret-json": '"client_secret": "abc123def456"',
    "token-kv": "token=tok_live_9f8e7d6c5b4a",
    "github": "ghp_" + "A" * 36,
    "github-app": "ghs_" + "b1" * 18,
    "github-pat": "github_pat_" + "11ABCDEFG0" * 5,
    "openai": "sk-" + "x9" * 20,
    "anthropic": "sk-ant-api03-" + "Q" * 40,
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "hex-after-key": "api key: " + "0123456789abcdef" * 3,
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\nabc==\n-----END RSA PRIVATE KEY-----",
    "email": "contact alice.smith+wow@example.co.uk now",
    "ipv4": "connected from 203.0.113.77 port 8085",
    "ipv6": "peer 2001:db8:85a3::8a2e:370:7334 closed",
    "win-profile": r"C:\Users\alice\Desktop\worldserver.exe",
    "posix-home": "/home/bob/azerothcore/src/Object.cpp",
}
SECRET_VALUES = [
    "S3cr3tPw!",
    "hunter2",
    "Pa55w0rd",
    "letmein",
    "correcthorse",
    "abc123def456",
    "tok_live_9f8e7d6c5b4a",
    "ghp_",
    "ghs_",
    "github_pat_",
    "sk-x9",
    "sk-ant",
    "AKIAIOSFODNN7EXAMPLE",
    "0123456789abcdef0123",
    "MIIEowIBAAKCAQEAx",
    "alice.smith",
    "203.0.113.77",
    "2001:db8",
    "alice",
    "bob",
    "10.1.2.3",
]


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_redact_each_secret_shape_removed(kind: str) -> None:
    result = redact(SECRETS[kind])
    assert result.total >= 1
    for value in SECRET_VALUES:
        assert value not in result.text, (kind, result.text)


def test_redact_counts_by_kind() -> None:
    result = redact("a@example.com b@example.org 198.51.100.1 password=x")
    assert dict(result.counts) == {"email": 2, "ip": 1, "secret": 1}


def test_redact_user_paths_keep_their_shape() -> None:
    text = r"00007FF78038162A  000000AB64FBE560  0001:00000000006D062A C:\Users\alice\worldserver.exe"
    out = redact(text).text
    assert out.endswith(r"C:\Users\<user>\worldserver.exe")
    assert redact("at /home/ubuntu/dev/src/Object.cpp:329").text == "at /home/<user>/dev/src/Object.cpp:329"


@pytest.mark.parametrize(
    "text",
    [
        "00007FF774DAE0DE  00000093B30F3090  Field::GetUInt32+2E  D:\\x\\Field.cpp line 119",
        "Fault address:  00007FF7A69BC4A8 01:000000000015B4A8 D:\\wow\\worldserver.exe",
        "Windows 10 Professional (Version 10.0, Build 19045)",
        "    Value: 10.0.20348.1",
        "TrinityCore rev. 9a9cd6e45ffa 2016-01-29 12:01:02 +0100 (3.3.5 branch) (Win64, Release)",
        "000000f6`adbff760 00007ff6`5921f632     : 00000272`0c3e92e0 : worldserver!Foo::Bar+0x70",
        "#2  PlayerbotsMgr::GetPlayerbotAI (this=this@entry=0x555557d8f970, player=player@entry=0x7ffff03d0400)",
        "CS:RIP:0033:00007FF7A69BC4A8",
        "SS:RSP:002B:00000000D2EFF700  RBP:0000000D",
        "Ace::Add(Face::Bad) and dead::beef",
        "Token::Parse(Tokenizer& tokens) in Sec::Key",
        "Listening on 127.0.0.1:8085 and 0.0.0.0:3724",
        "Local char * password = <sensitive data>",
        "GUID Full: 0xf130011174000108 Type: Creature Entry: 70004  Low: 264",
    ],
)
def test_redact_report_syntax_left_alone(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.total == 0


def test_redact_gdb_argument_list_stays_balanced() -> None:
    line = "#3  0x0000555555e389fe in Auth::Login (this=0x1, password=0x7ffd12345678) at /src/Auth.cpp:12"
    out = redact(line).text
    assert out.count("(") == out.count(")")
    assert out.endswith("at /src/Auth.cpp:12")
    assert "0x7ffd12345678" not in out


def test_redact_options_turn_kinds_off() -> None:
    text = r"a@example.com 203.0.113.9 C:\Users\carol\x"
    assert redact(text, ip_addresses=False, emails=False, user_paths=False).text == text


def test_redact_extra_patterns_strings_and_compiled() -> None:
    result = redact("realm Azeroth-PvP name Anaprox", extra_patterns=[r"Azeroth-\w+", re.compile("Anaprox")])
    assert result.text == "realm [REDACTED:custom] name [REDACTED:custom]"
    assert result.counts["custom"] == 2


def test_redact_bad_extra_pattern_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"\(unclosed"):
        redact("x", extra_patterns=["(unclosed"])


def test_redact_loopback_and_unspecified_addresses_kept() -> None:
    assert redact("bind ::1 and 127.0.0.1").total == 0


SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
GLUE = Path(__file__).resolve().parents[1] / "fixtures" / "crash" / "glue"
REPORTS = sorted([*SAMPLES.glob("*.txt"), *GLUE.glob("*.txt")])
SEED = "\n".join(SECRETS.values())


def seeded(text: str) -> str:
    """The report with every secret shape appended and its paths moved under user profiles."""
    moved = re.sub(r"(?<![\w\\])[C-Fc-fJjMm]:\\", lambda m: "C:\\Users\\alice\\", text)
    moved = re.sub(r"(?<![\w/])/(?:root|home/ubuntu)/", "/home/bob/", moved)
    return f"{moved}\n\n{SEED}\n"


def signature_of(text: str) -> tuple[str, str]:
    crash = analyse(parse_report(text))
    return crash.signature.id, crash.report.format.value


@pytest.mark.parametrize("path", REPORTS, ids=[p.name for p in REPORTS])
def test_redact_seeded_reports_lose_every_secret_and_keep_their_signature(path: Path) -> None:
    original = path.read_bytes().decode("utf-8", errors="replace")
    dirty = seeded(original)
    clean = redact(dirty)
    for value in SECRET_VALUES:
        assert value not in clean.text, value
    assert "\\Users\\alice" not in clean.text
    assert signature_of(clean.text) == signature_of(original)


def test_redact_seeding_really_moves_frame_paths_under_user_profiles() -> None:
    """Guards the test above: most reports' frame paths must become user-profile paths when seeded."""
    moved = 0
    for path in REPORTS:
        original = path.read_bytes().decode("utf-8", errors="replace")
        body = seeded(original)[: -len(SEED) - 3]
        moved += "\\Users\\alice\\" in body or "/home/bob/" in body
    assert moved >= len(REPORTS) // 2


# -- shapes that used to get through -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # TrinityCore's optional 6th field (ssl) and a password with a space
        ('LoginDatabaseInfo = "db.example.com;3306;trinity;tr1n1ty;auth;ssl"', "tr1n1ty"),
        ('WorldDatabaseInfo     = "db.example.com;3306;acore;s3cr et;acore_world"', "s3cr et"),
        # URL userinfo, whatever the host part looks like
        ('url = "mysql://root:Passw0rd!@10.1.2.3/world"', "Passw0rd!"),
        ("mysql://user:s3cretpw@db.host:3306/auth", "s3cretpw"),
        # GitHub's stateless installation tokens: ghs_<app id>_<JWT>, ~520 characters
        ("token ghs_123456_eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ." + "c" * 60, "c" * 60),
        # a char* local/argument as Wheaty and gdb print it: address, then the string
        ('Parameter std::string const & newPassword = 0x0000005 "hunter3"', "hunter3"),
        (
            '#3  0x5 in AccountMgr::ChangePassword (accountId=5, password=0x7ffd1 "hunter4") at A.cpp:1',
            "hunter4",
        ),
        # an escaped quote inside the quoted value: the whole value goes, not just up to the quote
        (r'password = "hunt\"er5tail"', "er5tail"),
        (r"Local char * passwd = 'it\'s-s3cret'", "s3cret"),
        # gdb's struct form of a std::string local in ``bt full``: the text is in _M_p and _M_local_buf
        (
            "        password = {static npos = 18446744073709551615, _M_dataplus = {<std::allocator<char>> = "
            "{<__gnu_cxx::new_allocator<char>> = {<No data fields>}, <No data fields>}, _M_p = 0x7ffd20 "
            '"hunter6"}, _M_string_length = 7, {_M_local_buf = "hunter6\\000\\000", '
            "_M_allocated_capacity = 3}}",
            "hunter6",
        ),
        (
            'newPassword = {_M_dataplus = {_M_p = 0x55 "a {b} \\"c\\" hunter7"}, _M_string_length = 9}',
            "hunter7",
        ),
        # short and member-style names of the same things
        ('pw = 0x7ffd1 "hunter8"', "hunter8"),
        ('m_pw = "hunter9"', "hunter9"),
        ("m_sessionKey = 9f86d081884c7d659a2feaa0c55ad015", "9f86d081884c7d659a2feaa0c55ad015"),
        ('_sessionKey = {_M_elems = "\\001\\002secretbytes"}', "secretbytes"),
        ("verifier = 0x4a6f686e446f65", "4a6f686e446f65"),
        # an ODBC connection string's password, and a lower-case pwd, are passwords (only PWD/OLDPWD are not)
        ("Driver=MySQL;Uid=sa;Pwd=hunter16;", "hunter16"),
        ("pwd: hunter17", "hunter17"),
        # references, wide and UTF-8 literals, gdb's repeats, containers, pretty-printed structs
        ('password = @0x7ffe: "hunter10"', "hunter10"),
        ('password = @0x7ffe: {_M_p = 0x5 "hunter11"}', "hunter11"),
        ('password = L"hunter12"', "hunter12"),
        ('password = 0x7ffd1 L"hunter13"', "hunter13"),
        ('password = u8"hunter14"', "hunter14"),
        ("password = 'x' <repeats 24 times>, \"1234tail\"", "1234tail"),
        ("session_key = std::vector of length 3, capacity 3 = {115 's', 51 '3', 99 'c'}", "115 's'"),
        (
            'password = {\n  _M_dataplus = {\n    _M_p = 0x555 "hunter15"\n  },\n  _M_string_length = 8\n}',
            "hunter15",
        ),
    ],
)
def test_redact_secret_shapes_leave_nothing(text: str, secret: str) -> None:
    out = redact(text, ip_addresses=False, emails=False).text
    assert secret not in out, out
    assert "[REDACTED" in out


@pytest.mark.parametrize(
    "text",
    [
        "upward = 5, power = 7, pwrLevel = 3, spw = 1",  # ``pw`` only as a whole name
        "m_session = 0x5, keyring = 3",
        'this = 0x55555, unit = {m_guid = 5, m_name = "Arthas"}',  # a struct whose name is not a secret
        "m_passengers = {_M_t = {_M_impl = 5}}, passengers = 3, Passive = 1",  # ``pass`` is not ``passengers``
        "#4  0x55 in PassiveAI::UpdateAI (diff=5) at ../src/server/game/AI/CoreAI/PassiveAI.cpp:30",
        "#5  0x56 in SessionKeyGenerator::Generate () at src/common/Cryptography/SessionKeyGenerator.h:30",
        "        password = <optimized out>",  # gdb has no value: nothing to hide, nothing to mangle
        "PWD=/srv/build/worldserver OLDPWD=/srv/build",  # the shell's working directories, in build logs
    ],
)
def test_redact_names_that_only_resemble_secret_names_are_kept(text: str) -> None:
    assert redact(text, ip_addresses=False, emails=False).text == text


@pytest.mark.parametrize(
    "text",
    [
        "password = {" * 200_000,
        "password = {" + '"\\' * 300_000,
        'password = "' + "\\\\" * 300_000 + "\n" + "pw = {" * 100_000,
    ],
    ids=["nested-opens", "quotes-and-escapes", "escapes-then-opens"],
)
def test_redact_hostile_secret_values_finish_and_leave_nothing_after_the_name(text: str) -> None:
    """One pass, linear in the text: a megabyte of unclosed values neither hangs nor leaks."""
    out = redact(text).text
    assert out.count("[REDACTED:secret]") >= 1
    assert len(out) < 200


@pytest.mark.parametrize(
    "text",
    [
        "." * 300_000,
        "-" * 300_000,
        "pass." * 60_000,
        ".password-x" * 27_000,
        "a-" * 150_000 + "pass",
        '"a.password.b" ' * 20_000,
        "pw_" * 100_000,
    ],
    ids=["dots", "dashes", "pass-dot", "dot-password-dash", "dash-run-then-word", "quoted-names", "pw"],
)
def test_redact_long_runs_of_name_characters_finish(text: str) -> None:
    """Names, hosts and URL schemes are matched from the start of their run only and possessively: linear
    (a fraction of a second here), where backtracking took seconds per 20 KB and hours per 300 KB."""
    assert len(redact(text).text) > 0


def test_redact_struct_value_keeps_the_line_after_it_balanced() -> None:
    line = 'f (password = {_M_p = 0x5 "x}y"}, id = 7) at A.cpp:3'
    assert redact(line).text == "f (password = [REDACTED:secret], id = 7) at A.cpp:3"


# -- issue 11: the shapes a security review found still leaking -------------------------------------------

ISSUE_11_SHAPES = [
    ("srp6 session key", 'K = {_M_elems = "\\022\\064\\377\\001abcdefghijklmnop"}, other = 5', "\\022\\064"),
    ("srp6 verifier bignumber", "v = {_bn = 0x56a1b2c3d4e5f60718293a4b5c6d7e8f9}", "0x56a1b2"),
    ("srp6 private ephemeral", 'this->_b = "' + "\\x01\\x02" * 16 + '"', "\\x01\\x02"),
    ("srp6 salt", "s = 0x0123456789abcdef0123456789abcdef01", "0123456789abcdef"),
    ("gm set password", ".account set password bob Hunter22 Hunter22", "Hunter22"),
    ("gm set password account name", ".account set password bob Hunter22 Hunter22", "bob"),
    ("gm create in soap", "SOAP: account create alice Secr3t!", "Secr3t!"),
    ("gm create account name", "SOAP: account create alice Secr3t!", "alice"),
    (
        "gm text in an assert message",
        'ASSERTION FAILED: ok\n  GM ran ".account create eve Pw0rd9" then',
        "Pw0rd9",
    ),
    ("basic auth header", "Authorization: Basic dXNlcjpwdw==", "dXNlcjpwdw"),
    ("bearer header", "authorization: Bearer abc.def", "abc.def"),
    ("mysql -p", "mysql -uroot -pS3cretPw auth", "S3cretPw"),
    ("mysql --password=", "mysqldump --password=S3cretPw world", "S3cretPw"),
    ("mysql --password value", "mariadb --password S3cretPw", "S3cretPw"),
    (
        "discord webhook",
        "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdef",
        "AbCdEfGh",
    ),
    ("slack webhook", "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "XXXXXXXX"),
    ("signing key env", "CRASHBOT_SIGNING_KEY=0123456789abcdef", "0123456789abcdef"),
    ("custom signing key env", "REALM_SIGNING_KEY: 'abc def'", "abc def"),
    ("hmac env", "UPLOAD_HMAC=zzzz9999", "zzzz9999"),
]


@pytest.mark.parametrize(("kind", "text", "secret"), ISSUE_11_SHAPES, ids=[s[0] for s in ISSUE_11_SHAPES])
def test_redact_issue_11_shapes_leave_nothing(kind: str, text: str, secret: str) -> None:
    out = redact(text).text
    assert secret not in out, out
    assert "[REDACTED:" in out


@pytest.mark.parametrize(
    "text",
    [
        "b = 5, s = 0x7ffd1234",  # a pointer and a number named like SRP6 values are not its values
        "#2 0x55 in Player::Update (this=0x1, p=0x2) at Player.cpp:12",
        "Account::Create failed for id 12",
        "MAX_KEY_COUNT = 8",
    ],
)
def test_redact_issue_11_shapes_keep_lookalikes(text: str) -> None:
    assert redact(text).text == text


@pytest.mark.parametrize(
    "text",
    [
        "A_" * 200_000 + "KEY",
        ".account set password " + "x" * 500_000,
        "mysql " + "-p" * 300_000,
        "Authorization: Basic " * 50_000,
    ],
)
def test_redact_issue_11_shapes_stay_linear_on_hostile_text(text: str) -> None:
    assert redact(text).text  # finishes (pytest-timeout guards it)
