"""The daemon under faults: kill -9 of a worker and of the supervisor during a burst, a worker that
crashes at start, a frozen worker, garbage on both sockets, two simultaneous starts."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import zmq

from tests.conftest import KAS, processes_of
from tests.faults.helpers import query, retry_until
from tests.faults.test_exactly_once import _assert_each_applied_once, _planning_tasks

EMITTER = Path(__file__).parents[1] / "fakes" / "daemon_emitter.py"
EMITTERS, PER_EMITTER = 10, 1000


def _start_burst(daemon, repo: Path, kas) -> list[tuple[subprocess.Popen, Path]]:
    names = [f"task-{i:02d}" for i in range(EMITTERS)]
    _planning_tasks(kas, names)
    procs = []
    for i, name in enumerate(names):
        out = repo.parent / f"emitter{i}.json"
        command = [
            sys.executable, str(EMITTER), str(daemon.runtime.root), str(repo), name,
            str(PER_EMITTER), f"e{i}", str(out),
        ]  # fmt: skip
        procs.append((subprocess.Popen(command, stdout=subprocess.DEVNULL), out))
    return procs


def _finish_burst(procs) -> Counter[str]:
    codes: Counter[str] = Counter()
    for proc, out in procs:
        assert proc.wait(timeout=300) == 0
        result = json.loads(out.read_text())
        assert result["fatal"] == [] and result["ok"] == PER_EMITTER, result
        codes.update(result["codes"])
    return codes


def _count(db: Path, where: str = "1") -> int:
    return query(db, f"SELECT count(*) FROM signals WHERE {where}")[0][0]


def _outbox_pending(db: Path) -> int:
    return query(db, "SELECT count(*) FROM outbox WHERE status = 'pending'")[0][0]


def _finish_and_check(procs, db: Path) -> Counter[str]:
    """Every emitter done; every signal applied once, every outbox entry executed once; clients saw
    only retryable errors."""
    codes = _finish_burst(procs)
    total = EMITTERS * PER_EMITTER
    assert retry_until(lambda: _count(db, "status = 'done'") == total, timeout=120)
    _assert_each_applied_once(db, total)
    assert retry_until(lambda: query(db, "SELECT count(*) FROM outbox WHERE status = 'pending'")[0][0] == 0)
    _assert_outbox_executed_once(db)
    assert set(codes) <= {"unavailable", "timeout"}, codes
    return codes


def _assert_outbox_executed_once(db: Path) -> None:
    attempts = dict(query(db, "SELECT attempts, count(*) FROM outbox GROUP BY attempts"))
    assert attempts == {1: EMITTERS * PER_EMITTER}, attempts
    executed = query(db, "SELECT count(*) FROM audit_events WHERE kind = 'outbox_executed'")[0][0]
    assert executed == EMITTERS * PER_EMITTER


@pytest.mark.slow
def test_kill_store_worker_during_a_burst(kas, repo: Path, store_path: Path, daemon) -> None:
    procs = _start_burst(daemon, repo, kas)
    assert retry_until(lambda: _count(store_path) >= 2000, timeout=120)
    victim = daemon.worker()["pid"]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    assert retry_until(
        lambda: (w := daemon.worker())["state"] == "RUNNING" and w["pid"] != victim, timeout=10, interval=0.01
    )
    back = time.monotonic() - killed
    codes = _finish_and_check(procs, store_path)
    assert daemon.worker()["restarts"] == 1
    print(f"\nstore worker back {back:.3f}s after kill -9; client retryable errors: {dict(codes)}")


@pytest.mark.slow
def test_kill_supervisor_during_a_burst(kas, repo: Path, store_path: Path, daemon) -> None:
    procs = _start_burst(daemon, repo, kas)
    assert retry_until(lambda: _count(store_path) >= 2000, timeout=120)
    supervisor, worker = daemon.pid, daemon.worker()["pid"]
    os.kill(supervisor, signal.SIGKILL)
    # The orphaned store worker notices its parent is gone and leaves on its own.
    assert retry_until(lambda: not _alive(worker), timeout=5)
    assert (daemon.runtime.root / "ctl.sock").exists()  # stale files stay behind after kill -9
    started = kas("daemon", "start")
    assert started.returncode == 0, started.stderr + daemon.log()[-2000:]
    codes = _finish_and_check(procs, store_path)
    print(f"\nclient retryable errors across the supervisor restart: {dict(codes)}")


def _alive(pid: int) -> bool:
    from kasmos.workers.store.owner import process_alive

    return process_alive(pid)


@pytest.mark.slow
def test_worker_crashing_at_start_goes_fatal_while_status_answers(kas, repo: Path, env) -> None:
    from kasmos.supervisor.client import Client
    from kasmos.supervisor.runtime import Runtime

    started = kas("daemon", "start", extra_env={"KASMOS_FAULT": "crash:store.start"})
    assert started.returncode == 0, started.stderr
    client = Client(Runtime(Path(env["XDG_RUNTIME_DIR"]) / "kasmos"), timeout=2.0)
    t0 = time.monotonic()
    backoffs: dict[int, float] = {}
    answered = 0
    while time.monotonic() - t0 < 60:
        worker = client.call("daemon.status")["workers"][0]  # must answer every time
        answered += 1
        if worker["state"] == "BACKOFF":
            backoffs.setdefault(worker["restarts"], worker["retry_in"])
        if worker["state"] == "FATAL":
            break
        time.sleep(0.05)
    fatal_after = time.monotonic() - t0
    assert worker["state"] == "FATAL" and worker["last_exit"] == 3 and worker["restarts"] == 5
    # Exponential backoff with ±20% jitter: 0.5, 1, 2, 4, 8 s (first seen value, slightly elapsed).
    for n, nominal in zip(range(1, 6), (0.5, 1, 2, 4, 8), strict=True):
        assert nominal * 0.8 - 0.3 <= backoffs[n] <= nominal * 1.2, backoffs
    status = kas("daemon", "status")
    assert status.returncode == 0 and "FATAL" in status.stdout and "3 (crash)" in status.stdout
    asked = time.monotonic()
    blocked = kas("task", "list")
    assert blocked.returncode == 7 and blocked.stderr == (
        "error: the store worker is fatal; see `kas daemon status`, then `kas daemon restart-worker store`\n"
    )
    assert time.monotonic() - asked < 5  # no futile retrying against a worker that gave up
    cleared = kas("daemon", "restart-worker", "store")
    assert cleared.stdout == "worker store: FATAL → restarting\n"
    assert client.call("daemon.status")["workers"][0]["state"] in ("STARTING", "BACKOFF")
    assert kas("daemon", "stop").returncode == 0
    print(f"\nFATAL after {fatal_after:.1f}s; status answered {answered} times; backoffs {backoffs}")


def test_frozen_worker_is_declared_dead_and_replaced(daemon) -> None:
    victim = daemon.worker()["pid"]
    os.kill(victim, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        assert retry_until(lambda: daemon.worker()["state"] != "RUNNING", timeout=10, interval=0.02)
        declared = time.monotonic() - stopped
        assert retry_until(
            lambda: (w := daemon.worker())["state"] == "RUNNING" and w["pid"] != victim, timeout=10
        )
        replaced = time.monotonic() - stopped
    finally:
        if _alive(victim):
            os.kill(victim, signal.SIGKILL)
    assert retry_until(lambda: not _alive(victim), timeout=5)
    assert daemon.worker()["last_cause"] == "hang_kill"
    assert 2.5 <= declared <= 6, declared
    print(f"\nSIGSTOP'd worker declared dead after {declared:.2f}s, replaced after {replaced:.2f}s")


def _garbage(rng: random.Random, tag: bytes) -> list[bytes]:
    choice = rng.randrange(10)
    body = json.dumps({"v": 1, "id": "x", "op": "task.list", "args": {}}).encode()
    if choice == 0:
        return [rng.randbytes(rng.randrange(0, 64))]
    if choice == 1:
        return [b"", tag]  # truncated
    if choice == 2:
        return [b"", b"KAS9", b"REQ", body]  # another protocol version
    if choice == 3:
        return [b"", tag, b"REQ", json.dumps({"v": 2, "id": "y", "op": "daemon.ping"}).encode()]
    if choice == 4:
        return [b"", tag, b"REQ", rng.randbytes(200)]
    if choice == 5:
        return [b"", tag, b"REQ", b'{"v":1,"id":5,"op":["x"]}']
    if choice == 6:
        return [b"", tag, rng.choice([b"READY", b"HB", b"REP", b"EVT", b"BYE", b"NOPE"]), body]
    if choice == 7:
        ready = {"v": 1, "service": "store", "name": "store", "pid": rng.randrange(1, 99999), "ops": []}
        return [b"", tag, b"READY", json.dumps(ready).encode()]
    if choice == 8:
        return [b"", tag, b"REQ", body, body]
    return [b"", tag, b"REP", b'{"v":1,"id":"zz","ok":true}']


def test_garbage_frames_on_both_sockets(daemon) -> None:
    rng = random.Random(20261121)
    context = zmq.Context.instance()
    worker_pid = daemon.worker()["pid"]
    total = 0
    for name, tag in (("ctl", b"KAS1"), ("work", b"KASW1")):
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.connect(daemon.runtime.endpoint(name))
        try:
            for _batch in range(5):
                for _ in range(10_000):
                    sock.send_multipart(_garbage(rng, tag))
                sock.send_multipart([b"", tag, b"REQ", b"x" * (2 * 1024 * 1024)])  # oversized
                total += 10_001
                assert daemon.call("daemon.ping", retry=True)["pid"] == daemon.pid
                assert daemon.call("store.ping", retry=True)["pid"] == worker_pid
        finally:
            sock.close()
    assert total >= 100_000
    status = daemon.status()
    assert status["workers"][0]["state"] == "RUNNING" and status["workers"][0]["restarts"] == 0
    assert "bad frame(s) so far" in daemon.log()


def test_two_simultaneous_starts_make_one_daemon_and_kill_9_recovers(kas, repo: Path, env) -> None:
    run_dir = Path(env["XDG_RUNTIME_DIR"])
    starts = [
        subprocess.Popen(
            [str(KAS), "daemon", "start"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    results = sorted((p.wait(timeout=30), *(s.decode() for s in p.communicate())) for p in starts)
    daemons = [p for p in processes_of(run_dir) if "kasmos.supervisor.daemon" in " ".join(p.info["cmdline"])]
    assert len(daemons) == 1
    pid = daemons[0].pid
    assert results[0][:2] == (0, f"daemon started (pid={pid})\n")
    assert results[1][0] == 5 and f"already running (pid={pid})" in results[1][2], results
    assert results[1][2].count("\n") == 1
    # kill -9 leaves the socket and pid files; the next start cleans them and runs.
    worker = json.loads(kas("daemon", "status", "--json").stdout)["workers"][0]["pid"]
    os.kill(pid, signal.SIGKILL)
    assert retry_until(lambda: not _alive(worker), timeout=5)
    root = run_dir / "kasmos"
    assert (root / "ctl.sock").exists() and (root / "daemon.pid").exists()
    again = kas("daemon", "start")
    assert again.returncode == 0, again.stderr
    assert kas("task", "list").returncode == 0
    assert kas("daemon", "stop").returncode == 0
