"""Agent instances in the supervisor: the session workers (one per instance) that the flows of
:mod:`instance_flows` (``kas instance …``, ``kas tmux adopt``) start, and boot recovery.

A session worker is the slot
``session.<instance id>``; whenever it becomes RUNNING it is sent ``session.launch`` — the flow's
mode the first time, ``recover`` after any restart of the worker, so a crashed session worker
re-attaches to its tmux session and never relaunches a live agent. At boot every live record gets a
session worker in ``recover`` mode: a tmux agent's session is re-adopted if ``KASMOS_INSTANCE_ID``
matches (relaunched per policy if it is gone); an sdk agent, which died with its worker, is relaunched
with its stored resume id. Record changes the session workers report are merged into the slot's
launch record, so a relaunch uses the newest resume id.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kasmos.supervisor import process_state as ps
from kasmos.supervisor.config import SdkConfig, load_project_config
from kasmos.supervisor.errors import Conflict, KasError, Unavailable
from kasmos.supervisor.flows import Driver, Launch, Step
from kasmos.supervisor.instance_flows import FLOWS
from kasmos.supervisor.protocol import Reply
from kasmos.supervisor.worker_table import Slot, WorkerSpec
from kasmos.workers.git import naming

if TYPE_CHECKING:
    from kasmos.supervisor.daemon import Daemon

log = logging.getLogger("kasmos.supervisor")


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
    start_when_stopped: bool = False


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
        """Boot: a session worker for every live instance, in ``recover`` mode (once per daemon)."""
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
        session = SessionSlot(launch, [waiter] if waiter else [])
        self.sessions[spec.name] = session
        if slot is None:
            slot = self.daemon.table.add(spec)
        if slot.state in (ps.State.STOPPED, ps.State.EXITED):
            self.daemon.table.start(slot, time.monotonic())
        else:  # the previous worker (restart, resume) is still stopping: start once it has stopped
            session.start_when_stopped = True

    def worker_changed(self, slot: Slot, state: ps.State) -> None:
        """The daemon's hook for session slots: launch on RUNNING, report FATAL, forget STOPPED."""
        session = self.sessions.get(slot.spec.name)
        if session is None:
            return
        if state is ps.State.RUNNING and not session.retiring:
            self._launch(slot, session)
        elif state is ps.State.FATAL:
            self._answer(session, Reply.failure("", Unavailable(f"session worker {slot.spec.name} is fatal")))
        elif state is ps.State.STOPPED and session.start_when_stopped:
            session.start_when_stopped = False
            self.daemon.table.start(slot, time.monotonic())
        elif state is ps.State.STOPPED and session.retiring:
            self._forget(slot.spec.name)

    def _launch(self, slot: Slot, session: SessionSlot) -> None:
        launch = session.launch
        record = launch.record
        mode = "recover" if session.launched else launch.mode
        config = self.daemon.config.agent_restart
        sdk = _sdk_settings(record.get("repo_path") or "")
        args = {
            "spec": {
                "instance_id": record["id"],
                "title": record["title"],
                "project": record["project"],
                "program": record["program"],
                "worktree": record["worktree_path"],
                "session": record["tmux_session"] or naming.session_name(record["title"]),
                "task": record.get("task_file", ""),
                "prompt": launch.prompt,
                "skip_permissions": launch.skip_permissions or bool(record.get("skip_permissions")),
                "model": record.get("model") or "",
                "execution_mode": record.get("execution_mode") or "tmux",
                "resume_id": record.get("resume_id") or "",
                "transcript_max_bytes": sdk.transcript_max_bytes,
                "transcript_max_turns": sdk.transcript_max_turns,
                "handshake_timeout_s": sdk.handshake_timeout_sec,
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

    def note_record(self, fields: dict[str, Any]) -> None:
        """A session worker reported record changes: keep the slot's launch record current (the
        resume id a relaunch needs)."""
        session = self.sessions.get(session_spec(str(fields.get("id"))).name)
        if session is not None:
            session.launch.record.update({k: v for k, v in fields.items() if k != "id"})

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


def _sdk_settings(repo: str) -> SdkConfig:
    """``[sdk]`` of the instance's project config; defaults when it is missing or broken (logged)."""
    if not repo:
        return SdkConfig()
    try:
        return load_project_config(Path(repo) / ".kasmos" / "config.toml").sdk
    except KasError as exc:
        log.warning("using default [sdk] settings for %s: %s", repo, exc.message)
        return SdkConfig()
