"""The store worker's op table: tasks, signals, audit, outbox, repositories, instances.

The same handlers serve the daemon (through :mod:`kasmos.workers.store.worker`) and the CLI when no
daemon runs (in-process through :func:`call`), so a command prints the same either way. Results are
JSON-able (records dumped to dicts). Repository-scoped ops take ``repo`` (the main root, absolute); the
first op from a repository registers it. A mutating request that carries an idempotency key stores
its result in the ``requests`` table in the same transaction, and a retry with that key gets the
stored result instead of running again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field

from kasmos.supervisor.errors import InvalidArgument
from kasmos.supervisor.ops import Args, NoArgs, OpTable
from kasmos.supervisor.paths import Repo
from kasmos.supervisor.protocol import Event
from kasmos.workers.store import audit, instances, outbox, repos, sentinels, signals, tasks, timefmt
from kasmos.workers.store.db import Store
from kasmos.workers.store.names import strip_md
from kasmos.workers.store.owner import current_owner
from kasmos.workers.store.processor import ProcessorSettings

REQUEST_TTL_SECONDS = 86400.0


@dataclass
class StoreContext:
    store: Store
    owner: str = field(default_factory=lambda: current_owner("kas-store"))
    events: list[Event] = field(default_factory=list)
    known: set[str] = field(default_factory=set)

    def project(self, root: str) -> str:
        """The project of a repository root, registering the repository the first time it is seen."""
        path = Path(root)
        if not path.is_absolute():
            raise InvalidArgument(f"repository path must be absolute: {root!r}")
        if root not in self.known:
            record = repos.lookup(self.store, path)
            if (record is None or record.path != root) and not self.store.read_only:
                repos.register(self.store, path)
            self.known.add(root)
        return path.name

    def emit(self, kind: str, project: str, task: str | None = None, /, **data: Any) -> None:
        self.events.append(Event(ts=timefmt.now(), kind=kind, project=project, task=task, data=data))


OPS: OpTable[StoreContext] = OpTable("store")


class RepoArgs(Args):
    repo: str = Field(min_length=1, max_length=4096)


class NameArgs(RepoArgs):
    name: str


@OPS.op("store.ping", NoArgs)
def ping(ctx: StoreContext, args: NoArgs) -> dict[str, Any]:
    return {"pid": os.getpid(), "store": str(ctx.store.path)}


# -- tasks ------------------------------------------------------------------------------------------


class ListArgs(RepoArgs):
    status: str | None = None


@OPS.op("task.list", ListArgs)
def task_list(ctx: StoreContext, args: ListArgs) -> list[dict[str, Any]]:
    return [r.model_dump() for r in tasks.list_tasks(ctx.store, ctx.project(args.repo), args.status)]


class ShowArgs(NameArgs):
    record: bool = False


@OPS.op("task.show", ShowArgs)
def task_show(ctx: StoreContext, args: ShowArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    if not args.record:
        return {"content": tasks.task_content(ctx.store, project, args.name)}
    record = tasks.get_task(ctx.store, project, args.name)
    content = tasks.task_content(ctx.store, project, args.name, required=False)
    return {**record.model_dump(), "content": content}


class CreateArgs(NameArgs):
    description: str = ""
    branch: str = ""
    topic: str = ""
    content: str = ""
    created_at: str = ""


@OPS.op("task.create", CreateArgs, mutating=True)
def task_create(ctx: StoreContext, args: CreateArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    new = tasks.NewTask(args.name, args.description, args.branch, args.topic, args.content, args.created_at)
    record = tasks.create_task(ctx.store, project, new)
    ctx.emit("task.created", project, record.filename, status=record.status)
    return record.model_dump()


class TransitionArgs(NameArgs):
    event: str


@OPS.op("task.transition", TransitionArgs, mutating=True)
def task_transition(ctx: StoreContext, args: TransitionArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    before, after = tasks.transition(ctx.store, project, args.name, args.event)
    name = strip_md(args.name)
    ctx.emit("task.transition", project, name, **{"from": before.value, "to": after.value, "source": "cli"})
    return {"task": name, "from": before.value, "to": after.value}


class SetStatusArgs(NameArgs):
    status: str
    force: bool = False


@OPS.op("task.set_status", SetStatusArgs, mutating=True)
def task_set_status(ctx: StoreContext, args: SetStatusArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    target = tasks.set_status(ctx.store, project, args.name, args.status, force=args.force)
    name = strip_md(args.name)
    ctx.emit("task.transition", project, name, to=target, forced=True)
    return {"task": name, "to": target}


@OPS.op("task.delete", NameArgs, mutating=True)
def task_delete(ctx: StoreContext, args: NameArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    record = tasks.delete_task(ctx.store, project, args.name)
    ctx.emit("task.deleted", project, record.filename)
    return record.model_dump()


class ContentArgs(NameArgs):
    content: str


@OPS.op("task.update_content", ContentArgs, mutating=True)
def task_update_content(ctx: StoreContext, args: ContentArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    tasks.update_content(ctx.store, project, args.name, args.content)
    return {"task": strip_md(args.name)}


# -- signals ----------------------------------------------------------------------------------------


class EmitArgs(RepoArgs):
    type: str
    task: str
    payload: str = ""


@OPS.op("signal.emit", EmitArgs, mutating=True)
def signal_emit(ctx: StoreContext, args: EmitArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    signal_id, kind = signals.emit(ctx.store, project, args.type, args.task, args.payload)
    task = strip_md(args.task)
    ctx.emit("signal.emitted", project, task, id=signal_id, type=kind)
    return {"id": signal_id, "type": kind, "task": task, "project": project}


class SignalListArgs(RepoArgs):
    statuses: list[str] = Field(default_factory=lambda: ["pending", "processing"])
    limit: int = Field(default=200, gt=0, le=100_000)


@OPS.op("signal.list", SignalListArgs)
def signal_list(ctx: StoreContext, args: SignalListArgs) -> list[dict[str, Any]]:
    project = ctx.project(args.repo)
    rows = signals.list_signals(ctx.store, project, tuple(args.statuses), args.limit)
    return [r.model_dump() for r in rows]


class ProcessArgs(Args):
    project: str = Field(min_length=1)
    settings: ProcessorSettings = Field(default_factory=ProcessorSettings)
    max: int = Field(default=64, gt=0, le=10_000)


@OPS.op("signal.process", ProcessArgs, mutating=True)
def signal_process(ctx: StoreContext, args: ProcessArgs) -> dict[str, Any]:
    """Claim and apply up to ``max`` pending signals in one transaction (each signal's claim is all
    or nothing with its effects); returns what was done."""
    done: list[dict[str, Any]] = []
    with ctx.store.write():  # one commit for the batch; a crash rolls all of it back, still pending
        for _ in range(args.max):
            item = signals.process_next(ctx.store, args.project, args.settings, ctx.owner)
            if item is None:
                break
            entry = {**item.__dict__, "transition": list(item.transition) if item.transition else None}
            done.append(entry)
            ctx.emit("signal.processed", args.project, item.task, **entry)
            if item.transition:
                before, after = item.transition
                data = {"signal_id": item.id, "from": before, "to": after}
                ctx.emit("task.transition", args.project, item.task, **data)
    return {"processed": done, "more": len(done) == args.max}


@OPS.op("signal.pending_projects", NoArgs)
def signal_pending_projects(ctx: StoreContext, args: NoArgs) -> list[str]:
    with ctx.store.read():
        rows = ctx.store.execute("SELECT DISTINCT project FROM signals WHERE status = 'pending'").fetchall()
    return [row[0] for row in rows]


class ReapArgs(Args):
    older_than: float = Field(default=signals.STALE_CLAIM_SECONDS, ge=0)


@OPS.op("signal.reap", ReapArgs, mutating=True)
def signal_reap(ctx: StoreContext, args: ReapArgs) -> dict[str, int]:
    reclaimed = signals.reap_stale_claims(ctx.store, older_than=args.older_than)
    with ctx.store.write():
        expired = ctx.store.execute(
            "DELETE FROM requests WHERE created_at < ?", (timefmt.ago(REQUEST_TTL_SECONDS),)
        ).rowcount
    return {"reclaimed": reclaimed, "expired_requests": expired}


class BridgeArgs(Args):
    repos: list[str]
    recover: bool = False


@OPS.op("signal.bridge", BridgeArgs, mutating=True)
def signal_bridge(ctx: StoreContext, args: BridgeArgs) -> dict[str, Any]:
    """Turn sentinel files of every given repository (and its worktrees) into pending signals."""
    out: dict[str, Any] = {}
    for root in args.repos:
        repo = Repo(root=Path(root))
        if not repo.root.is_dir():
            continue
        items = sentinels.bridge_repo(ctx.store, repo, recover=args.recover)
        if items:
            out[repo.project] = [{"file": i.file, "id": i.signal_id, "error": i.error} for i in items]
            for item in items:
                if item.error:
                    ctx.emit("signal.dead_lettered", repo.project, None, file=item.file, error=item.error)
    return out


# -- audit, outbox, repositories, instances ---------------------------------------------------------


class AuditArgs(RepoArgs):
    limit: int = 50
    kind: str | None = None


@OPS.op("audit.list", AuditArgs)
def audit_list(ctx: StoreContext, args: AuditArgs) -> list[dict[str, Any]]:
    project = ctx.project(args.repo)
    with ctx.store.read():
        return [r.model_dump() for r in audit.list_events(project, limit=args.limit, kind=args.kind)]


class LimitArgs(Args):
    limit: int = Field(default=500, gt=0, le=10_000)


@OPS.op("outbox.pending", LimitArgs)
def outbox_pending(ctx: StoreContext, args: LimitArgs) -> list[dict[str, Any]]:
    return [item.model_dump() for item in outbox.pending(ctx.store, args.limit)]


class OutboxArgs(Args):
    id: int


@OPS.op("outbox.execute", OutboxArgs, mutating=True)
def outbox_execute(ctx: StoreContext, args: OutboxArgs) -> dict[str, Any]:
    result = outbox.execute(ctx.store, args.id)
    if not result.repeated:
        ctx.emit("outbox.executed", result.project, result.task, **result.model_dump())
    return result.model_dump()


class PathArgs(Args):
    path: str = Field(min_length=1, max_length=4096)


@OPS.op("repo.add", PathArgs, mutating=True)
def repo_add(ctx: StoreContext, args: PathArgs) -> dict[str, Any]:
    record, added = repos.register(ctx.store, Path(args.path))
    ctx.known.add(args.path)
    return {**record.model_dump(), "added": added}


@OPS.op("repo.remove", PathArgs, mutating=True)
def repo_remove(ctx: StoreContext, args: PathArgs) -> dict[str, Any]:
    record = repos.unregister(ctx.store, args.path)
    ctx.known.discard(record.path)
    return record.model_dump()


@OPS.op("repo.list", NoArgs)
def repo_list(ctx: StoreContext, args: NoArgs) -> list[dict[str, Any]]:
    return [r.model_dump() for r in repos.list_repos(ctx.store)]


class InstanceListArgs(Args):
    project: str | None = None
    repo: str | None = None
    status: str | None = None


def public(record: dict[str, Any]) -> dict[str, Any]:
    """An instance as commands show it."""
    return {
        "title": record["title"],
        "status": record["status"],
        "branch": record["branch"],
        "program": record["program"],
        "task": record["task_file"],
        "role": record["role"],
        "mode": record["execution_mode"],
        "resume_id": record["resume_id"],
        "worktree": record["worktree_path"],
        "session": record["tmux_session"],
        "pid": record["pid"],
        "restarts": record["restart_count"],
        "last_exit_code": record["last_exit_code"],
        "created_at": record["created_at"],
        "id": record["id"],
        "project": record["project"],
    }


@OPS.op("instance.list", InstanceListArgs)
def instance_list(ctx: StoreContext, args: InstanceListArgs) -> list[dict[str, Any]]:
    project = ctx.project(args.repo) if args.repo else args.project
    with ctx.store.read():
        return [public(r) for r in instances.listing(ctx.store, project, args.status)]


class InstanceCreateArgs(RepoArgs):
    title: str = Field(min_length=1, max_length=200)
    program: str = Field(min_length=1, max_length=4096)
    task_file: str = ""
    role: str = ""
    branch: str = Field(min_length=1, max_length=255)
    worktree_path: str = ""
    tmux_session: str = Field(default="", max_length=512)  # empty in sdk mode
    tmux_socket: str = ""
    execution_mode: Literal["tmux", "sdk"] = "tmux"
    model: str = Field(default="", max_length=200)
    skip_permissions: bool = False
    status: str = "starting"


@OPS.op("instance.create", InstanceCreateArgs, mutating=True)
def instance_create(ctx: StoreContext, args: InstanceCreateArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    fields = args.model_dump()
    fields.update(project=project, repo_path=args.repo)
    return instances.create(ctx.store, fields)


class InstanceFindArgs(RepoArgs):
    title: str = Field(min_length=1, max_length=200)


@OPS.op("instance.get", InstanceFindArgs)
def instance_get(ctx: StoreContext, args: InstanceFindArgs) -> dict[str, Any]:
    project = ctx.project(args.repo)
    with ctx.store.read():
        return instances.find(ctx.store, project, args.title)


class InstanceRecordArgs(Args):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=64)


@OPS.op("instance.record", InstanceRecordArgs, mutating=True)
def instance_record(ctx: StoreContext, args: InstanceRecordArgs) -> dict[str, Any]:
    return instances.update(ctx.store, args.id, dict(args.model_extra or {}))


class InstanceIdArgs(Args):
    id: str = Field(min_length=1, max_length=64)


@OPS.op("instance.delete", InstanceIdArgs, mutating=True)
def instance_delete(ctx: StoreContext, args: InstanceIdArgs) -> dict[str, Any]:
    instances.delete(ctx.store, args.id)
    return {"deleted": args.id}


@OPS.op("instance.live", NoArgs)
def instance_live(ctx: StoreContext, args: NoArgs) -> list[dict[str, Any]]:
    with ctx.store.read():
        return instances.live(ctx.store)


# -- idempotency ------------------------------------------------------------------------------------


def _once(ctx: StoreContext, idem: str, op: str, thunk: Callable[[], Any]) -> Any:
    with ctx.store.write():
        row = ctx.store.execute("SELECT result FROM requests WHERE idem = ?", (idem,)).fetchone()
        if row is not None:
            return json.loads(row[0])
        result = thunk()
        ctx.store.execute(
            "INSERT INTO requests (idem, op, result, created_at) VALUES (?, ?, ?, ?)",
            (idem, op, json.dumps(result), timefmt.now()),
        )
    return result


OPS.once = _once
