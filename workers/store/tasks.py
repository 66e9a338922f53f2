"""Task operations on an open store: list, create, register, show, transition, set-status, delete,
update-content. Each write is one BEGIN IMMEDIATE transaction that also writes its audit row."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import peewee

from kasmos.supervisor.errors import Conflict, InvalidArgument, NotFound
from kasmos.workers.git.naming import check_branch, task_branch
from kasmos.workers.store import audit, fsm, names, timefmt
from kasmos.workers.store.db import Store
from kasmos.workers.store.models import Task, Topic
from kasmos.workers.store.records import TaskRecord
from kasmos.workers.store.signal_types import EVENT_SIGNALS, PRE_APPLIED_PAYLOAD
from kasmos.workers.store.signals import insert_signal

_GOAL = re.compile(r"^\*\*Goal:\*\*\s*(.+?)\s*$", re.MULTILINE)
_HEADING = re.compile(r"^#\s+(.+?)\s*$", re.MULTILINE)
MAX_CONTENT_BYTES = 8 * 1024 * 1024


def parse_goal(content: str) -> str:
    match = _GOAL.search(content)
    return match.group(1) if match else ""


def _get(project: str, name: str) -> Task:
    row = Task.get_or_none((Task.project == project) & (Task.filename == name))
    if row is None:
        raise NotFound(f"task not found: {name}", hint="see `kas task list`")
    return row


def list_tasks(store: Store, project: str, status: str | None = None) -> list[TaskRecord]:
    """Tasks of ``project`` by filename. Cancelled tasks are hidden unless ``status`` is given."""
    with store.read():
        query = Task.select().where(Task.project == project)
        if status:
            if status == fsm.PLANNED_PHASE:
                query = query.where((Task.status == "ready") & (Task.execution_phase == fsm.PLANNED_PHASE))
            else:
                query = query.where(Task.status == fsm.parse_status(status).value)
        else:
            query = query.where(Task.status != fsm.Status.CANCELLED.value)
        return [TaskRecord.of(row) for row in query.order_by(Task.filename)]


def get_task(store: Store, project: str, name: str) -> TaskRecord:
    with store.read():
        return TaskRecord.of(_get(project, names.normalize(name)))


def task_content(store: Store, project: str, name: str, *, required: bool = True) -> str:
    """A task's markdown; with ``required`` an empty one is a NotFound error."""
    with store.read():
        row = _get(project, names.normalize(name))
    if required and not row.content:
        raise NotFound(f"no content stored for {row.filename}", hint="add it with `kas task update-content`")
    return row.content


def _check_content(content: str) -> str:
    if len(content.encode("utf-8", errors="surrogatepass")) > MAX_CONTENT_BYTES:
        raise InvalidArgument(f"content is larger than {MAX_CONTENT_BYTES} bytes", hint="split the task")
    if "\x00" in content:
        raise InvalidArgument("content contains a NUL byte", hint="pass a text file")
    return content


@dataclass(frozen=True)
class NewTask:
    name: str
    description: str = ""
    branch: str = ""
    topic: str = ""
    content: str = ""
    created_at: str = ""


def create_task(store: Store, project: str, new: NewTask) -> TaskRecord:
    name = names.normalize(new.name)
    branch = check_branch(new.branch) if new.branch else task_branch(name)
    content = _check_content(new.content)
    topic = new.topic.strip()
    if any(ord(c) < 0x20 for c in topic) or len(topic) > 200:
        raise InvalidArgument(f"invalid topic {topic!r}", hint="use a short single-line name")
    now = timefmt.now()
    with store.write():
        if topic:
            Topic.insert(project=project, name=topic, created_at=now).on_conflict_ignore().execute()
        try:
            Task.insert(
                project=project,
                filename=name,
                status=fsm.Status.READY.value,
                description=new.description,
                branch=branch,
                topic=topic,
                created_at=new.created_at or now,
                content=content,
                goal=parse_goal(content),
            ).execute()
        except peewee.IntegrityError:
            raise Conflict(f"plan already exists: {project}/{name}", hint="pick another name") from None
        audit.record("plan_created", project, name, f"created {name}", {"branch": branch, "topic": topic})
        return TaskRecord.of(_get(project, name))


