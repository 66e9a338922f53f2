"""The task lifecycle state machine (reference section 4). Pure: no I/O.

Statuses: ready, planning, implementing, reviewing, verifying, done, cancelled. ``planned`` is not a
status: it is ``ready`` with ``execution_phase = "planned"``, set only by ``planner_finished``.
Every other transition clears the execution state. Entering planning / implementing / reviewing /
verifying / done stamps the matching ``<status>_at`` column.

User-only events (cancel, start_over, reimplement, request_review, reopen, mark_done) are ignored
when they arrive from filesystem sentinels.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from kasmos.supervisor.errors import InvalidArgument, InvalidTransition


class Status(StrEnum):
    READY = "ready"
    PLANNING = "planning"
    IMPLEMENTING = "implementing"
    REVIEWING = "reviewing"
    VERIFYING = "verifying"
    DONE = "done"
    CANCELLED = "cancelled"


class Event(StrEnum):
    PLAN_START = "plan_start"
    PLANNER_FINISHED = "planner_finished"
    IMPLEMENT_START = "implement_start"
    IMPLEMENT_FINISHED = "implement_finished"
    REVIEW_APPROVED = "review_approved"
    REVIEW_CHANGES_REQUESTED = "review_changes_requested"
    VERIFY_APPROVED = "verify_approved"
    VERIFY_FAILED = "verify_failed"
    START_OVER = "start_over"
    REIMPLEMENT = "reimplement"
    REQUEST_REVIEW = "request_review"
    CANCEL = "cancel"
    REOPEN = "reopen"
    MARK_DONE = "mark_done"


S, E = Status, Event
_M = TypeVar("_M", bound=StrEnum)

TRANSITIONS: dict[Status, dict[Event, Status]] = {
    S.READY: {
        E.PLAN_START: S.PLANNING,
        E.IMPLEMENT_START: S.IMPLEMENTING,
        E.MARK_DONE: S.DONE,
        E.CANCEL: S.CANCELLED,
    },
    S.PLANNING: {
        E.PLAN_START: S.PLANNING,
        E.PLANNER_FINISHED: S.READY,
        E.CANCEL: S.CANCELLED,
    },
    S.IMPLEMENTING: {
        E.IMPLEMENT_FINISHED: S.REVIEWING,
        E.CANCEL: S.CANCELLED,
    },
    S.REVIEWING: {
        E.REVIEW_APPROVED: S.VERIFYING,
        E.REVIEW_CHANGES_REQUESTED: S.IMPLEMENTING,
        E.CANCEL: S.CANCELLED,
    },
    S.VERIFYING: {
        E.VERIFY_APPROVED: S.DONE,
        E.VERIFY_FAILED: S.IMPLEMENTING,
        E.CANCEL: S.CANCELLED,
    },
    S.DONE: {
        E.START_OVER: S.PLANNING,
        E.REIMPLEMENT: S.IMPLEMENTING,
        E.REQUEST_REVIEW: S.REVIEWING,
        E.CANCEL: S.CANCELLED,
    },
    S.CANCELLED: {
        E.REOPEN: S.PLANNING,
    },
}

USER_ONLY_EVENTS: frozenset[Event] = frozenset(
    {E.START_OVER, E.REIMPLEMENT, E.REQUEST_REVIEW, E.CANCEL, E.REOPEN, E.MARK_DONE}
)

EVENT_ALIASES: dict[str, Event] = {
    "review_changes": E.REVIEW_CHANGES_REQUESTED,
}

# Statuses whose entry is stamped in a `<status>_at` column.
PHASE_TIMESTAMP_COLUMNS: dict[Status, str] = {
    S.PLANNING: "planning_at",
    S.IMPLEMENTING: "implementing_at",
    S.REVIEWING: "reviewing_at",
    S.VERIFYING: "verifying_at",
    S.DONE: "done_at",
}

PLANNED_PHASE = "planned"

# `kas task set-status` targets; `planned` means ready + phase planned.
SET_STATUS_TARGETS: tuple[str, ...] = (
    "ready",
    "planned",
    "planning",
    "implementing",
    "reviewing",
    "verifying",
    "done",
    "cancelled",
)

LEGACY_STATUSES: dict[str, Status] = {"in_progress": S.IMPLEMENTING, "completed": S.DONE}


@dataclass(frozen=True)
class ExecutionState:
    phase: str = ""
    agent_type: str = ""
    wave: int = 0


@dataclass(frozen=True)
class Outcome:
    """The result of applying one event: the new status and the execution state to store."""

    before: Status
    event: Event
    after: Status
    execution: ExecutionState
    stamp_column: str | None


def lookup(enum: type[_M], text: str, aliases: dict[str, _M], label: str, plural: str) -> _M:
    """Canonicalise user input to a member of ``enum``: trim, hyphens → underscores, aliases.

    Unknown input raises InvalidArgument listing the valid values.
    """
    key = text.strip().replace("-", "_")
    if key in aliases:
        return aliases[key]
    try:
        return enum(key)
    except ValueError:
        valid = ", ".join(member.value for member in enum)
        raise InvalidArgument(f"unknown {label} {text!r}", hint=f"valid {plural}: {valid}") from None


def parse_event(text: str) -> Event:
    return lookup(Event, text, EVENT_ALIASES, "event", "events")


def parse_status(text: str) -> Status:
    return lookup(Status, text, LEGACY_STATUSES, "status", "statuses")


def allowed_events(status: Status, *, from_sentinel: bool = False) -> list[Event]:
    events = list(TRANSITIONS.get(status, {}))
    if from_sentinel:
        events = [e for e in events if e not in USER_ONLY_EVENTS]
    return events


def check(status: Status, event: Event, *, from_sentinel: bool = False) -> Status:
    """Return the target status of ``event`` from ``status`` or raise InvalidTransition."""
    table = TRANSITIONS.get(status)
    if not table:
        raise InvalidTransition(f'no transitions defined for status "{status}"')
    if from_sentinel and event in USER_ONLY_EVENTS:
        raise InvalidTransition(
            f'event "{event}" is user-only and ignored from sentinel files',
            hint="run `kas task transition` yourself",
        )
    target = table.get(event)
    if target is None:
        allowed = ", ".join(e.value for e in allowed_events(status, from_sentinel=from_sentinel))
        raise InvalidTransition(
            f'invalid transition: "{status}" + "{event}"', hint=f"allowed from {status}: {allowed}"
        )
    return target


def apply(status: Status, event: Event, current: ExecutionState, *, from_sentinel: bool = False) -> Outcome:
    """Apply ``event``: the new status, the execution state (cleared except by planner_finished),
    and the timestamp column to stamp."""
    after = check(status, event, from_sentinel=from_sentinel)
    execution = ExecutionState(phase=PLANNED_PHASE) if event is E.PLANNER_FINISHED else ExecutionState()
    return Outcome(
        before=status,
        event=event,
        after=after,
        execution=execution,
        stamp_column=PHASE_TIMESTAMP_COLUMNS.get(after),
    )


def forced(target: str) -> tuple[Status, ExecutionState, str | None]:
    """``set-status --force``: the status, execution state and stamp for a set-status target."""
    if target == PLANNED_PHASE:
        return S.READY, ExecutionState(phase=PLANNED_PHASE), None
    if target not in SET_STATUS_TARGETS:
        raise InvalidArgument(
            f"invalid status {target!r}", hint=f"valid targets: {', '.join(SET_STATUS_TARGETS)}"
        )
    status = Status(target)
    return status, ExecutionState(), PHASE_TIMESTAMP_COLUMNS.get(status)


def normalize_execution(status: Status, state: ExecutionState) -> ExecutionState:
    """Drop execution phases that are inconsistent with the status (``normalizeExecutionState``)."""
    phase = state.phase
    if status is S.READY:
        return ExecutionState(phase=PLANNED_PHASE) if phase == PLANNED_PHASE else ExecutionState()
    if status in (S.DONE, S.CANCELLED, S.PLANNING):
        return ExecutionState()
    if phase in ("wave_running", "wave_waiting") and (not state.agent_type or state.wave <= 0):
        return ExecutionState()
    if phase == PLANNED_PHASE:
        return ExecutionState(agent_type=state.agent_type, wave=state.wave)
    return state


def lifecycle_phrase(status: Status, state: ExecutionState, review_cycle: int = 0) -> str:
    """The phrase `kas status` shows for a task's position in its lifecycle."""
    phase = state.phase
    if status is S.READY:
        return "planned" if phase == PLANNED_PHASE else "draft"
    phrases = {
        "architecting": "architecting",
        "wave_running": f"wave {state.wave} running",
        "wave_waiting": "waiting for confirmation",
        "single_agent_implementing": "implementing",
        "fixing": f"fixing round {review_cycle}",
        "reviewing": f"reviewing round {review_cycle + 1}",
    }
    return phrases.get(phase, status.value)
