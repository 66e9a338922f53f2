"""Pydantic records that leave the store (CLI --json output, wire replies later)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from kasmos.workers.store import fsm
from kasmos.workers.store.models import Task


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
            status: fsm.Status | None = fsm.Status(row.status)
        except ValueError:
            status = None
        state = fsm.ExecutionState(row.execution_phase, row.active_agent_type, row.active_wave)
        lifecycle = fsm.lifecycle_phrase(status, state, row.review_cycle) if status else row.status
        fields = {name: getattr(row, name) for name in cls.model_fields if name != "lifecycle"}
        return cls(lifecycle=lifecycle, **fields)


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
