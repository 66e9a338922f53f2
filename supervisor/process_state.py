"""The life of one supervised worker process, as a pure state machine (supervisord's states).

States: STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL. The supervisor feeds events
(start, spawned, spawn_failed, ready, exited, heartbeat_lost, stop, tick, clear) with the current
monotonic time and carries out the returned actions (Spawn, Kill, Wake, Publish). No clock, process or
socket is touched here, so the timeline is tested with a fake clock.

Policy: an unexpected exit (crash, or a kill for hanging) is restarted after an exponential backoff
with jitter (0.5 s doubling to 30 s); the backoff resets once a worker stayed RUNNING for 60 s. More
than ``max_restarts`` restarts within ``window`` seconds marks the worker FATAL (published);
``clear`` (``kas daemon restart-worker``) starts it again with a clean history. A commanded stop is
never counted. A worker that sends no READY within ``start_timeout`` is killed and counted as a hang.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    STOPPING = "STOPPING"
    EXITED = "EXITED"
    FATAL = "FATAL"


@dataclass(frozen=True)
class Policy:
    restart: bool = True
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 0.2
    max_restarts: int = 5
    window: float = 60.0
    start_timeout: float = 10.0
    healthy_after: float = 60.0
    stop_grace: float = 10.0


@dataclass(frozen=True)
class Spawn:
    pass


@dataclass(frozen=True)
class Kill:
    signal: str  # "TERM" or "KILL"


@dataclass(frozen=True)
class Wake:
    at: float  # call tick() at this time


@dataclass(frozen=True)
class Publish:
    state: State
    previous: State
    detail: dict[str, object] = field(default_factory=dict)


Action = Spawn | Kill | Wake | Publish


class WorkerProcess:
    def __init__(
        self, name: str, policy: Policy | None = None, rng: Callable[[], float] = random.random
    ) -> None:
        self.name = name
        self.policy = policy or Policy()
        self._rng = rng
        self.state = State.STOPPED
        self.pid = 0
        self.attempt = 0
        self.restarts: deque[float] = deque()
        self.retry_at = 0.0
        self.started_at = 0.0
        self.running_since = 0.0
        self.kill_at = 0.0
        self.last_exit: int | None = None
        self.last_cause = ""
        self.last_error = ""
        self._kill_cause = ""

    # -- helpers -----------------------------------------------------------------------------------

    def _to(self, state: State, **detail: object) -> list[Action]:
        previous, self.state = self.state, state
        return [Publish(state, previous, dict(detail))] if state is not previous else []

    def _spawn(self, now: float) -> list[Action]:
        self.started_at = now
        self.pid = 0
        return [*self._to(State.STARTING), Spawn(), Wake(now + self.policy.start_timeout)]

    def _restart_later(self, now: float, cause: str) -> list[Action]:
        p = self.policy
        if not p.restart:
            return self._to(State.EXITED, cause=cause, exit_code=self.last_exit)
        while self.restarts and now - self.restarts[0] >= p.window:
            self.restarts.popleft()
        if len(self.restarts) >= p.max_restarts:
            return self._to(
                State.FATAL,
                cause=cause,
                exit_code=self.last_exit,
                restarts=len(self.restarts),
                window=p.window,
            )
        delay = min(p.backoff_initial * (2**self.attempt), p.backoff_max)
        delay *= 1 + p.jitter * (2 * self._rng() - 1)
        self.attempt += 1
        self.restarts.append(now)
        self.retry_at = now + delay
        return [
            *self._to(State.BACKOFF, cause=cause, exit_code=self.last_exit, retry_in=round(delay, 3)),
            Wake(self.retry_at),
        ]

    # -- events ------------------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        if self.state in (State.STOPPED, State.EXITED):
            return self._spawn(now)
        return []

    def spawned(self, now: float, pid: int) -> list[Action]:
        self.pid = pid
        if self.state is State.STARTING:
            return []
        return [Kill("KILL")]  # stopped while the spawn was in flight: leave no orphan

    def spawn_failed(self, now: float, error: str) -> list[Action]:
        if self.state is not State.STARTING:
            return []
        self.last_error, self.last_cause, self.last_exit = error, "spawn_error", None
        return self._restart_later(now, "spawn_error")

    def ready(self, now: float) -> list[Action]:
        if self.state is not State.STARTING:
            return []
        self.running_since = now
        return self._to(State.RUNNING, pid=self.pid)

    def exited(self, now: float, code: int | None) -> list[Action]:
        self.last_exit = code
        self.pid = 0
        if self.state is State.STOPPING:
            if self._kill_cause == "commanded":
                self.last_cause = "commanded"
                return self._to(State.STOPPED, cause="commanded", exit_code=code)
            self.last_cause = self._kill_cause
            return self._restart_later(now, self._kill_cause)
        if self.state is State.RUNNING:
            if now - self.running_since >= self.policy.healthy_after:
                self.attempt = 0
            self.last_cause = "crash"
            return self._restart_later(now, "crash")
        if self.state is State.STARTING:
            self.last_cause = "crash"
            return self._restart_later(now, "crash")
        return []

    def heartbeat_lost(self, now: float) -> list[Action]:
        if self.state not in (State.RUNNING, State.STARTING):
            return []
        return self._kill(now, "hang_kill", "KILL")

    def _kill(self, now: float, cause: str, signal: str) -> list[Action]:
        self._kill_cause = cause
        self.kill_at = now + self.policy.stop_grace
        actions: list[Action] = [*self._to(State.STOPPING, cause=cause), Kill(signal)]
        if signal == "TERM":
            actions.append(Wake(self.kill_at))
        return actions

    def stop(self, now: float) -> list[Action]:
        if self.state in (State.BACKOFF, State.FATAL, State.EXITED):
            return self._to(State.STOPPED, cause="commanded")
        if self.state in (State.RUNNING, State.STARTING):
            if self.pid == 0 and self.state is State.STARTING:
                return self._to(State.STOPPED, cause="commanded")
            return self._kill(now, "commanded", "TERM")
        if self.state is State.STOPPING:
            self._kill_cause = "commanded"
        return []

    def tick(self, now: float) -> list[Action]:
        if self.state is State.BACKOFF and now >= self.retry_at:
            return self._spawn(now)
        if self.state is State.STARTING and now - self.started_at >= self.policy.start_timeout:
            return self._kill(now, "hang_kill", "KILL")
        if self.state is State.STOPPING and now >= self.kill_at:
            self.kill_at = now + self.policy.stop_grace
            return [Kill("KILL")]
        return []

    def clear(self, now: float) -> list[Action]:
        """`kas daemon restart-worker`: forget the restart history and start again."""
        self.restarts.clear()
        self.attempt = 0
        if self.state in (State.FATAL, State.STOPPED, State.EXITED, State.BACKOFF):
            return self._spawn(now)
        return []
