"""Crash -> issue title/body/labels/comments, and body -> verified payload."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.crash.model import Assertion, Environment, ExceptionInfo, Format, Frame, Thread, TopFrame
from bot.crash.resolved import DUMP_MODULES_KEY
from bot.errors import TrustError
from bot.issue import (
    MAX_BODY_CHARS,
    Occurrences,
    Payload,
    labels_for,
    read_payload,
    render_body,
    render_seen_again,
    render_title,
    should_comment,
)
from bot.vocabulary import LABEL_SPECS, label_spec, sig_label
from tests.crashes import make_crash

KEY = b"k" * 32
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OCC = Occurrences().record(T0, host="game1", realm="Main", build="8b1aa4b0d4ee")


def body_of(crash, occ=OCC, repo="owner/server"):
    return render_body(crash, occ, repo=repo, payload_key=KEY)


def visible(body: str) -> str:
    """The body without crashbot's own HTML comments (what report text could have injected into)."""
    return re.sub(r"<!-- crashbot:(payload|hmac) [^>]*-->", "", body)


# ----- title


def test_title_symbolised_access_violation_names_function_and_exception():
    assert render_title(make_crash()) == "crash: Unit::GetMap (EXCEPTION_ACCESS_VIOLATION)"


def test_title_assert_only_uses_assertion_location():
    crash = make_crash(
        frames=(),
        meaningful=(),
        top_frame=None,
        assertion=Assertion(
            condition="minimal_diff >= 0", file="/home/tc/src/server/MoveSpline.cpp", line=253
        ),
    )
    assert render_title(crash) == "crash: MoveSpline.cpp:253 (ASSERTION_FAILURE)"


def test_title_uncaught_exception_names_its_type_and_body_its_message():
    """cmangos/issues#1151: the console lines say what was thrown and nothing else."""
    crash = make_crash(
        frames=(),
        meaningful=(),
        top_frame=None,
        fmt=Format.UNCAUGHT,
        exception=ExceptionInfo(
            "SIGABRT", "uncaught exception", thrown_type="std::domain_error", what="Unrecognized item class"
        ),
    )
    assert render_title(crash) == "crash: Unrecognized item class (std::domain_error)"
    body = render_body(crash, OCC, repo=None, payload_key=KEY)
    assert "| Thrown | `std::domain_error`: Unrecognized item class |" in body


def test_title_unsymbolised_uses_module_plus_offset_and_signal():
    crash = make_crash(
        frames=(Frame(module="worldserver", offset="0x1a06d"),),
        meaningful=(),
        exception=ExceptionInfo(code="SIGSEGV"),
    )
    assert render_title(crash) == "crash: worldserver+0x1a06d (SIGSEGV)"


def test_title_unknown_code_with_localised_name_falls_back_to_code():
    crash = make_crash(exception=ExceptionInfo(code="C0001234", name="Eine Ausnahme ist aufgetreten."))
    assert render_title(crash).endswith("(C0001234)")


def test_title_hostile_function_is_one_safe_line_of_at_most_256_chars():
    evil = "A::B`x`\n@everyone #1 " + "T<" * 400
    crash = make_crash(frames=(Frame(function=evil, module="w.exe"),), meaningful=(0,))
    title = render_title(crash)
    assert len(title) <= 256
    assert "\n" not in title
    assert "`" not in title
    assert "@everyone" not in title
    assert "#1" not in title
    assert title.endswith("(EXCEPTION_ACCESS_VIOLATION)")


# ----- labels


@pytest.mark.parametrize(
    ("exception", "assertion", "kind"),
    [
        (ExceptionInfo("C0000005"), None, "crash:access-violation"),
        (ExceptionInfo("SIGSEGV"), None, "crash:access-violation"),
        (ExceptionInfo("C00000FD"), None, "crash:stack-overflow"),
        (ExceptionInfo("SIGABRT"), None, "crash:abort"),
        (ExceptionInfo("E06D7363"), None, "crash:cxx-exception"),
        (ExceptionInfo("SIGUSR2"), None, "crash:signal"),
        (ExceptionInfo("C0000420"), Assertion(condition="x"), "crash:assert"),
        (ExceptionInfo("SIGSEGV"), Assertion(condition="x"), "crash:assert"),
        (None, Assertion(condition="x"), "crash:assert"),
        (ExceptionInfo("DEADBEEF"), None, "crash:exception"),
        (ExceptionInfo("SIGABRT", thrown_type="std::domain_error", what="x"), None, "crash:cxx-exception"),
    ],
)
def test_labels_kind_follows_exception_and_assertion(exception, assertion, kind):
    crash = make_crash(exception=exception, assertion=assertion)
    assert labels_for(crash, realm=None) == ("crash", "sig:0123456789abcdef", kind)


