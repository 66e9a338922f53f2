"""Signals: emit (a ``pending`` row), claim-and-apply exactly once, reap stale claims, list.

Claim-and-apply is ONE ``BEGIN IMMEDIATE`` transaction: claim the oldest pending signal of a project,
decide (:mod:`processor`), apply the transition and column updates, write the outbox entries and
audit rows, and mark the signal ``done`` or ``failed`` with its result. A crash anywhere rolls all of
it back, so the signal is still pending and nothing was applied: no transition is repeated and no
side effect is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from kasmos.supervisor.errors import InvalidArgument, NotFound
from kasmos.workers.store import audit, faults, names, timefmt
from kasmos.workers.store.db import Store
from kasmos.workers.store.fsm import ExecutionState, Status, normalize_execution
from kasmos.workers.store.models import Signal, database
from kasmos.workers.store.owner import current_owner, owner_alive
from kasmos.workers.store.processor import Decision, ProcessorSettings, TaskSnapshot, decide
from kasmos.workers.store.records import SignalRecord
from kasmos.workers.store.signal_types import (
    decode_payload,
    is_pre_applied,
    normalize_payload,
    parse_signal_type,
)

STALE_CLAIM_SECONDS = 60.0
SIGNAL_STATUSES = ("pending", "processing", "done", "failed")

_CLAIM_SQL = (
    "UPDATE signals SET status = 'processing', claimed_by = ?, claimed_at = ? "
    "WHERE id = (SELECT id FROM signals WHERE project = ? AND status = 'pending' "
    "ORDER BY created_at ASC, id ASC LIMIT 1) AND status = 'pending' "
    "RETURNING id, plan_file, signal_type, payload"
)


_INSERT_SQL = (
    "INSERT INTO signals (project, plan_file, signal_type, payload, status, created_at) "
    "VALUES (?, ?, ?, ?, 'pending', ?)"
)
_TASK_EXISTS_SQL = "SELECT 1 FROM tasks WHERE project = ? AND filename = ?"


def insert_signal(project: str, task: str, signal_type: str, payload: str) -> int:
    """Insert a pending row (inside the caller's transaction); returns its id. Constant SQL: emitting
    is half of the daemon's hot path."""
    cursor = database.connection().execute(_INSERT_SQL, (project, task, signal_type, payload, timefmt.now()))
    return int(cursor.lastrowid or 0)


def emit(
    store: Store, project: str, type_text: str, task: str, payload: str | None = None
) -> tuple[int, str]:
    """Validate and insert a pending signal. Returns (id, canonical type) once it is committed."""
    kind = parse_signal_type(type_text)
    name = names.normalize(task)
    body = normalize_payload(kind, payload)
    with store.write():
        if store.execute(_TASK_EXISTS_SQL, (project, name)).fetchone() is None:
            raise NotFound(f"task not found: {name}", hint="see `kas task list`")
        return insert_signal(project, name, kind.value, body), kind.value


@dataclass(frozen=True)
class Processed:
    id: int
    task: str
    signal_type: str
    status: str
    result: str
    transition: tuple[str, str] | None
    effects: int


_TASK_SQL = (
    "SELECT id, filename, status, execution_phase, active_agent_type, active_wave, review_cycle "
    "FROM tasks WHERE project = ? AND filename = ?"
)
_OUTBOX_SQL = (
    "INSERT INTO outbox (project, task_file, signal_id, kind, idem_key, payload, status, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
)
_DONE_SQL = "UPDATE signals SET status = ?, result = ?, processed_at = ? WHERE id = ?"
# Columns a decision may write (names come from this set only, never from input).
_TASK_COLUMNS = frozenset(
    {
        "status",
        "execution_phase",
        "active_agent_type",
        "active_wave",
        "latest_review_feedback",
        "planning_at",
        "implementing_at",
        "reviewing_at",
        "verifying_at",
        "done_at",
    }
)


@dataclass(frozen=True)
class _TaskRow:
    id: int
    filename: str
    status: str
    phase: str
    agent: str
    wave: int
    review_cycle: int


def _apply(store: Store, project: str, task: _TaskRow, decision: Decision, signal_id: int, now: str) -> None:
    updates: dict[str, object] = dict(decision.updates)
    execution = decision.execution
    if decision.transition is not None:
        updates["status"] = decision.transition.after.value
        if execution is None:
            execution = decision.transition.execution
        if decision.transition.stamp_column:
            updates[decision.transition.stamp_column] = now
    if execution is not None:
        updates.update(
            execution_phase=execution.phase,
            active_agent_type=execution.agent_type,
            active_wave=execution.wave,
        )
    assignments = [f"{column} = ?" for column in updates if column in _TASK_COLUMNS]
    values = [value for column, value in updates.items() if column in _TASK_COLUMNS]
    if decision.review_cycle_delta:
        assignments.append("review_cycle = review_cycle + ?")
        values.append(decision.review_cycle_delta)
    if assignments:
        store.execute(f"UPDATE tasks SET {', '.join(assignments)} WHERE id = ?", (*values, task.id))
    for effect in decision.effects:
        store.execute(
            _OUTBOX_SQL,
            (
                project,
                task.filename,
                signal_id,
                effect.kind,
                effect.idem_key(project, task.filename),
                effect.model_dump_json(),
                now,
                now,
            ),
        )
    if decision.transition is not None:
        t = decision.transition
        audit.record(
            "plan_transition",
            project,
            task.filename,
            f"{t.before} → {t.after}",
            {"event": t.event.value, "from": t.before.value, "to": t.after.value, "signal_id": signal_id},
            timestamp=now,
        )


def process_next(
    store: Store, project: str, settings: ProcessorSettings, owner: str | None = None
) -> Processed | None:
    """Claim the oldest pending signal of ``project`` and apply it, all in one transaction.

    The statements are constant SQL (no query building): this is the daemon's hot path.
    """
    owner = owner or current_owner()
    with store.write():
        now = timefmt.now()
        row = store.execute(_CLAIM_SQL, (owner, now, project)).fetchone()
        if row is None:
            return None
        signal_id, task_name, kind_text, payload_text = row
        found = store.execute(_TASK_SQL, (project, task_name)).fetchone()
        task = _TaskRow(*found) if found else None
        try:
            kind = parse_signal_type(kind_text)
            payload = decode_payload(payload_text)
            snapshot = None
            if task is not None:
                status = Status(task.status)
                execution = normalize_execution(status, ExecutionState(task.phase, task.agent, task.wave))
                snapshot = TaskSnapshot(task.filename, status, execution, task.review_cycle)
            decision = decide(
                kind, snapshot, payload, settings, task_name=task_name, pre_applied=is_pre_applied(payload)
            )
        except (InvalidArgument, ValueError) as exc:
            decision = Decision(status="failed", result=f"undecodable signal: {exc}")
        if decision.applied and task is not None:
            _apply(store, project, task, decision, signal_id, now)
        transition = None
        if decision.transition is not None:
            transition = (decision.transition.before.value, decision.transition.after.value)
        audit.record(
            "signal_processed",
            project,
            task_name,
            f"{kind_text}: {decision.status}",
            {
                "signal_id": signal_id,
                "status": decision.status,
                "result": decision.result,
                "effects": [e.kind for e in decision.effects] if decision.applied else [],
            },
            level="info" if decision.applied else "warn",
            timestamp=now,
        )
        store.execute(_DONE_SQL, (decision.status, decision.result, now, signal_id))
        faults.point("claim.before_commit")
    return Processed(
        id=signal_id,
        task=task_name,
        signal_type=kind_text,
        status=decision.status,
        result=decision.result,
        transition=transition,
        effects=len(decision.effects) if decision.applied else 0,
    )


def drain(
    store: Store, project: str, settings: ProcessorSettings, owner: str | None = None
) -> list[Processed]:
    owner = owner or current_owner()
    done: list[Processed] = []
    while (item := process_next(store, project, settings, owner)) is not None:
        done.append(item)
    return done


def reap_stale_claims(
    store: Store, *, older_than: float = STALE_CLAIM_SECONDS, project: str | None = None
) -> int:
    """Return to ``pending`` the claims older than ``older_than`` seconds whose owner is gone.

    ``older_than=0`` is the boot-time reclaim: every claim of a dead owner, whatever its age.
    """
    cutoff = timefmt.ago(older_than)
    with store.write():
        query = Signal.select(Signal.id, Signal.claimed_by).where(
            (Signal.status == "processing") & (Signal.claimed_at != "") & (Signal.claimed_at <= cutoff)
        )
        if project is not None:
            query = query.where(Signal.project == project)
        dead = [row.id for row in query if not owner_alive(row.claimed_by)]
        for start in range(0, len(dead), 500):
            Signal.update(status="pending", claimed_by="", claimed_at="").where(
                Signal.id.in_(dead[start : start + 500]) & (Signal.status == "processing")
            ).execute()
    return len(dead)


def list_signals(
    store: Store, project: str, statuses: tuple[str, ...] = ("pending", "processing"), limit: int = 200
) -> list[SignalRecord]:
    for status in statuses:
        if status not in SIGNAL_STATUSES:
            raise InvalidArgument(
                f"unknown signal status {status!r}", hint=f"use {', '.join(SIGNAL_STATUSES)}"
            )
    with store.read():
        query = (
            Signal.select()
            .where((Signal.project == project) & Signal.status.in_(statuses))
            .order_by(Signal.created_at, Signal.id)
            .limit(limit)
        )
        return [SignalRecord.model_validate(row) for row in query]
