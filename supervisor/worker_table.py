"""The supervisor's table of worker processes: spawning, reaping, liveness, and the FSM's actions.

Each :class:`Slot` pairs a worker's pure state machine (:mod:`process_state`) with the OS side of it:
the ``Popen`` (spawned with ``start_new_session=True`` so it can be signalled as a group and is
untouched by a terminal's ctrl-c), its routing id on ``work.sock``, when it was last heard from and
the requests it holds. ``workers/<name>.pid`` in the runtime dir records each live worker so the next
daemon can end the leftovers of one that was killed with -9.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kasmos.supervisor import process_state as ps
from kasmos.supervisor.runtime import Runtime, read_pid_file, write_pid_file

log = logging.getLogger("kasmos.supervisor")

HEARTBEAT_S = 1.0
LIVENESS = 3


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    service: str
    module: str
    groups: frozenset[str]
    kind: str  # shutdown order: sessions → git → scanner → store


STOP_ORDER = ("session", "git", "scanner", "store")

STORE = WorkerSpec(
    name="store",
    service="store",
    module="kasmos.workers.store.worker",
    groups=frozenset({"store", "task", "signal", "audit", "outbox", "repo", "instance"}),
    kind="store",
)

GIT = WorkerSpec(
    name="git", service="git", module="kasmos.workers.git.worker", groups=frozenset({"git"}), kind="git"
)

SCANNER = WorkerSpec(
    name="scanner",
    service="scanner",
    module="kasmos.workers.orphans.worker",
    groups=frozenset({"tmux"}),
    kind="scanner",
)


@dataclass
class Pending:
    """A request a worker holds: for a client (routing id + its request id) or internal (callback)."""

    op: str
    deadline: float
    client: bytes | None = None
    client_id: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    callback: Callable[[Any], None] | None = None


@dataclass
class Slot:
    spec: WorkerSpec
    fsm: ps.WorkerProcess
    proc: subprocess.Popen[bytes] | None = None
    identity: bytes | None = None
    last_heard: float = 0.0
    wake_at: float = 0.0
    inflight: dict[str, Pending] = field(default_factory=dict)

    @property
    def state(self) -> ps.State:
        return self.fsm.state

    def snapshot(self, now: float) -> dict[str, Any]:
        f = self.fsm
        return {
            "name": self.spec.name,
            "state": f.state.value,
            "pid": self.proc.pid if self.proc else 0,
            "restarts": len(f.restarts),
            "last_exit": f.last_exit,
            "last_cause": f.last_cause,
            "last_error": f.last_error,
            "retry_in": round(max(0.0, f.retry_at - now), 3) if f.state is ps.State.BACKOFF else None,
            "inflight": len(self.inflight),
        }


class WorkerTable:
    def __init__(
        self,
        runtime: Runtime,
        epoch: str,
        publish: Callable[[Slot, ps.Publish], None],
        policy: ps.Policy | None = None,
    ) -> None:
        self.runtime = runtime
        self.epoch = epoch
        self.publish = publish
        self.policy = policy or ps.Policy()
        self.slots: dict[str, Slot] = {}

    def add(self, spec: WorkerSpec) -> Slot:
        slot = Slot(spec, ps.WorkerProcess(spec.name, self.policy))
        self.slots[spec.name] = slot
        return slot

    def route(self, group: str) -> Slot | None:
        for slot in self.slots.values():
            if group in slot.spec.groups:
                return slot
        return None

    def by_identity(self, identity: bytes) -> Slot | None:
        for slot in self.slots.values():
            if slot.identity == identity:
                return slot
        return None

    def claim_identity(self, identity: bytes, service: str, pid: int) -> Slot | None:
        """The slot a READY belongs to: routing id ``service.pid.epoch`` of a process we spawned."""
        expected = f"{service}.{pid}.{self.epoch}".encode()
        for slot in self.slots.values():
            if slot.spec.service == service and slot.proc is not None and slot.proc.pid == pid:
                return slot if identity == expected else None
        return None

    # -- actions -----------------------------------------------------------------------------------

    def apply(self, slot: Slot, actions: list[ps.Action], now: float) -> None:
        for action in actions:
            if isinstance(action, ps.Spawn):
                self._spawn(slot, now)
            elif isinstance(action, ps.Kill):
                self._signal(slot, signal.SIGKILL if action.signal == "KILL" else signal.SIGTERM)
            elif isinstance(action, ps.Wake):
                slot.wake_at = action.at if not slot.wake_at else min(slot.wake_at, action.at)
            elif isinstance(action, ps.Publish):
                self.publish(slot, action)

    def _spawn(self, slot: Slot, now: float) -> None:
        command = [
            sys.executable, "-m", slot.spec.module,
            "--endpoint", self.runtime.endpoint("work"), "--name", slot.spec.name, "--epoch", self.epoch,
        ]  # fmt: skip
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "KASMOS_DAEMON_EPOCH": self.epoch},
            )
        except OSError as exc:
            log.error("cannot start worker %s: %s", slot.spec.name, exc)
            self.apply(slot, slot.fsm.spawn_failed(now, str(exc)), now)
            return
        slot.proc = proc
        slot.last_heard = now
        write_pid_file(self.runtime.workers_dir / f"{slot.spec.name}.pid", proc.pid)
        self.apply(slot, slot.fsm.spawned(now, proc.pid), now)

    def _signal(self, slot: Slot, signum: int) -> None:
        if slot.proc is None or slot.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(slot.proc.pid, signum)

    # -- events from the loop ----------------------------------------------------------------------

    def start(self, slot: Slot, now: float) -> None:
        self.apply(slot, slot.fsm.start(now), now)

    def stop(self, slot: Slot, now: float) -> None:
        self.apply(slot, slot.fsm.stop(now), now)

    def kill_now(self, slot: Slot) -> None:
        self._signal(slot, signal.SIGKILL)

    def ready(self, slot: Slot, identity: bytes, now: float) -> None:
        slot.identity = identity
        slot.last_heard = now
        self.apply(slot, slot.fsm.ready(now), now)

    def reap(self, now: float) -> list[Slot]:
        """Notice exited workers; returns the slots whose process ended."""
        ended = []
        for slot in self.slots.values():
            if slot.proc is None or slot.proc.poll() is None:
                continue
            code = slot.proc.returncode
            log.log(
                logging.INFO if slot.state is ps.State.STOPPING else logging.WARNING,
                "worker %s (pid %d) exited with %s",
                slot.spec.name,
                slot.proc.pid,
                code,
            )
            self._forget_pid(slot)
            slot.proc = None
            slot.identity = None
            ended.append(slot)
            self.apply(slot, slot.fsm.exited(now, code), now)
        return ended

    def check(self, now: float) -> None:
        """Timers and liveness: wake-ups due, and workers silent for ``LIVENESS`` heartbeats."""
        for slot in self.slots.values():
            if slot.wake_at and now >= slot.wake_at:
                slot.wake_at = 0.0
                self.apply(slot, slot.fsm.tick(now), now)
            if slot.state is ps.State.RUNNING and now - slot.last_heard > HEARTBEAT_S * LIVENESS:
                log.warning(
                    "worker %s silent for %.1fs: declaring it dead", slot.spec.name, now - slot.last_heard
                )
                self.apply(slot, slot.fsm.heartbeat_lost(now), now)

    def next_wake(self) -> float:
        wakes = [s.wake_at for s in self.slots.values() if s.wake_at]
        return min(wakes) if wakes else float("inf")

    def _forget_pid(self, slot: Slot) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.runtime.workers_dir / f"{slot.spec.name}.pid").unlink()

    def end_leftovers(self) -> int:
        """Kill the workers a dead daemon left behind (recorded pid + start time still alive)."""
        ended = 0
        for pid_file in self.runtime.workers_dir.glob("*.pid"):
            pid = read_pid_file(pid_file)
            if pid:
                log.warning("ending leftover worker %s (pid %d) of a previous daemon", pid_file.stem, pid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                deadline = time.monotonic() + 2
                while read_pid_file(pid_file) and time.monotonic() < deadline:
                    time.sleep(0.01)
                ended += 1
            pid_file.unlink(missing_ok=True)
        return ended
