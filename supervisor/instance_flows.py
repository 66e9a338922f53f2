"""The flows behind ``kas instance …`` and ``kas tmux adopt`` (one op table, ``FLOWS``).

Each flow is a generator over worker calls (:mod:`flows`): the store keeps the record, the git worker
the worktree, the instance's session worker (:mod:`instances`) the agent. tmux-only steps (killing a
leftover session) are skipped for sdk-mode instances.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from kasmos.supervisor.errors import Conflict, InvalidArgument, Unavailable
from kasmos.supervisor.flows import Call, Flow, Launch
from kasmos.supervisor.ops import Args, OpTable
from kasmos.workers.git import naming
from kasmos.workers.git.repo import describe_dirt
from kasmos.workers.session.launch import effective_mode
from kasmos.workers.session.tmux import socket_setting
from kasmos.workers.store.instances import LIVE

if TYPE_CHECKING:
    from kasmos.supervisor.instances import Instances

FLOWS: OpTable[Instances] = OpTable("instances")


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
    execution_mode: Literal["tmux", "sdk", "headless"] = "tmux"
    model: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=100)


@FLOWS.op("instance.start", StartArgs, mutating=True)
def start(ctx: Instances, a: StartArgs) -> Flow:
    naming.check_title(a.title)
    mode = effective_mode(a.program, a.execution_mode)  # sdk for claude/codex only; else tmux, silently
    session = naming.session_name(a.title) if mode == "tmux" else ""
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
         "worktree_path": path, "tmux_session": session, "tmux_socket": socket_setting() if session else "",
         "execution_mode": mode, "model": a.model, "skip_permissions": a.skip_permissions, "role": a.role},
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
        "mode": record["execution_mode"],
        "id": record["id"],
    }


def _stop_agent(ctx: Instances, record: dict[str, Any]) -> Flow:
    """Kill the agent's session through its worker (an expected exit), then retire the worker."""
    name = f"session.{record['id']}"
    if name in ctx.sessions and name in ctx.daemon.table.slots:
        with contextlib.suppress(Unavailable):
            yield Call("session.stop", {}, slot=name)
        ctx.retire(record["id"])
    if record["execution_mode"] == "tmux" and record["tmux_session"]:
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


@FLOWS.op("instance.interrupt", TitleArgs, mutating=True)
def interrupt(ctx: Instances, a: TitleArgs) -> Flow:
    record = yield Call("instance.get", {"repo": a.repo, "title": a.title})
    yield Call("session.interrupt", {}, slot=ctx.slot_of(record))
    return {"title": record["title"], "interrupted": True}


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
