"""The audit log: ``audit_events`` rows written with every transition and signal outcome."""

from __future__ import annotations

import json
from typing import Any

from kasmos.supervisor.errors import InvalidArgument
from kasmos.workers.store import timefmt
from kasmos.workers.store.models import AuditEvent
from kasmos.workers.store.records import AuditRecord

MAX_LIMIT = 500


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
) -> None:
    """Insert one audit row (call inside the transaction that made the change)."""
    AuditEvent.insert(
        kind=kind,
        timestamp=timefmt.now(),
        project=project,
        plan_file=plan_file,
        instance_title=instance_title,
        agent_type=agent_type,
        wave_number=wave_number,
        task_number=task_number,
        message=message,
        detail=json.dumps(detail, ensure_ascii=False, separators=(",", ":")) if detail else "",
        level=level,
    ).execute()


def list_events(project: str, *, limit: int = 50, kind: str | None = None) -> list[AuditRecord]:
    """Newest first; ``limit`` must be > 0 and is capped at 500."""
    if limit <= 0:
        raise InvalidArgument("limit must be > 0", hint="pass --limit 50")
    query = AuditEvent.select().where(AuditEvent.project == project)
    if kind:
        query = query.where(AuditEvent.kind == kind)
    query = query.order_by(AuditEvent.timestamp.desc(), AuditEvent.id.desc()).limit(min(limit, MAX_LIMIT))
    return [AuditRecord.of(row) for row in query]
