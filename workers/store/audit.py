"""The audit log: ``audit_events`` rows written with every transition and signal outcome."""

from __future__ import annotations

import json
from typing import Any

from kasmos.supervisor.errors import InvalidArgument
from kasmos.workers.store import timefmt
from kasmos.workers.store.models import AuditEvent, database
from kasmos.workers.store.records import AuditRecord

MAX_LIMIT = 500
_INSERT = (
    "INSERT INTO audit_events (kind, timestamp, project, plan_file, instance_title, agent_type, "
    "wave_number, task_number, message, detail, level) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def record(
    kind: str,
    project: str,
    plan_file: str = "",
    message: str = "",
    detail: dict[str, Any] | None = None,
    *,
    level: str = "info",
    instance_title: str = "",
    agent_type: str = "",
    wave_number: int = 0,
    task_number: int = 0,
    timestamp: str = "",
) -> None:
    """Insert one audit row (call inside the transaction that made the change).

    Plain SQL: this runs inside every signal claim, where query building would dominate.
    """
    database.connection().execute(
        _INSERT,
        (
            kind,
            timestamp or timefmt.now(),
            project,
            plan_file,
            instance_title,
            agent_type,
            wave_number,
            task_number,
            message,
            json.dumps(detail, ensure_ascii=False, separators=(",", ":")) if detail else "",
            level,
        ),
    )


def list_events(project: str, *, limit: int = 50, kind: str | None = None) -> list[AuditRecord]:
    """Newest first; ``limit`` must be > 0 and is capped at 500."""
    if limit <= 0:
        raise InvalidArgument("limit must be > 0", hint="pass --limit 50")
    query = AuditEvent.select().where(AuditEvent.project == project)
    if kind:
        query = query.where(AuditEvent.kind == kind)
    query = query.order_by(AuditEvent.timestamp.desc(), AuditEvent.id.desc()).limit(min(limit, MAX_LIMIT))
    return [AuditRecord.model_validate(row) for row in query]
