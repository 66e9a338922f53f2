"""Agent instances in the supervisor: the flows behind ``kas instance …``/``kas tmux adopt``, and the
session workers (one per instance) they start.

Each flow is a generator over worker calls (:mod:`flows`): the store keeps the record, the git worker
the worktree, the instance's session worker the agent. A session worker is the slot
``session.<instance id>``; whenever it becomes RUNNING it is sent ``session.launch`` — the flow's
mode the first time, ``recover`` after any restart of the worker, so a crashed session worker
re-attaches to its tmux session and never relaunches a live agent. At boot every live record gets a
session worker in ``recover`` mode (re-adopt the session if ``KASMOS_INSTANCE_ID`` matches, relaunch
per policy if it is gone).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from kasmos.supervisor import process_state as ps
from kasmos.supervisor.errors import Conflict, InvalidArgument, KasError, Unavailable
from kasmos.supervisor.flows import Call, Driver, Flow, Launch, Step
from kasmos.supervisor.ops import Args, OpTable
from kasmos.supervisor.protocol import Reply
from kasmos.supervisor.worker_table import Slot, WorkerSpec
from kasmos.workers.git import naming
from kasmos.workers.git.repo import describe_dirt
from kasmos.workers.session.tmux import socket_setting

if TYPE_CHECKING:
    from kasmos.supervisor.daemon import Daemon

log = logging.getLogger("kasmos.supervisor")

LIVE = ("starting", "idle", "busy", "waiting", "restarting")
FLOWS: OpTable[Instances] = OpTable("instances")


def session_spec(instance_id: str) -> WorkerSpec:
    return WorkerSpec(
        name=f"session.{instance_id}",
        service="session",
        module="kasmos.workers.session.worker",
        groups=frozenset(),
        kind="session",
    )


@dataclass
class SessionSlot:
    launch: Launch
    waiters: list[Any] = field(default_factory=list)
    launched: bool = False
    retiring: bool = False


class Instances:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.driver = Driver(self._perform)
        self.sessions: dict[str, SessionSlot] = {}  # slot name → launch state
        self.recovered = False

    # -- entry points --------------------------------------------------------------------------------

    def handles(self, op: str) -> bool:
        return op in FLOWS.ops

    def run(self, op: str, args: dict[str, Any], done: Any, request_id: str) -> None:
        try:
            spec, parsed = FLOWS.parse(op, args)
        except KasError as exc:
            done(Reply.failure(request_id, exc))
            return
        self.driver.run(spec.handler(self, parsed), done, request_id)

    def recover(self) -> None:
        """Boot: a session worker for every live tmux instance, in ``recover`` mode (once per daemon)."""
        if self.recovered:
            return
        self.recovered = True

        def got(reply: Reply) -> None:
            if not reply.ok:
                log.error("cannot list live instances: %s", reply.error.message if reply.error else "")
                self.recovered = False
                return
            for record in reply.result:
                self._spawn(Launch(record, mode="recover"), None)
            if reply.result:
                log.info("re-adopting %d live instance(s)", len(reply.result))

        self.daemon._send_internal("instance.live", {}, got)

    # -- steps ---------------------------------------------------------------------------------------

    def _perform(self, step: Step, resume: Any) -> None:
        if isinstance(step, Launch):
            self._spawn(step, resume)
            return
        if step.slot is not None:
            slot = self.daemon.table.slots.get(step.slot)
            if slot is None or slot.state is not ps.State.RUNNING:
                resume(Reply.failure("", Unavailable("the instance's session worker is not running")))
                return
            self.daemon._send_to(slot, step.op, step.args, resume)
            return
        self.daemon._send_internal(step.op, step.args, resume)

    def _spawn(self, launch: Launch, waiter: Any) -> None:
        spec = session_spec(launch.record["id"])
        state = self.sessions.get(spec.name)
        slot = self.daemon.table.slots.get(spec.name)
        if state is not None and slot is not None and not state.retiring:
            if state.launched and slot.state is ps.State.RUNNING:
                if waiter:
                    waiter(Reply.success("", {"note": "already running", "status": "running"}))
                return
            if waiter:
                state.waiters.append(waiter)
            return
        self.sessions[spec.name] = SessionSlot(launch, [waiter] if waiter else [])
        if slot is None:
            slot = self.daemon.table.add(spec)
        self.daemon.table.start(slot, time.monotonic())

    def worker_changed(self, slot: Slot, state: ps.State) -> None:
        """The daemon's hook for session slots: launch on RUNNING, report FATAL, forget STOPPED."""
        session = self.sessions.get(slot.spec.name)
        if session is None:
            return
        if state is ps.State.RUNNING and not session.retiring:
            self._launch(slot, session)
        elif state is ps.State.FATAL:
            self._answer(session, Reply.failure("", Unavailable(f"session worker {slot.spec.name} is fatal")))
        elif state is ps.State.STOPPED and session.retiring:
            self._forget(slot.spec.name)

    def _launch(self, slot: Slot, session: SessionSlot) -> None:
        launch = session.launch
        record = launch.record
        mode = "recover" if session.launched else launch.mode
        config = self.daemon.config.agent_restart
        args = {
            "spec": {
                "instance_id": record["id"],
                "title": record["title"],
                "project": record["project"],
                "program": record["program"],
                "worktree": record["worktree_path"],
                "session": record["tmux_session"],
                "task": record.get("task_file", ""),
                "prompt": launch.prompt,
                "skip_permissions": launch.skip_permissions,
            },
            "mode": mode,
            "resume": launch.resume and not session.launched,
            "policy": {
                "mode": config.policy,
                "max_restarts": config.max_restarts,
                "window_s": config.window_sec,
                "backoff_s": config.backoff_sec,
            },
        }

        def launched(reply: Reply) -> None:
            if reply.ok:
                session.launched = True
            elif mode != "recover":
                self.retire(record["id"])
            self._answer(session, reply)

        self.daemon._send_to(slot, "session.launch", args, launched)

    def _answer(self, session: SessionSlot, reply: Reply) -> None:
        waiters, session.waiters = session.waiters, []
        for waiter in waiters:
            waiter(reply)

    def retire(self, instance_id: str) -> None:
        name = session_spec(instance_id).name
        session = self.sessions.get(name)
        slot = self.daemon.table.slots.get(name)
        if session is not None:
            session.retiring = True
        if slot is not None:
            self.daemon.table.stop(slot, time.monotonic())
            if slot.proc is None and slot.state is ps.State.STOPPED:
                self._forget(name)

    def _forget(self, name: str) -> None:
        self.sessions.pop(name, None)
        self.daemon.retire_slot(name)

    def slot_of(self, record: dict[str, Any]) -> str:
        name = session_spec(record["id"]).name
        if name not in self.daemon.table.slots or name not in self.sessions:
            raise Conflict(
                f"instance {record['title']} is not running (status {record['status']})",
                hint=f"resume it with `kas instance resume {record['title']}`",
            )
        return name


