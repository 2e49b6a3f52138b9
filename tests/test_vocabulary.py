"""crashbot's GitHub vocabulary: the names a run writes are the names a later run, another part of
crashbot or a person finds again (labels, markers, the fix branch, the commit trailer)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.init import template_text
from bot.vocabulary import (
    ANALYSIS,
    CRASH_LABEL,
    FIX_LABELS,
    FIX_RECORD,
    FIX_RESULT,
    HMAC,
    HUMAN_PUSHED,
    LABEL_SPECS,
    PAYLOAD,
    REQUIRED_LABELS,
    SEEN_AGAIN,
    TOKENS,
    Marker,
    branch_from_labels,
    deploy_marker,
    fix_branch,
    has_any_marker,
    is_bot_commit,
    label_spec,
    realm_down_label,
    sig_label,
    trailer,
)

HEAD, BASE = "f" * 40, "a" * 40
MARKERS = (PAYLOAD, HMAC, SEEN_AGAIN, ANALYSIS, FIX_RESULT, TOKENS, HUMAN_PUSHED, FIX_RECORD)

# -- the fix branch and commits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature_id", "branch"),
    [
        ("0123456789abcdef", "crashfix/0123456789abcdef"),
        ("ABCDEF012345", "crashfix/abcdef012345"),
        ("weird id/../x", "crashfix/weird-id-..-x"),
    ],
)
def test_branch_for_cleans_the_id_like_the_sig_label(signature_id: str, branch: str) -> None:
    assert fix_branch(signature_id) == branch
    assert branch_from_labels(["crash", sig_label(signature_id)]) == branch


def test_branch_from_labels_without_sig_label_is_none() -> None:
    assert branch_from_labels(["crash", "sig:"]) is None


def test_is_bot_commit_needs_the_trailer_for_this_signature() -> None:
    assert is_bot_commit(f"Fix crash\n\nFixes #1\n\n{trailer('abc')}\n", "abc")
    assert not is_bot_commit(f"Fix crash\n\n{trailer('other')}\n", "abc")
    assert not is_bot_commit("Alice's tweak", "abc")


@given(st.text(max_size=80))
def test_the_fix_branch_derives_from_the_sig_label_alone(signature_id: str) -> None:
    label = sig_label(signature_id)
    if label == "sig:":  # nothing of the id survives cleaning: no branch can be named from it
        assert branch_from_labels([label]) is None
        return
    assert branch_from_labels(["crash", label, "realm:main"]) == fix_branch(signature_id)
    assert len(label) <= 50


# -- labels -----------------------------------------------------------------------------------------------


def test_every_label_spec_is_one_github_accepts() -> None:
    specs = (*LABEL_SPECS, *FIX_LABELS, *REQUIRED_LABELS, realm_down_label("x" * 80))
    for spec in (*specs, label_spec("sig:abc"), label_spec("realm:main"), label_spec("other")):
        assert re.fullmatch(r"[0-9a-f]{6}", spec.color), spec
        assert 0 < len(spec.description) <= 100, spec
        assert 0 < len(spec.name) <= 50, spec
    assert len({s.name for s in (*LABEL_SPECS, *FIX_LABELS)}) == len(LABEL_SPECS) + len(FIX_LABELS)


def test_label_spec_of_a_named_label_is_the_one_doctor_creates() -> None:
    """The uploader creates labels one by one as it uses them, doctor all at once: the same spec."""
    for spec in (*REQUIRED_LABELS, *FIX_LABELS, *LABEL_SPECS):
        assert label_spec(spec.name) == spec
    assert [s.name for s in REQUIRED_LABELS] == ["crash", "crash-fix", "regression", "fix-deployed"]


def test_the_fix_workflow_init_writes_starts_on_the_crash_label_the_uploader_sets() -> None:
    workflow = template_text("workflows", "crash-fix.yml")
    assert f"github.event.label.name == '{CRASH_LABEL}'" in workflow


def test_realm_down_label_is_per_realm_and_never_empty() -> None:
    assert realm_down_label("Black Rock").name == "realm-down:black-rock"
    assert realm_down_label("!!!").name == "realm-down:default"
    assert realm_down_label("Black Rock") != realm_down_label("Other")


# -- markers ----------------------------------------------------------------------------------------------


def test_markers_are_distinct_html_comments_in_crashbots_namespace() -> None:
    assert len({m.name for m in MARKERS}) == len(MARKERS)
    for m in MARKERS:
        assert m.tag == f"<!-- {m.name} -->"
        assert has_any_marker(f"text\n{m.tag}\nmore") and has_any_marker(m.render("v"))
        # no marker's tag is found inside another's: finding one never finds the wrong comment
        assert not any(m.in_text(other.tag) for other in MARKERS if other != m)
    assert not has_any_marker("<!-- a person's own comment -->")


@pytest.mark.parametrize(
    ("marker", "value", "value_re"),
    [
        (TOKENS, "220", r"(\d{1,12})"),
        (HMAC, "ab" * 32, r"(\S+)"),
        (FIX_RECORD, "eyJzaWciOiJhYmMifQ==", r"([A-Za-z0-9+/=]+)"),
    ],
)
def test_a_marker_with_a_value_reads_back_what_it_rendered(marker: Marker, value: str, value_re: str) -> None:
    body = f"Result\n\n{marker.render(value)}\n"
    found = marker.pattern(value_re).search(body)
    assert found is not None and found[1] == value
    assert marker.pattern(value_re).search(f"Result {marker.tag}") is None  # no value, no match


def test_loose_marker_counts_every_spelling_of_an_opening() -> None:
    body = f"{PAYLOAD.render('v1 abc')}\n<!--crashbot:payload v1 x -->\n<!--   crashbot:payload-->\n"
    assert len(PAYLOAD.loose().findall(body)) == 3
    assert PAYLOAD.loose().findall("<!-- crashbot:payloads -->") == []


def test_deploy_marker_is_an_html_comment_safe_token_per_kind_realm_and_sha() -> None:
    made = deploy_marker("deployed", "Black Rock--EU", HEAD).name
    assert "--" not in made and " " not in made.replace("crashbot:deployed ", "")
    assert made != deploy_marker("deployed", "other", HEAD).name
    assert made != deploy_marker("deployed", "Black Rock--EU", BASE).name
    assert deploy_marker("deployed", "r", HEAD).tag != deploy_marker("deploy-failed", "r", HEAD).tag


def test_read_deploy_markers_reads_back_realm_and_sha() -> None:
    from bot.vocabulary import deploy_marker, read_deploy_markers

    text = "x\n" + deploy_marker("deployed", "main realm", "abcdef1234567").tag + "\nDeployed"
    assert read_deploy_markers("deployed", text) == [("main_realm", "abcdef1234567")]
    assert read_deploy_markers("deploy-failed", text) == []