def test_labels_realm_is_sanitised_and_everything_fits_fifty_chars():
    crash = make_crash(signature_id="ab" * 32)
    labels = labels_for(crash, realm="  Blackrock / PvP Realm!!  " + "x" * 80)
    assert labels[3].startswith("realm:blackrock-pvp-realm-")
    assert all(len(label) <= 50 for label in labels)
    assert labels[1] == sig_label("ab" * 32) == ("sig:" + "ab" * 32)[:50]


def test_labels_blank_realm_adds_no_realm_label():
    assert len(labels_for(make_crash(), realm=" !! ")) == 3


def test_label_specs_cover_every_kind_with_valid_colour_and_description():
    names = {spec.name for spec in LABEL_SPECS}
    for code in ("C0000005", "C00000FD", "SIGABRT", "E06D7363", "SIGUSR1", "DEADBEEF", "80000003"):
        kind = labels_for(make_crash(exception=ExceptionInfo(code)), realm=None)[2]
        assert kind in names
    for spec in (*LABEL_SPECS, label_spec("sig:abc"), label_spec("realm:main")):
        assert re.fullmatch(r"[0-9a-f]{6}", spec.color)
        assert 0 < len(spec.description) <= 100
        assert len(spec.name) <= 50


# ----- body


def test_body_links_top_frame_to_source_line_at_revision():
    body = body_of(make_crash())
    url = "https://github.com/owner/server/blob/8b1aa4b0d4ee/src/server/game/Entities/Unit/Unit.cpp#L1234"
    assert f"[`Unit::GetMap`]({url})" in body
    assert "`src/server/game/Entities/Unit/Unit.cpp:1234`" in body


def test_body_without_hash_revision_has_no_source_links():
    body = body_of(make_crash(revision="release-2024"))
    assert "/blob/" not in body


def test_body_server_url_is_used_for_enterprise_links():
    body = render_body(make_crash(), OCC, repo="o/r", server_url="https://ghe.example/", payload_key=KEY)
    assert "https://ghe.example/o/r/blob/8b1aa4b0d4ee/src/" in body


def test_body_summary_shows_signature_occurrences_hosts_and_builds():
    occ = OCC.record(T0 + timedelta(hours=2), host="game2", build="deadbeef1")
    body = body_of(make_crash(), occ)
    # the count, then both crashes on May 1 as the last of 30 days of trend
    assert f"| Occurrences | 2 `{'▁' * 29}█` (2024-04-02 … 2024-05-01, UTC) |" in body
    assert "| First seen | 2024-05-01T12:00:00Z |" in body
    assert "| Last seen | 2024-05-01T14:00:00Z |" in body
    assert "| Hosts | `game1`, `game2` |" in body
    assert "`deadbeef1`" in body
    assert "`0123456789abcdef`" in body


def test_body_lists_meaningful_frames_and_faint_skipped_frames():
    body = body_of(make_crash())
    assert re.search(r"^\| 0 \| `Unit::GetMap` \|", body, re.M)
    assert re.search(r"^\| 1 \| <sub>`std::vector<int>::at`</sub> \|", body, re.M)
    assert re.search(r"^\| 3 \| <sub>`ntdll.dll\+0x1a06d`</sub> \|", body, re.M)


def test_body_assertion_is_shown_in_code_blocks():
    crash = make_crash(
        assertion=Assertion(
            condition="minimal_diff >= 0",
            file="/home/tc/src/server/game/Movement/Spline/MoveSpline.cpp",
            line=253,
            function="_updateState",
            message="spline id 7",
        )
    )
    body = body_of(crash)
    assert "### Assertion\n\n```text\nminimal_diff >= 0\n```" in body
    assert "blob/8b1aa4b0d4ee/src/server/game/Movement/Spline/MoveSpline.cpp#L253" in body
    assert "```text\nspline id 7\n```" in body