def read_text_file(file: Path) -> tuple[str, int]:
    """A UTF-8 text file's content and mtime (ns), with one clear error for each way it can fail."""
    try:
        raw = file.read_bytes()
        mtime = file.stat().st_mtime_ns
    except FileNotFoundError:
        raise NotFound(f"file not found: {file}", hint="pass the path of a markdown file") from None
    except IsADirectoryError:
        raise InvalidArgument(f"{file} is a directory", hint="pass the path of a markdown file") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {file}: {exc.strerror}", hint="check its permissions") from None
    try:
        return raw.decode("utf-8"), mtime
    except UnicodeDecodeError:
        raise InvalidArgument(f"{file} is not UTF-8 text", hint="pass a markdown file") from None


def registration(file: Path, *, branch: str = "", topic: str = "", description: str = "") -> NewTask:
    """The task a markdown file registers as: its name, content, first heading and mtime."""
    content, mtime = read_text_file(file)
    name = names.strip_md(file.name)
    if not description:
        heading = _HEADING.search(content)
        description = heading.group(1) if heading else name
    return NewTask(name, description, branch, topic, content, timefmt.format_ns(mtime))


def transition(store: Store, project: str, name: str, event_text: str) -> tuple[fsm.Status, fsm.Status]:
    """Apply an FSM event; mirror it as a pre-applied gateway signal so its side effects run."""
    name = names.normalize(name)
    event = fsm.parse_event(event_text)
    with store.write():
        row = _get(project, name)
        before = fsm.parse_status(row.status)
        current = fsm.ExecutionState(row.execution_phase, row.active_agent_type, row.active_wave)
        outcome = fsm.apply(before, event, current)
        _store_lifecycle(row, outcome.after, outcome.execution, outcome.stamp_column)
        audit.record(
            "plan_transition",
            project,
            name,
            f"{before} → {outcome.after}",
            {"event": event.value, "from": before.value, "to": outcome.after.value, "source": "cli"},
        )
        if event in EVENT_SIGNALS:
            insert_signal(project, name, EVENT_SIGNALS[event].value, PRE_APPLIED_PAYLOAD)
    return before, outcome.after


def _store_lifecycle(row: Task, status: fsm.Status, state: fsm.ExecutionState, stamp: str | None) -> None:
    updates: dict[peewee.Field, object] = {
        Task.status: status.value,
        Task.execution_phase: state.phase,
        Task.active_agent_type: state.agent_type,
        Task.active_wave: state.wave,
    }
    if stamp:
        updates[getattr(Task, stamp)] = timefmt.now()
    Task.update(updates).where(Task.id == row.id).execute()


def set_status(store: Store, project: str, name: str, target: str, *, force: bool) -> str:
    if not force:
        raise InvalidArgument(
            "--force required to override task status (this bypasses the FSM)", hint="add --force"
        )
    name = names.normalize(name)
    status, state, stamp = fsm.forced(target.strip())
    with store.write():
        row = _get(project, name)
        _store_lifecycle(row, status, state, stamp)
        audit.record(
            "plan_transition",
            project,
            name,
            f"{row.status} → {target} (forced)",
            {"from": row.status, "to": target, "forced": True},
            level="warn",
        )
    return target


def delete_task(store: Store, project: str, name: str) -> TaskRecord:
    name = names.normalize(name)
    with store.write():
        row = _get(project, name)
        record = TaskRecord.of(row)
        Task.delete().where(Task.id == row.id).execute()
        audit.record("plan_deleted", project, name, f"deleted {name} ({row.status})", {"status": row.status})
    return record


def update_content(store: Store, project: str, name: str, content: str) -> None:
    name = names.normalize(name)
    if not content.strip():
        raise InvalidArgument("content is empty", hint="pass a file with --file or pipe text on stdin")
    content = _check_content(content)
    with store.write():
        row = _get(project, name)
        Task.update(content=content, goal=parse_goal(content) or row.goal).where(Task.id == row.id).execute()
        audit.record(
            "plan_content_updated",
            project,
            name,
            f"updated content for {name}",
            {"bytes": len(content.encode("utf-8", errors="surrogatepass"))},
        )
