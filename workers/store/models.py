"""Peewee models over the tables of :mod:`kasmos.workers.store.schema`.

The DDL is owned by ``schema.py`` (so the reference layout is exact); these models are for queries.
They bind to :data:`database`, a proxy initialised by :class:`kasmos.workers.store.db.Store`.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    DatabaseProxy,
    FloatField,
    IntegerField,
    Model,
    TextField,
)

database = DatabaseProxy()


class _Base(Model):
    class Meta:
        database = database
        legacy_table_names = False


def _text() -> TextField:
    return TextField(default="")


class Task(_Base):
    id = AutoField()
    project = TextField()
    filename = TextField()
    status = TextField(default="ready")
    description = _text()
    branch = _text()
    topic = _text()
    created_at = _text()
    implemented = _text()
    planning_at = _text()
    implementing_at = _text()
    reviewing_at = _text()
    verifying_at = _text()
    done_at = _text()
    execution_phase = _text()
    active_agent_type = _text()
    active_wave = IntegerField(default=0)
    goal = _text()
    content = _text()
    review_cycle = IntegerField(default=0)
    latest_review_feedback = _text()
    pr_url = _text()
    verified_sha = _text()
    blocked_reason = _text()

    class Meta:
        table_name = "tasks"


class Topic(_Base):
    id = AutoField()
    project = TextField()
    name = TextField()
    created_at = _text()

    class Meta:
        table_name = "topics"


class Subtask(_Base):
    id = AutoField()
    project = TextField()
    plan_filename = TextField()
    task_number = IntegerField()
    title = _text()
    status = TextField(default="pending")

    class Meta:
        table_name = "subtasks"


class Signal(_Base):
    id = AutoField()
    project = _text()
    plan_file = _text()
    signal_type = _text()
    payload = _text()
    status = TextField(default="pending")
    created_at = _text()
    claimed_by = _text()
    claimed_at = _text()
    processed_at = _text()
    result = _text()

    class Meta:
        table_name = "signals"


class AuditEvent(_Base):
    id = AutoField()
    kind = TextField()
    timestamp = TextField()
    project = _text()
    plan_file = _text()
    instance_title = _text()
    agent_type = _text()
    wave_number = IntegerField(default=0)
    task_number = IntegerField(default=0)
    message = _text()
    detail = _text()
    level = TextField(default="info")

    class Meta:
        table_name = "audit_events"


class Instance(_Base):
    id = TextField(primary_key=True)
    title = TextField()
    project = TextField()
    task_file = _text()
    role = _text()
    program = _text()
    execution_mode = TextField(default="tmux")
    worktree_path = _text()
    branch = _text()
    tmux_session = _text()
    pid = IntegerField(default=0)
    pid_started_at = FloatField(default=0)
    resume_id = _text()
    status = TextField(default="created")
    restart_count = IntegerField(default=0)
    last_exit_code = IntegerField(null=True)
    created_at = _text()
    updated_at = _text()
    started_at = _text()
    exited_at = _text()

    class Meta:
        table_name = "instances"


class OutboxEntry(_Base):
    id = AutoField()
    project = TextField()
    task_file = _text()
    signal_id = IntegerField(default=0)
    kind = TextField()
    idem_key = TextField()
    payload = _text()
    status = TextField(default="pending")
    attempts = IntegerField(default=0)
    last_error = _text()
    created_at = _text()
    updated_at = _text()

    class Meta:
        table_name = "outbox"