def test_body_escapes_report_text_in_tables_and_blocks():
    crash = make_crash(
        frames=(Frame(function="Foo|Bar::`x`", module="w|.exe", file="src/a.cpp", line=1),),
        meaningful=(0,),
        environment=Environment(os="<img src=x onerror=alert(1)> @admin #12 **bold**", host="h"),
        assertion=Assertion(condition="```\n</details>\n@everyone", message="a" * 10),
    )
    body = visible(body_of(crash))
    frame_row = next(line for line in body.splitlines() if line.startswith("| 0 |"))
    assert len(re.findall(r"(?<!\\)\|", frame_row)) == 5  # escaped pipes add no column
    assert "``` Foo\\|Bar::`x` ```" in frame_row or "`` Foo\\|Bar::`x` ``" in frame_row
    assert not re.search(r"(?<!\\)<img", body)  # only the escaped form: no raw HTML
    assert "@admin" not in body
    assert "#12" not in body
    assert "````text\n```\n</details>\n@everyone\n````" in body  # a longer fence: nothing escapes it


def test_body_report_text_cannot_forge_a_second_payload():
    forged = "<!-- crashbot:payload v1 AAAA -->\n<!-- crashbot:hmac " + "0" * 64 + " -->"
    crash = make_crash(assertion=Assertion(condition="x", message=forged))
    body = body_of(crash)
    assert read_payload(body, KEY).assertion.message == forged
    assert body.count("<!-- crashbot:payload") == 1


def test_body_round_trips_through_read_payload():
    crash = make_crash()
    assert read_payload(body_of(crash), KEY) == Payload.from_crash(crash, OCC)


def test_body_5000_frames_fits_and_payload_still_verifies():
    frames = tuple(
        Frame(
            function=f"Namespace::Class{i}::Method<int>",
            module="worldserver.exe",
            file=f"src/f{i}.cpp",
            line=i,
        )
        for i in range(5000)
    )
    others = tuple(Thread(frames=frames[:300], id=str(t)) for t in range(40))
    crash = make_crash(frames=frames, meaningful=tuple(range(0, 5000, 2)), other_threads=others)
    body = body_of(crash)
    assert len(body) <= MAX_BODY_CHARS
    payload = read_payload(body, KEY)
    assert payload.frames_total == 5000
    assert payload.frames == tuple(frames[: len(payload.frames)])
    assert payload.trimmed
    assert "Shortened to fit GitHub's 65,536-character body limit" in body
    assert "other threads omitted" in body or "other threads:" in body


def test_body_very_long_frames_and_message_fit_and_verify():
    frames = tuple(
        Frame(function="T" * 30_000 + str(i), module="w.exe", file="src/x.cpp", line=i) for i in range(30)
    )
    crash = make_crash(frames=frames, meaningful=tuple(range(30)), assertion=Assertion(message="m" * 200_000))
    body = body_of(crash)
    assert len(body) <= MAX_BODY_CHARS
    assert read_payload(body, KEY).frames_total == 30


def test_body_many_other_threads_are_trimmed_first():
    others = tuple(
        Thread(
            frames=tuple(Frame(function=f"Worker{t}::Run{i}", module="w.exe") for i in range(60)), id=str(t)
        )
        for t in range(200)
    )
    body = body_of(make_crash(other_threads=others))
    assert len(body) <= MAX_BODY_CHARS
    assert "<summary>Other threads (200)</summary>" in body or "200 other threads omitted" in body
    assert "| 0 | `Unit::GetMap` |" in body  # the crashing thread is intact
    assert "| 1 | <sub>" in body  # skipped frames still listed: threads went first


# ----- read_payload failures


def test_read_payload_missing_raises_trust_error():
    with pytest.raises(TrustError, match="no crashbot payload"):
        read_payload("a human wrote this", KEY)


def test_read_payload_edited_body_raises_trust_error():
    body = body_of(make_crash())
    b64 = re.search(r"crashbot:payload v1 (\S+)", body).group(1)
    tampered = body.replace(b64, b64[:20] + ("A" if b64[20] != "A" else "B") + b64[21:])
    with pytest.raises(TrustError):
        read_payload(tampered, KEY)


def test_read_payload_wrong_key_raises_trust_error():
    with pytest.raises(TrustError, match="does not verify"):
        read_payload(body_of(make_crash()), b"not the key")


def test_read_payload_two_payloads_raise_trust_error():
    body = body_of(make_crash())
    with pytest.raises(TrustError, match="more than one"):
        read_payload(body + "\n" + body, KEY)