# -- flows -------------------------------------------------------------------------------------------


class RepoArgs(Args):
    repo: str = Field(min_length=1, max_length=4096)


class TitleArgs(RepoArgs):
    title: str = Field(min_length=1, max_length=200)


class StartArgs(TitleArgs):
    program: str = Field(min_length=1, max_length=4096)
    task: str = ""
    branch: str = ""
    branch_prefix: str = ""
    prompt: str = Field(default="", max_length=1_000_000)
    skip_permissions: bool = False


@FLOWS.op("instance.start", StartArgs, mutating=True)
def start(ctx: Instances, a: StartArgs) -> Flow:
    naming.check_title(a.title)
    session = naming.session_name(a.title)
    if a.branch:
        branch = naming.check_branch(a.branch)
        relative = naming.adhoc_worktree_name(branch, time.time_ns())
    elif a.task:
        branch = naming.task_branch(a.task)
        relative = naming.task_worktree_name(branch)
    else:
        branch = naming.adhoc_branch(a.branch_prefix, a.title)
        relative = naming.adhoc_worktree_name(branch, time.time_ns())
    path = naming.worktree_inside(a.repo, relative)
    record = yield Call(
        "instance.create",
        {"repo": a.repo, "title": a.title, "program": a.program, "task_file": a.task, "branch": branch,
         "worktree_path": path, "tmux_session": session, "tmux_socket": socket_setting()},
    )  # fmt: skip
    try:
        made = yield Call(
            "git.worktree_add",
            {"repo": a.repo, "path": path, "branch": branch, "create": not a.branch, "reuse": bool(a.task)},
        )
    except Exception:
        yield Call("instance.delete", {"id": record["id"]})
        raise
    try:
        result = yield Launch(record, "new", prompt=a.prompt, skip_permissions=a.skip_permissions)
    except Exception:
        if made.get("reused") != "true":
            yield Call("git.worktree_remove", {"repo": a.repo, "path": path, "force": True})
        yield Call("instance.delete", {"id": record["id"]})
        raise
    return {**_public(record), **result, "worktree": path, "branch": branch}


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": record["title"],
        "branch": record["branch"],
        "worktree": record["worktree_path"],
        "session": record["tmux_session"],
        "program": record["program"],
        "id": record["id"],
    }


def _stop_agent(ctx: Instances, record: dict[str, Any]) -> Flow:
    """Kill the agent's session through its worker (an expected exit), then retire the worker."""
    name = f"session.{record['id']}"
    if name in ctx.sessions and name in ctx.daemon.table.slots:
        with contextlib.suppress(Unavailable):
            yield Call("session.stop", {}, slot=name)
        ctx.retire(record["id"])
    yield Call("tmux.kill_owned", {"session": record["tmux_session"], "id": record["id"]})


class PauseArgs(TitleArgs):
    force: bool = False


