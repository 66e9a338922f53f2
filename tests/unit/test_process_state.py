"""Worker lifecycle state machine under a fake clock: backoff timeline, FATAL, hangs, stops."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasmos.supervisor.process_state import Kill, Policy, Publish, Spawn, State, Wake, WorkerProcess


def no_jitter() -> float:
    return 0.5  # 1 + jitter * (2 * 0.5 - 1) == 1


def states(actions: list) -> list[State]:
    return [a.state for a in actions if isinstance(a, Publish)]


def test_happy_start_and_commanded_stop() -> None:
    w = WorkerProcess("store", rng=no_jitter)
    actions = w.start(0.0)
    assert Spawn() in actions and states(actions) == [State.STARTING]
    w.spawned(0.01, 100)
    assert states(w.ready(0.1)) == [State.RUNNING]
    stop = w.stop(5.0)
    assert Kill("TERM") in stop and Wake(15.0) in stop and w.state is State.STOPPING
    assert w.tick(15.0) == [Kill("KILL")]
    assert states(w.exited(15.1, -9)) == [State.STOPPED]
    assert w.last_cause == "commanded" and not w.restarts


def test_crash_at_start_backoff_timeline_then_fatal() -> None:
    w = WorkerProcess("git", rng=no_jitter)
    now = 0.0
    w.start(now)
    delays = []
    while True:
        w.spawned(now, 1)
        actions = w.exited(now + 0.01, 1)
        now += 0.01
        if w.state is State.FATAL:
            break
        [wake] = [a for a in actions if isinstance(a, Wake)]
        delays.append(round(wake.at - now, 3))
        assert w.tick(wake.at - 0.001) == []
        now = wake.at
        assert Spawn() in w.tick(now)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert states(actions) == [State.FATAL] and actions[0].detail["restarts"] == 5
    assert w.tick(now + 100) == []  # FATAL stays FATAL
    cleared = w.clear(now + 100)
    assert Spawn() in cleared and w.state is State.STARTING and not w.restarts


def test_backoff_caps_at_30s_and_jitter_is_bounded() -> None:
    w = WorkerProcess("s", Policy(max_restarts=100, window=1.0), rng=lambda: 1.0)
    now = 0.0
    w.start(now)
    last = 0.0
    for _ in range(12):
        w.spawned(now, 1)
        w.ready(now)
        actions = w.exited(now + 1, 1)
        [wake] = [a for a in actions if isinstance(a, Wake)]
        last = wake.at - (now + 1)
        now = wake.at
        w.tick(now)
    assert last == pytest.approx(30.0 * 1.2)


def test_backoff_resets_after_healthy_uptime() -> None:
    w = WorkerProcess("s", rng=no_jitter)
    w.start(0)
    w.ready(0)
    w.exited(1, 1)  # attempt 1, delay 0.5
    w.tick(1.5)
    w.ready(1.5)
    actions = w.exited(100, 1)  # ran for ~98 s: healthy, backoff starts over
    assert Wake(100.5) in actions


def test_hang_is_killed_and_restarted() -> None:
    w = WorkerProcess("session", rng=no_jitter)
    w.start(0)
    w.spawned(0, 7)
    w.ready(0.2)
    actions = w.heartbeat_lost(3.2)
    assert Kill("KILL") in actions and w.state is State.STOPPING
    actions = w.exited(3.3, -9)
    assert states(actions) == [State.BACKOFF] and w.last_cause == "hang_kill"


def test_no_ready_within_start_timeout() -> None:
    w = WorkerProcess("s", rng=no_jitter)
    w.start(0)
    w.spawned(0, 5)
    assert w.tick(9.9) == []
    assert Kill("KILL") in w.tick(10.0)
    assert states(w.exited(10.1, -9)) == [State.BACKOFF]


def test_stop_while_backing_off_cancels_restart() -> None:
    w = WorkerProcess("s", rng=no_jitter)
    w.start(0)
    w.exited(0.1, 1)
    assert w.state is State.BACKOFF
    assert states(w.stop(0.2)) == [State.STOPPED]
    assert w.tick(10) == []


def test_spawn_error_counts_as_restart_and_stop_during_spawn_kills_orphan() -> None:
    w = WorkerProcess("s", rng=no_jitter)
    w.start(0)
    assert states(w.spawn_failed(0, "ENOENT")) == [State.BACKOFF] and w.last_error == "ENOENT"
    w2 = WorkerProcess("t")
    w2.start(0)
    w2.stop(0.01)
    assert w2.state is State.STOPPED and w2.spawned(0.02, 9) == [Kill("KILL")]


def test_never_restart_policy_exits() -> None:
    w = WorkerProcess("s", Policy(restart=False))
    w.start(0)
    w.ready(0)
    assert states(w.exited(1, 0)) == [State.EXITED]


EVENTS = ["start", "spawned", "spawn_failed", "ready", "exited", "heartbeat_lost", "stop", "tick", "clear"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(EVENTS), st.floats(0, 5)), max_size=80))
def test_random_event_sequences_keep_invariants(steps: list[tuple[str, float]]) -> None:
    w = WorkerProcess("fuzz")
    now = 0.0
    for event, dt in steps:
        now += dt
        method = getattr(w, event)
        if event == "spawned":
            actions = method(now, 123)
        elif event == "spawn_failed":
            actions = method(now, "boom")
        elif event == "exited":
            actions = method(now, 1)
        else:
            actions = method(now)
        assert w.state in State
        for action in actions:
            if isinstance(action, Wake):
                assert action.at >= now
        # Restart intensity is never exceeded within the window.
        assert len([t for t in w.restarts if now - t < w.policy.window]) <= w.policy.max_restarts
        # A spawn is only ever asked for together with entering STARTING.
        if any(isinstance(a, Spawn) for a in actions):
            assert w.state is State.STARTING
        if w.state is State.FATAL:
            assert len(w.restarts) == w.policy.max_restarts