# ----- hypothesis: any report text renders within budget and reads back exactly

_odd_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=0,
    max_size=300,
) | st.sampled_from(["`", "```", "|", "<!--", "-->", "@everyone", "#1", "\u202e", "𝔘𝔫𝔦𝔱", "\r\n", "\\"])

_frames = st.lists(
    st.builds(
        Frame,
        function=st.none() | _odd_text,
        module=st.none() | _odd_text,
        file=st.none() | _odd_text,
        line=st.none() | st.integers(0, 10**6),
        offset=st.none() | _odd_text,
        inline=st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=_frames, message=st.none() | _odd_text, host=_odd_text, code=_odd_text)
def test_body_any_text_round_trips_within_budget(frames, message, host, code):
    frames = tuple(frames)
    crash = make_crash(
        frames=frames,
        meaningful=tuple(range(0, len(frames), 3)),
        exception=ExceptionInfo(code=code or "X", name=message),
        assertion=Assertion(condition=message, message=message) if message is not None else None,
        top_frame=TopFrame(frames[0].function, frames[0].file, frames[0].line) if frames else None,
    )
    occ = Occurrences().record(T0, host=host or None)
    body = render_body(crash, occ, repo="o/r", payload_key=KEY)
    assert len(body) <= MAX_BODY_CHARS
    assert read_payload(body, KEY) == Payload.from_crash(crash, occ)


# ----- seen again


def test_should_comment_nothing_new_is_false():
    occ = OCC.mark_commented(T0)
    assert not should_comment(occ, T0 + timedelta(days=9), 3600)


def test_should_comment_new_occurrences_within_interval_is_false():
    occ = OCC.mark_commented(T0).record(T0 + timedelta(minutes=5))
    assert not should_comment(occ, T0 + timedelta(minutes=30), 3600)


def test_should_comment_new_occurrences_after_interval_is_true():
    occ = OCC.mark_commented(T0).record(T0 + timedelta(minutes=5))
    assert should_comment(occ, T0 + timedelta(hours=1), 3600)


def test_should_comment_never_commented_is_true():
    assert should_comment(OCC, T0, 3600)


def test_seen_again_comment_counts_since_last_comment():
    occ = OCC.mark_commented(T0).record(T0 + timedelta(hours=2), host="game2@evil", count=3)
    text = render_seen_again(occ)
    assert text.startswith("<!-- crashbot:seen-again -->")
    assert (
        "Seen again **3** times since 2024-05-01T12:00:00Z (**4** in total; last at 2024-05-01T14:00:00Z)"
        in text
    )
    assert "Hosts: `game1`, `game2@evil`" in text
    assert "Builds: `8b1aa4b0d4ee`" in text


# ----- a body rendered again from its payload (runner symbolication, alias counting, dashboard history)


def _host_crash():
    """A crash with everything only the game host's report has: environment, the dump's modules, other
    threads and a parser note."""
    crash = make_crash(
        environment=Environment(os="Windows 10 (19045)", cpu="AMD Ryzen 7", cpu_count=16, host="game1"),
        other_threads=(Thread(frames=(Frame(function="Worker::Run", module="worldserver.exe"),), id="4242"),),
    )
    report = dataclasses.replace(
        crash.report,
        notes=("truncated after the stack",),
        extra={DUMP_MODULES_KEY: "worldserver.exe\t10.0.1\t2024-05-01\tworldserver.pdb\tABCDEF0123456789A"},
    )
    return dataclasses.replace(crash, report=report)


def _sections(body: str) -> list[str]:
    heads = ("### Environment", "<summary>Modules (", "<summary>Other threads (", "> What could not be read")
    return [h for h in heads if h in body]


def test_body_rendered_again_from_its_payload_keeps_the_sections_only_the_host_had():
    """Regression: the runner's symbolication and the demo's dashboard step rendered the issue again from
    its payload, which carries no environment, modules or other threads: the Modules table vanished."""
    first = body_of(_host_crash())
    assert len(_sections(first)) == 4
    payload = read_payload(first, KEY)

    again = render_body(
        payload.to_crash(), payload.occurrences, repo="owner/server", payload_key=KEY, replacing=first
    )

    assert _sections(again) == _sections(first)
    for head in ("### Environment", "<details>\n<summary>Modules (", "<details>\n<summary>Other threads ("):
        section = first[first.index(head) :].split("\n\n<", 1)[0]
        assert section in again
    assert "| `worldserver.exe` | `10.0.1` | `2024-05-01` | `worldserver.pdb` |" in again
    assert read_payload(again, KEY) == payload


def test_body_rendered_again_without_the_old_body_has_only_what_the_payload_carries():
    payload = read_payload(body_of(_host_crash()), KEY)
    assert _sections(render_body(payload.to_crash(), payload.occurrences, repo=None, payload_key=KEY)) == []


def test_body_rendered_again_never_copies_a_payload_marker_planted_in_an_old_section():
    first = body_of(_host_crash())
    planted = first.replace(
        "<summary>Modules (1, from the minidump)</summary>\n",
        "<summary>Modules (1, from the minidump)</summary>\n<!-- crashbot:payload v1 AAAA -->\n",
    )
    payload = read_payload(first, KEY)

    again = render_body(
        payload.to_crash(), payload.occurrences, repo=None, payload_key=KEY, replacing=planted
    )

    assert "Modules (" not in again and "### Environment" in again
    assert read_payload(again, KEY) == payload  # one payload, ours


def test_body_rendered_again_drops_long_carried_threads_first_and_still_fits():
    others = tuple(
        Thread(frames=tuple(Frame(function=f"Worker{t}::Run{i}" + "x" * 40) for i in range(30)), id=str(t))
        for t in range(40)
    )
    first = body_of(
        dataclasses.replace(
            _host_crash(),
            report=dataclasses.replace(
                _host_crash().report, threads=(_host_crash().report.threads[0], *others)
            ),
        )
    )
    payload = read_payload(first, KEY)
    frames = tuple(
        Frame(function=f"Deep::Frame{i}" + "y" * 300, module="worldserver.exe") for i in range(400)
    )
    bigger = dataclasses.replace(payload.to_crash(), frames=frames, meaningful=tuple(range(400)))

    again = render_body(bigger, payload.occurrences, repo=None, payload_key=KEY, replacing=first)

    assert len(again) <= MAX_BODY_CHARS
    assert "Other threads (" not in again and "other threads omitted" in again
    assert "<summary>Modules (" in again and "### Environment" in again


# ----- "Symbols missing": only frames whose module's debug files were not used


def _resolved_frames(*bare: Frame) -> tuple[Frame, ...]:
    """The server's frames resolved from its PDB (file and line), then ``bare`` frames, then the OS's."""
    return (
        Frame(function="ChatHandler::SendWhisper", module="worldserver.exe", file="src/Chat.cpp", line=28),
        Frame(function="main", module="worldserver.exe", file="src/Main.cpp", line=262),
        *bare,
        Frame(module="kernel32.dll", offset="0001:0000000000026e49"),
    )


def test_body_a_bare_frame_in_code_the_modules_pdb_does_not_describe_is_not_symbols_missing():
    """Regression (``crashbot demo --windows``): MinGW's C runtime startup (``__tmainCRTStartup``) in the
    exe is outside the PDB that resolved the server's own frames, and the issue said "Symbols missing",
    advising to ship the PDB it had just used."""
    crt = Frame(module="worldserver.exe", offset="0001:00000000000003ae")
    crash = make_crash(frames=_resolved_frames(crt), meaningful=(0, 1, 2))

    body = body_of(crash)

    assert "### Symbols missing" not in body
    assert "| 2 | `worldserver.exe+0001:00000000000003ae` |" in body  # still shown as it is


def test_body_bare_frames_of_a_module_without_debug_files_are_the_ones_counted_as_missing():
    crt = Frame(module="worldserver.exe", offset="0001:00000000000003ae")
    script = Frame(module="Scripts.dll", offset="0001:0000000000001234")
    crash = make_crash(frames=_resolved_frames(crt, script), meaningful=(0, 1, 2, 3))

    body = body_of(crash)

    assert "### Symbols missing\n\n1 meaningful frame(s) are bare addresses (such as `Scripts.dll+" in body
    assert "ship the `.pdb` next to `Scripts.dll`" in body


def test_body_every_frame_of_a_module_bare_is_symbols_missing():
    frames = tuple(Frame(module="worldserver.exe", offset=f"0001:00000000000000{i}0") for i in range(1, 4))
    body = body_of(make_crash(frames=frames, meaningful=(0, 1, 2), top_frame=None))
    assert "### Symbols missing\n\n3 meaningful frame(s) are bare addresses" in body
