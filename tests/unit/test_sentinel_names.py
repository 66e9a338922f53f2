"""Sentinel file names → signals (pure parsing)."""

from __future__ import annotations

import json

import pytest

from kasmos.workers.store.sentinels import SentinelError, parse
from kasmos.workers.store.signal_types import SignalType as T


def test_fsm_sentinels_carry_body() -> None:
    s = parse("review-changes-auth", "  please fix  \n")
    assert (s.signal_type, s.task, json.loads(s.payload)) == (
        T.REVIEW_CHANGES_REQUESTED,
        "auth",
        {"body": "please fix"},
    )
    assert parse("planner-finished-auth.md", "").task == "auth"
    assert parse("implement-finished-auth", "").payload == ""


def test_wave_sentinels() -> None:
    s = parse("implement-task-finished-w2-t3-auth", "")
    assert s.signal_type is T.IMPLEMENT_TASK_FINISHED and json.loads(s.payload) == {
        "wave_number": 2,
        "task_number": 3,
    }
    w = parse("implement-wave-4-auth", "")
    assert w.signal_type is T.IMPLEMENT_WAVE and json.loads(w.payload) == {"wave_number": 4}
    assert parse("elaborator-finished-auth", "ignored body").payload == ""


@pytest.mark.parametrize(
    "name",
    [
        "random-file",
        "implement-wave-0-auth",
        "implement-task-finished-w1-t0-x",
        "planner-finished-",
        "planner-finished-..",
        "review-approved-a\nb",
    ],
)
def test_bad_sentinels(name: str) -> None:
    with pytest.raises(SentinelError):
        parse(name, "")
