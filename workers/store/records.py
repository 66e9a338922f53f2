"""Pydantic records that leave the store (CLI --json output, wire replies later)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from kasmos.workers.store import fsm
from kasmos.workers.store.models import OutboxEntry, Task


class TaskRecord(BaseModel):
    project: str
    filename: str
    status: str
    lifecycle: str
    execution_phase: str
    active_agent_type: str
    active_wave: int
    description: str
    branch: str
    topic: str
    goal: str
    review_cycle: int
    latest_review_feedback: str
    pr_url: str
    blocked_reason: str
    created_at: str
    planning_at: str
    implementing_at: str
    reviewing_at: str
    verifying_at: str
    done_at: str

    @classmethod
    def of(cls, row: Task) -> TaskRecord:
        try:
            status = fsm.Status(row.status)
        except ValueError:
            status = None
        state = fsm.ExecutionState(row.execution_phase, row.active_agent_type, row.active_wave)
        lifecycle = fsm.lifecycle_phrase(status, state, row.review_cycle) if status else row.status
        return cls(
            project=row.project,
            filename=row.filename,
            status=row.status,
            lifecycle=lifecycle,
            execution_phase=row.execution_phase,
            active_agent_type=row.active_agent_type,
            active_wave=row.active_wave,
            description=row.description,
            branch=row.branch,
            topic=row.topic,
            goal=row.goal,
            review_cycle=row.review_cycle,
            latest_review_feedback=row.latest_review_feedback,
            pr_url=row.pr_url,
            blocked_reason=row.blocked_reason,
            created_at=row.created_at,
            planning_at=row.planning_at,
            implementing_at=row.implementing_at,
            reviewing_at=row.reviewing_at,
            verifying_at=row.verifying_at,
            done_at=row.done_at,
        )


class SignalRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project: str
    plan_file: str
    signal_type: str
    payload: str
    status: str
    created_at: str
    claimed_by: str
    claimed_at: str
    processed_at: str
    result: str


class AuditRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    timestamp: str
    project: str
    plan_file: str
    instance_title: str
    agent_type: str
    wave_number: int
    task_number: int
    message: str
    detail: str
    level: str


class OutboxRecord(BaseModel):
    id: int
    project: str
    task_file: str
    signal_id: int
    kind: str
    idem_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str
    created_at: str

    @classmethod
    def of(cls, row: OutboxEntry) -> OutboxRecord:
        import json

        fields = {name: getattr(row, name) for name in cls.model_fields if name != "payload"}
        return cls(payload=json.loads(row.payload) if row.payload else {}, **fields)
