"""Executing outbox entries: the side effects a processed signal wrote, run exactly once.

Each entry is executed in one ``BEGIN IMMEDIATE`` transaction that first re-reads it and only acts
while it is still ``pending``: executing it again (a replay after a crash, a duplicate request) is a
no-op that reports the recorded outcome. Effects that live in the store are carried out here:

- ``agent.spawn`` records the agent instance (status ``pending-launch``) under its title, keyed by the
  entry's idempotency key, so one signal never yields two agents; session workers launch it.
- ``agent.stop`` marks the named instance ``stop-requested``.
- ``verification.record``, ``review.cycle_limit``, ``planner.draft_recorded`` are recorded (audit).
- orchestration effects with no executor yet (``pr.create``, ``wave.*``, ``task.auto_implement``,
  ``implementation.start``) become ``deferred`` with the reason, visible in ``kas audit list``.
"""

from __future__ import annotations

import json
import uuid

from pydantic import BaseModel

from kasmos.supervisor.errors import NotFound
from kasmos.workers.store import audit, timefmt
from kasmos.workers.store.db import Store

RECORDED = frozenset({"verification.record", "review.cycle_limit", "planner.draft_recorded"})
TERMINAL_INSTANCE = ("exited", "crashed", "stopped", "killed")


class OutboxItem(BaseModel):
    id: int
    project: str
    task: str
    kind: str
    idem_key: str
    status: str


class Executed(OutboxItem):
    note: str
    repeated: bool


_SELECT = "SELECT id, project, task_file, kind, idem_key, status, payload, last_error FROM outbox"


def pending(store: Store, limit: int = 500) -> list[OutboxItem]:
    with store.read():
        rows = store.execute(f"{_SELECT} WHERE status = 'pending' ORDER BY id LIMIT ?", (limit,)).fetchall()
    return [OutboxItem(id=r[0], project=r[1], task=r[2], kind=r[3], idem_key=r[4], status=r[5]) for r in rows]


def _spawn(store: Store, project: str, task: str, effect: dict[str, object], key: str, now: str) -> str:
    title = str(effect.get("title") or key)
    role = str(effect.get("role") or "")
    store.execute(
        "INSERT INTO instances (id, title, project, task_file, role, status, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 'pending-launch', ?, ?) "
        "ON CONFLICT(project, title) DO UPDATE SET status = 'pending-launch', role = excluded.role, "
        f"task_file = excluded.task_file, updated_at = excluded.updated_at "
        f"WHERE instances.status IN {TERMINAL_INSTANCE!r}",
        (uuid.uuid4().hex, title, project, task, role, now, now),
    )
    return f"instance {title} ({role or 'agent'}) pending launch"


def _stop(store: Store, project: str, effect: dict[str, object], now: str) -> str:
    title = str(effect.get("title") or "")
    changed = store.execute(
        "UPDATE instances SET status = 'stop-requested', updated_at = ? WHERE project = ? AND title = ? "
        f"AND status NOT IN {TERMINAL_INSTANCE!r}",
        (now, project, title),
    ).rowcount
    return f"instance {title} stop requested" if changed else f"instance {title} not running"


def execute(store: Store, entry_id: int) -> Executed:
    with store.write():
        row = store.execute(f"{_SELECT} WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise NotFound(f"outbox entry {entry_id} not found")
        _, project, task, kind, key, status, payload, last_error = row
        if status != "pending":
            return Executed(
                id=entry_id, project=project, task=task, kind=kind, idem_key=key,
                status=status, note=last_error, repeated=True,
            )  # fmt: skip
        now = timefmt.now()
        effect = json.loads(payload) if payload else {}
        if kind == "agent.spawn":
            status, note = "done", _spawn(store, project, task, effect, key, now)
        elif kind == "agent.stop":
            status, note = "done", _stop(store, project, effect, now)
        elif kind in RECORDED:
            status, note = "done", f"{kind} recorded"
        else:
            status, note = "deferred", f"{kind}: no executor for this effect in this version of kasmos"
        store.execute(
            "UPDATE outbox SET status = ?, last_error = ?, attempts = attempts + 1, updated_at = ? "
            "WHERE id = ?",
            (status, note, now, entry_id),
        )
        audit.record(
            "outbox_executed",
            project,
            task,
            f"{kind}: {status}",
            {"outbox_id": entry_id, "idem_key": key, "note": note},
            timestamp=now,
        )
    return Executed(
        id=entry_id, project=project, task=task, kind=kind, idem_key=key,
        status=status, note=note, repeated=False,
    )  # fmt: skip
