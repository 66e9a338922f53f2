"""Instance records: durable agent records, one per (project, title).

Statuses: ``starting``, ``idle``, ``busy``, ``waiting-for-approval``, ``restarting`` (between a crash
and its relaunch) — all *live*, meaning a session worker watches them and the daemon re-adopts them
after a restart — then ``exited``, ``crashed`` (gave up), ``lost`` (session gone, not relaunched),
``stopped``, ``paused`` (worktree removed, branch kept), ``killed``, and the outbox's
``pending-launch``/``stop-requested``. A title is found exactly or by a unique substring.
"""

from __future__ import annotations

import uuid
from typing import Any

from kasmos.supervisor.errors import Conflict, InvalidArgument, NotFound
from kasmos.workers.store import timefmt
from kasmos.workers.store.db import Store

LIVE = ("starting", "idle", "busy", "waiting-for-approval", "restarting", "waiting")  # waiting: before v4
REPLACEABLE = ("killed", "exited", "crashed", "lost", "stopped")
FIELDS = (
    "id", "title", "project", "task_file", "role", "program", "execution_mode", "worktree_path", "branch",
    "tmux_session", "tmux_socket", "repo_path", "pid", "status", "restart_count", "last_exit_code",
    "resume_id", "model", "skip_permissions",
    "created_at", "updated_at", "started_at", "exited_at",
)  # fmt: skip
UPDATABLE = frozenset(
    {"status", "pid", "last_exit_code", "restart_count", "started_at", "exited_at", "worktree_path",
     "tmux_session", "program", "resume_id", "execution_mode"}
)  # fmt: skip
_SELECT = f"SELECT {', '.join(FIELDS)} FROM instances"


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(FIELDS, row, strict=True))


def create(store: Store, fields: dict[str, Any]) -> dict[str, Any]:
    now = timefmt.now()
    project, title = fields["project"], fields["title"]
    existing = store.execute(
        "SELECT id, status FROM instances WHERE project = ? AND title = ?", (project, title)
    ).fetchone()
    if existing is not None:
        if existing[1] not in REPLACEABLE:
            raise Conflict(
                f"instance title already exists: {title} ({existing[1]})",
                hint="choose another title, or kill the existing instance first",
            )
        store.execute("DELETE FROM instances WHERE id = ?", (existing[0],))
    record = {k: fields.get(k, "") for k in FIELDS if k not in ("pid", "restart_count", "last_exit_code")}
    record.update(
        id=uuid.uuid4().hex, status=fields.get("status", "starting"), created_at=now, updated_at=now
    )
    record["execution_mode"] = fields.get("execution_mode") or "tmux"
    record["skip_permissions"] = int(bool(fields.get("skip_permissions")))
    columns = ", ".join(record)
    store.execute(
        f"INSERT INTO instances ({columns}) VALUES ({', '.join('?' * len(record))})", tuple(record.values())
    )
    return get_by_id(store, record["id"])


def get_by_id(store: Store, instance_id: str) -> dict[str, Any]:
    row = store.execute(f"{_SELECT} WHERE id = ?", (instance_id,)).fetchone()
    if row is None:
        raise NotFound(f"instance {instance_id} not found")
    return _row(row)


def find(store: Store, project: str, title: str) -> dict[str, Any]:
    """Exact title, else the one title containing ``title``; several → an error naming them."""
    row = store.execute(f"{_SELECT} WHERE project = ? AND title = ?", (project, title)).fetchone()
    if row is not None:
        return _row(row)
    rows = [
        _row(r)
        for r in store.execute(f"{_SELECT} WHERE project = ? ORDER BY title", (project,)).fetchall()
        if title and title in r[1]
    ]
    if len(rows) == 1:
        return rows[0]
    if rows:
        names = ", ".join(r["title"] for r in rows[:10])
        raise InvalidArgument(f"ambiguous instance {title!r}: matches {names}", hint="give more of the title")
    raise NotFound(f"instance not found: {title}", hint="see `kas instance list`")


def update(store: Store, instance_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in fields.items() if k in UPDATABLE}
    if changes:
        changes["updated_at"] = timefmt.now()
        assignments = ", ".join(f"{k} = ?" for k in changes)
        store.execute(f"UPDATE instances SET {assignments} WHERE id = ?", (*changes.values(), instance_id))
    return get_by_id(store, instance_id)


def delete(store: Store, instance_id: str) -> None:
    store.execute("DELETE FROM instances WHERE id = ?", (instance_id,))


def live(store: Store) -> list[dict[str, Any]]:
    placeholders = ", ".join("?" * len(LIVE))
    sql = f"{_SELECT} WHERE status IN ({placeholders}) ORDER BY title"
    return [_row(r) for r in store.execute(sql, LIVE).fetchall()]


def listing(store: Store, project: str | None, status: str | None) -> list[dict[str, Any]]:
    where, params = [], []
    if project:
        where.append("project = ?")
        params.append(project)
    if status:
        where.append("status = ?")
        params.append(status)
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY title"
    return [_row(r) for r in store.execute(sql, tuple(params)).fetchall()]
