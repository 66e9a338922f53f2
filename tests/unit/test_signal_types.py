"""Gateway signal types, aliases and payload rules (reference 5.1)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasmos.supervisor.errors import InvalidArgument
from kasmos.workers.store.signal_types import (
    SignalType,
    decode_payload,
    normalize_payload,
    parse_signal_type,
)

T = SignalType
SHA = "a" * 40


def test_fourteen_canonical_types() -> None:
    assert len(list(SignalType)) == 14


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("planner-finished", T.PLANNER_FINISHED),
        ("  review_approved ", T.REVIEW_APPROVED),
        ("review-changes", T.REVIEW_CHANGES_REQUESTED),
        ("architect_finished", T.ELABORATOR_FINISHED),
        ("readiness-approved", T.VERIFY_APPROVED),
        ("master_approved", T.VERIFY_APPROVED),
        ("readiness_changes_requested", T.VERIFY_FAILED),
        ("readiness-changes", T.VERIFY_FAILED),
    ],
)
def test_canonicalisation_and_aliases(text: str, kind: T) -> None:
    assert parse_signal_type(text) is kind


def test_unknown_type_lists_valid_types() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_signal_type("cancel")
    assert "plan_start" in info.value.hint and "retry_wave" in info.value.hint


def test_fsm_payloads() -> None:
    assert normalize_payload(T.PLANNER_FINISHED, "") == ""
    assert normalize_payload(T.PLANNER_FINISHED, None) == ""
    assert normalize_payload(T.REVIEW_CHANGES_REQUESTED, "fix the tests") == '{"body": "fix the tests"}'
    assert normalize_payload(T.ADVANCE_WAVE, '{"x": 1}') == '{"x": 1}'


def test_verify_payload_rules() -> None:
    good = json.dumps({"reviewed_sha": SHA, "reviewed_base_sha": "b" * 40, "origin": "master"})
    assert normalize_payload(T.VERIFY_APPROVED, good) == good
    for bad in ({"reviewed_sha": "ABC"}, {"reviewed_sha": "A" * 40}, {"origin": "robot"}):
        with pytest.raises(InvalidArgument):
            normalize_payload(T.VERIFY_FAILED, json.dumps(bad))


def test_wave_and_task_payloads() -> None:
    ok = '{"wave_number": 2, "task_number": 3}'
    assert normalize_payload(T.IMPLEMENT_TASK_FINISHED, ok) == ok
    assert normalize_payload(T.IMPLEMENT_WAVE, '{"wave_number": 1.0}') == '{"wave_number": 1.0}'
    for bad in (
        "",
        "nope",
        "[]",
        '{"wave_number": 1}',
        '{"wave_number": 1.5, "task_number": 1}',
        '{"wave_number": true, "task_number": 1}',
        '{"wave_number": 0, "task_number": 1}',
    ):
        with pytest.raises(InvalidArgument):
            normalize_payload(T.IMPLEMENT_TASK_FINISHED, bad)


def test_planner_draft_and_elaborator() -> None:
    assert normalize_payload(T.PLANNER_DRAFT_FINISHED, '{"planner_id": "  p1 "}') == '{"planner_id":"p1"}'
    with pytest.raises(InvalidArgument):
        normalize_payload(T.PLANNER_DRAFT_FINISHED, '{"planner_id": "  "}')
    assert normalize_payload(T.ELABORATOR_FINISHED, "") == ""
    with pytest.raises(InvalidArgument):
        normalize_payload(T.ELABORATOR_FINISHED, "x")


def test_nul_and_oversized_payloads_refused() -> None:
    with pytest.raises(InvalidArgument):
        normalize_payload(T.PLAN_START, "a\x00b")
    with pytest.raises(InvalidArgument):
        normalize_payload(T.PLAN_START, "x" * (1024 * 1024 + 1))


@given(st.text(max_size=200))
def test_any_text_payload_normalises_to_decodable_json_or_empty(text: str) -> None:
    if "\x00" in text:
        return
    out = normalize_payload(T.REVIEW_CHANGES_REQUESTED, text)
    decoded = decode_payload(out)
    assert isinstance(decoded, dict)
    if not text.strip():
        assert out == ""