def _take_down(ctx: Instances, a: PauseArgs, status: str) -> Flow:
    record = yield Call("instance.get", {"repo": a.repo, "title": a.title})
    if record["status"] == status:
        raise Conflict(f"instance {record['title']} is already {status}")
    path = record["worktree_path"]
    if path and not a.force:
        dirt = (yield Call("git.dirty", {"path": path}))["dirty"]
        if dirt:
            raise Conflict(
                f"cannot {'kill' if status == 'killed' else 'pause'} instance: worktree has uncommitted "
                f"changes ({describe_dirt(dirt)})",
                hint="commit or stash first",
            )
    yield from _stop_agent(ctx, record)
    if _managed_worktree(record):  # an adopted session's directory (the repo root…) is never removed
        yield Call("git.worktree_remove", {"repo": record["repo_path"], "path": path, "force": True})
    yield Call("instance.record", {"id": record["id"], "status": status, "pid": 0})
    return {**_public(record), "status": status}


def _managed_worktree(record: dict[str, Any]) -> bool:
    path, root = record["worktree_path"], record["repo_path"]
    return bool(path and root) and os.path.normpath(path).startswith(os.path.join(root, ".worktrees") + "/")


@FLOWS.op("instance.pause", PauseArgs, mutating=True)
def pause(ctx: Instances, a: PauseArgs) -> Flow:
    return (yield from _take_down(ctx, a, "paused"))


@FLOWS.op("instance.kill", PauseArgs, mutating=True)
def kill(ctx: Instances, a: PauseArgs) -> Flow:
    return (yield from _take_down(ctx, a, "killed"))


@FLOWS.op("instance.resume", TitleArgs, mutating=True)
def resume(ctx: Instances, a: TitleArgs) -> Flow:
    record = yield Call("instance.get", {"repo": a.repo, "title": a.title})
    if record["status"] in LIVE:
        raise Conflict(f"instance {record['title']} is already running ({record['status']})")
    if not _managed_worktree(record):
        raise Conflict(
            f"instance {record['title']} runs outside .worktrees/ ({record['worktree_path']})",
            hint="start a new instance instead",
        )
    yield Call(
        "git.worktree_add",
        {"repo": record["repo_path"], "path": record["worktree_path"], "branch": record["branch"],
         "create": False, "reuse": True},
    )  # fmt: skip
    yield Call("instance.record", {"id": record["id"], "status": "starting"})
    result = yield Launch(record, "new", resume=True)
    return {**_public(record), **result}


@FLOWS.op("instance.restart", TitleArgs, mutating=True)
def restart(ctx: Instances, a: TitleArgs) -> Flow:
    record = yield Call("instance.get", {"repo": a.repo, "title": a.title})
    if record["status"] in ("paused", "killed"):
        raise Conflict(f"instance {record['title']} is {record['status']}", hint="resume it instead")
    yield from _stop_agent(ctx, record)
    yield Call("instance.record", {"id": record["id"], "status": "starting"})
    result = yield Launch(record, "new")
    return {**_public(record), **result}


class SendArgs(TitleArgs):
    text: str = Field(min_length=1, max_length=1_000_000)
    enter: bool = True


@FLOWS.op("instance.send", SendArgs, mutating=True)
def send(ctx: Instances, a: SendArgs) -> Flow:
    record = yield Call("instance.get", {"repo": a.repo, "title": a.title})
    yield Call("session.send", {"text": a.text, "enter": a.enter}, slot=ctx.slot_of(record))
    return {"title": record["title"], "sent": len(a.text)}


class CaptureArgs(TitleArgs):
    start: str | None = None
    end: str | None = None


@FLOWS.op("instance.capture", CaptureArgs)
def capture(ctx: Instances, a: CaptureArgs) -> Flow:
    record = yield Call("instance.get", {"repo": a.repo, "title": a.title})
    args = {k: v for k, v in (("start", a.start), ("end", a.end)) if v is not None}
    out = yield Call("session.capture", args, slot=ctx.slot_of(record))
    return {"title": record["title"], "text": out["text"]}


class AnswerArgs(TitleArgs):
    approve: bool


@FLOWS.op("instance.answer", AnswerArgs, mutating=True)
def answer(ctx: Instances, a: AnswerArgs) -> Flow:
    record = yield Call("instance.get", {"repo": a.repo, "title": a.title})
    out = yield Call("session.answer", {"approve": a.approve}, slot=ctx.slot_of(record))
    return {"title": record["title"], **out}


class AdoptArgs(RepoArgs):
    session: str = Field(min_length=1, max_length=512)
    title: str = Field(min_length=1, max_length=200)


@FLOWS.op("tmux.adopt", AdoptArgs, mutating=True)
def adopt(ctx: Instances, a: AdoptArgs) -> Flow:
    naming.check_title(a.title)
    info = yield Call("tmux.inspect", {"session": a.session})
    where = yield Call("git.inspect", {"path": info["path"]})
    if not where["root"]:
        raise InvalidArgument(f"session {a.session} does not run in a git repository ({info['path']})")
    program = info["command"] or "unknown"
    record = yield Call(
        "instance.create",
        {"repo": where["root"], "title": a.title, "program": program, "branch": where["branch"] or "HEAD",
         "worktree_path": where["worktree"], "tmux_session": a.session, "tmux_socket": socket_setting(),
         "task_file": info["env"].get("KASMOS_TASK", "")},
    )  # fmt: skip
    try:
        result = yield Launch(record, "adopt")
    except Exception:
        yield Call("instance.delete", {"id": record["id"]})
        raise
    return {**_public(record), **result}
