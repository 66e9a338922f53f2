"""The task lifecycle: every (status, event) pair against the reference table, and random walks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasmos.supervisor.errors import InvalidArgument, InvalidTransition
from kasmos.workers.store import fsm
from kasmos.workers.store.fsm import Event as E
from kasmos.workers.store.fsm import ExecutionState
from kasmos.workers.store.fsm import Status as S

# Reference section 4, written out independently of fsm.TRANSITIONS.
EXPECTED = {
    ("ready", "plan_start"): "planning",
    ("ready", "implement_start"): "implementing",
    ("ready", "mark_done"): "done",
    ("ready", "cancel"): "cancelled",
    ("planning", "plan_start"): "planning",
    ("planning", "planner_finished"): "ready",
    ("planning", "cancel"): "cancelled",
    ("implementing", "implement_finished"): "reviewing",
    ("implementing", "cancel"): "cancelled",
    ("reviewing", "review_approved"): "verifying",
    ("reviewing", "review_changes_requested"): "implementing",
    ("reviewing", "cancel"): "cancelled",
    ("verifying", "verify_approved"): "done",
    ("verifying", "verify_failed"): "implementing",
    ("verifying", "cancel"): "cancelled",
    ("done", "start_over"): "planning",
    ("done", "reimplement"): "implementing",
    ("done", "request_review"): "reviewing",
    ("done", "cancel"): "cancelled",
    ("cancelled", "reopen"): "planning",
}
USER_ONLY = {"start_over", "reimplement", "request_review", "cancel", "reopen", "mark_done"}
STAMPS = {
    "planning": "planning_at",
    "implementing": "implementing_at",
    "reviewing": "reviewing_at",
    "verifying": "verifying_at",
    "done": "done_at",
}
BUSY = ExecutionState("wave_running", "coder", 2)


@pytest.mark.parametrize(("status", "event"), list(itertools.product(list(S), list(E))))
def test_every_status_event_pair(status: S, event: E) -> None:
    expected = EXPECTED.get((status.value, event.value))
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            fsm.apply(status, event, BUSY)
        assert f'"{status}"' in info.value.message
        allowed = [e for (s, e) in EXPECTED if s == status.value]
        for name in allowed:
            assert name in info.value.hint
        return
    outcome = fsm.apply(status, event, BUSY)
    assert outcome.after.value == expected
    assert outcome.stamp_column == STAMPS.get(expected)
    if event is E.PLANNER_FINISHED:
        assert outcome.execution == ExecutionState(phase="planned")
    else:
        assert outcome.execution == ExecutionState()


@pytest.mark.parametrize(("status", "event"), [k for k in EXPECTED if k[1] in USER_ONLY])
def test_user_only_events_are_ignored_from_sentinels(status: str, event: str) -> None:
    with pytest.raises(InvalidTransition, match="user-only"):
        fsm.apply(S(status), E(event), ExecutionState(), from_sentinel=True)
    assert fsm.apply(S(status), E(event), ExecutionState()).after.value == EXPECTED[(status, event)]


def test_error_texts_name_status_and_allowed_events() -> None:
    with pytest.raises(InvalidTransition) as info:
        fsm.apply(S.IMPLEMENTING, E.REVIEW_APPROVED, ExecutionState())
    assert info.value.message == 'invalid transition: "implementing" + "review_approved"'
    assert info.value.hint == "allowed from implementing: implement_finished, cancel"


@pytest.mark.parametrize(
    ("text", "event"),
    [
        ("plan-start", E.PLAN_START),
        (" planner_finished ", E.PLANNER_FINISHED),
        ("review-changes", E.REVIEW_CHANGES_REQUESTED),
        ("review_changes", E.REVIEW_CHANGES_REQUESTED),
        ("mark-done", E.MARK_DONE),
    ],
)
def test_event_parsing(text: str, event: E) -> None:
    assert fsm.parse_event(text) is event


def test_unknown_event_lists_valid_ones() -> None:
    with pytest.raises(InvalidArgument) as info:
        fsm.parse_event("launch")
    assert "plan_start" in info.value.hint


def test_forced_planned_is_ready_with_phase() -> None:
    assert fsm.forced("planned") == (S.READY, ExecutionState(phase="planned"), None)
    assert fsm.forced("done") == (S.DONE, ExecutionState(), "done_at")
    with pytest.raises(InvalidArgument):
        fsm.forced("in_orbit")


def test_normalize_execution_drops_inconsistent_phases() -> None:
    assert fsm.normalize_execution(S.READY, BUSY) == ExecutionState()
    assert fsm.normalize_execution(S.READY, ExecutionState("planned")) == ExecutionState("planned")
    assert fsm.normalize_execution(S.IMPLEMENTING, ExecutionState("wave_running", "", 1)) == ExecutionState()
    assert fsm.normalize_execution(S.IMPLEMENTING, BUSY) == BUSY


def test_legacy_statuses_map() -> None:
    assert fsm.parse_status("in_progress") is S.IMPLEMENTING
    assert fsm.parse_status("completed") is S.DONE


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(E)), st.booleans()), max_size=60))
def test_random_event_sequences_stay_in_table_and_keep_timestamps(steps: list[tuple[E, bool]]) -> None:
    """Random events never reach a state outside the table and never lose a timestamp."""
    status, state = S.READY, ExecutionState()
    stamps: dict[str, int] = {}
    clock = 0
    for event, from_sentinel in steps:
        clock += 1
        try:
            outcome = fsm.apply(status, event, state, from_sentinel=from_sentinel)
        except InvalidTransition:
            assert (status.value, event.value) not in EXPECTED or (from_sentinel and event.value in USER_ONLY)
            continue
        assert EXPECTED[(status.value, event.value)] == outcome.after.value
        assert not (from_sentinel and event.value in USER_ONLY)
        before = dict(stamps)
        if outcome.stamp_column:
            stamps[outcome.stamp_column] = clock
        # Stamps only ever get added or move forward; none is lost.
        for column, value in before.items():
            assert stamps[column] >= value
        status, state = outcome.after, outcome.execution
        assert status in fsm.TRANSITIONS
        assert state.phase in ("", "planned")
        if state.phase == "planned":
            assert status is S.READY
