"""The daemon against its floors, all measured in the same run on a private daemon.

1. No-op request client → supervisor → store worker → client (``store.ping``): p50/p99 of sequential
   round trips and pipelined throughput (window 64), against a raw Python ROUTER–ROUTER broker with a
   DEALER echo worker (three processes, no parsing). Goals: p50 ≤ 1.3× floor, throughput ≥ 0.7×.
2. ``kas signal emit`` returning → ``task.transition`` event at a subscriber: p50/p99 (goal p50 ≤ 50 ms);
   and sustained signals/s end to end (emit through ctl.sock, pipelined, until the last transition
   event) against the raw SQLite one-transaction-per-signal floor (goal ≥ 0.5×).
3. ``kas task list --json`` through the daemon against python importing typer and zmq plus one raw
   round trip to the daemon (goal ≤ 1.5×).
4. Idle daemon CPU over ``--idle`` seconds (goal ≤ 0.5 % of a core) and RSS/USS of each process.

usage: .venv/bin/python bench/bench_daemon.py [--n 5000] [--idle 60] [--signals 2000] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import zmq

BIN = Path(sys.executable).parent
KAS = str(BIN / "kas")

BROKER = textwrap.dedent(
    """
    import sys, zmq
    ctx = zmq.Context()
    front = ctx.socket(zmq.ROUTER); front.bind(sys.argv[1])
    back = ctx.socket(zmq.ROUTER); back.bind(sys.argv[2])
    poller = zmq.Poller(); poller.register(front, zmq.POLLIN); poller.register(back, zmq.POLLIN)
    worker = None
    while True:
        for sock, _ in poller.poll():
            frames = sock.recv_multipart()
            if sock is back:
                if worker is None:
                    worker = frames[0]
                    continue
                front.send_multipart(frames[1:])
            elif worker is not None:
                back.send_multipart([worker, *frames])
    """
)
WORKER = textwrap.dedent(
    """
    import sys, zmq
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER); sock.connect(sys.argv[1]); sock.send(b"READY")
    while True:
        frames = sock.recv_multipart()
        sock.send_multipart(frames)
    """
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def round_trips(sock: zmq.Socket, make, n: int) -> tuple[list[float], float]:
    """Sequential RTTs (µs), then pipelined throughput (msg/s) with a window of 64."""
    for i in range(200):  # warm-up
        sock.send_multipart(make(i))
        sock.recv_multipart()
    rtts = []
    for i in range(n):
        t = time.perf_counter()
        sock.send_multipart(make(i))
        sock.recv_multipart()
        rtts.append((time.perf_counter() - t) * 1e6)
    start = time.perf_counter()
    sent = received = 0
    while received < n:
        while sent < n and sent - received < 64:
            sock.send_multipart(make(sent))
            sent += 1
        sock.recv_multipart()
        received += 1
    return rtts, n / (time.perf_counter() - start)


def floor_broker(tmp: Path, n: int) -> tuple[list[float], float]:
    front, back = f"ipc://{tmp}/f.sock", f"ipc://{tmp}/b.sock"
    procs = [subprocess.Popen([sys.executable, "-c", BROKER, front, back])]
    time.sleep(0.3)
    procs.append(subprocess.Popen([sys.executable, "-c", WORKER, back]))
    time.sleep(0.3)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.connect(front)
    body = json.dumps({"v": 1, "id": "x", "op": "store.ping", "args": {}}).encode()
    try:
        return round_trips(sock, lambda i: [b"", b"KAS1", b"REQ", body], n)
    finally:
        sock.close(0)
        for proc in procs:
            proc.kill()
            proc.wait()


def kasmos_noop(runtime, n: int) -> tuple[list[float], float]:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.connect(runtime.endpoint("ctl"))

    def make(i: int) -> list[bytes]:
        return [b"", b"KAS1", b"REQ", b'{"v":1,"id":"r%d","op":"store.ping","args":{}}' % i]

    try:
        return round_trips(sock, make, n)
    finally:
        sock.close(0)


def events(runtime, topic: bytes) -> zmq.Socket:
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(runtime.endpoint("events"))
    time.sleep(0.3)  # slow joiner
    return sub


def emit_latency(repo: Path, runtime, runs: int) -> tuple[list[float], list[float]]:
    """Per run: (event time − `kas signal emit` exit) and (event time − its launch), in ms. A subscriber
    thread timestamps events as they arrive, so an event that beats the CLI's exit is negative."""
    import threading

    sub = events(runtime, b"task.transition")
    seen: dict[str, float] = {}

    def listen() -> None:
        while len(seen) < runs:
            if sub.poll(10_000):
                frames = sub.recv_multipart()
                seen.setdefault(json.loads(frames[1])["task"], time.perf_counter())

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    after_exit, after_launch = [], []
    for i in range(runs):
        name = f"lat-{i}"
        subprocess.run([KAS, "task", "create", name], cwd=repo, check=True, capture_output=True)
        launched = time.perf_counter()
        subprocess.run([KAS, "signal", "emit", "plan-start", name], cwd=repo, check=True, capture_output=True)
        returned = time.perf_counter()
        deadline = time.monotonic() + 10
        while name not in seen and time.monotonic() < deadline:
            time.sleep(0.0005)
        after_exit.append((seen[name] - returned) * 1000)
        after_launch.append((seen[name] - launched) * 1000)
    thread.join(timeout=1)
    sub.close(0)
    return after_exit, after_launch


def sustained(repo: Path, runtime, signals: int) -> float:
    subprocess.run([KAS, "task", "create", "burst"], cwd=repo, check=True, capture_output=True)
    subprocess.run(
        [KAS, "task", "set-status", "burst", "planning", "--force"], cwd=repo, check=True, capture_output=True
    )
    sub = events(runtime, b"task.transition")
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.connect(runtime.endpoint("ctl"))
    args = json.dumps({"repo": str(repo), "type": "plan-start", "task": "burst"})
    start = time.perf_counter()
    sent = received = 0
    while received < signals:
        while sent < signals and sent - received < 64:
            body = f'{{"v":1,"id":"s{sent}","op":"signal.emit","args":{args}}}'
            sock.send_multipart([b"", b"KAS1", b"REQ", body.encode()])
            sent += 1
        sock.recv_multipart()
        received += 1
    transitions = 0
    while transitions < signals:
        frames = sub.recv_multipart()
        if json.loads(frames[1])["task"] == "burst":
            transitions += 1
    elapsed = time.perf_counter() - start
    sock.close(0)
    sub.close(0)
    return signals / elapsed


def sqlite_floor(signals: int) -> float:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_claim import run_floor, seed

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "floor.db"
        seed(db, signals)
        n, elapsed = run_floor(db)
    return n / elapsed


def timed(command: list[str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def cli_vs_floor(repo: Path, runtime, runs: int) -> tuple[float, float]:
    ping = b'{"v":1,"id":"p","op":"daemon.ping"}'
    floor_code = (
        f"import typer, zmq; s = zmq.Context().socket(zmq.DEALER); s.connect({runtime.endpoint('ctl')!r}); "
        f"s.send_multipart([b'', b'KAS1', b'REQ', {ping!r}]); s.recv_multipart()"
    )
    floor = timed([sys.executable, "-c", floor_code], repo, runs)
    ours = timed([KAS, "task", "list", "--json"], repo, runs)
    return ours, floor


def idle(pids: list[int], seconds: float) -> tuple[float, dict[int, tuple[str, float, float]]]:
    procs = [psutil.Process(pid) for pid in pids]
    before = [sum(p.cpu_times()[:2]) for p in procs]
    time.sleep(seconds)
    after = [sum(p.cpu_times()[:2]) for p in procs]
    cpu = 100 * (sum(after) - sum(before)) / seconds
    memory = {}
    for p in procs:
        info = p.memory_full_info()
        memory[p.pid] = (" ".join(p.cmdline()[1:4]), info.rss / 2**20, info.uss / 2**20)
    return cpu, memory


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--idle", type=float, default=60)
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    ns = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kb", dir="/tmp"))
    os.environ.update(
        HOME=str(tmp / "home"),
        XDG_CONFIG_HOME=str(tmp / "home" / ".config"),
        XDG_RUNTIME_DIR=str(tmp / "run"),
    )
    repo = tmp / "bench"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    from kasmos.supervisor.runtime import Runtime, read_pid

    runtime = Runtime(tmp / "run" / "kasmos")
    subprocess.run([KAS, "daemon", "start"], cwd=repo, check=True)
    try:
        status = json.loads(subprocess.run([KAS, "daemon", "status", "--json"], cwd=repo, check=True,
                                           capture_output=True, text=True).stdout)  # fmt: skip
        pids = [status["pid"], *(w["pid"] for w in status["workers"])]
        f_rtt, f_tp = floor_broker(tmp, ns.n)
        k_rtt, k_tp = kasmos_noop(runtime, ns.n)
        fp50, kp50 = statistics.median(f_rtt), statistics.median(k_rtt)
        print(f"no-op RTT   floor p50 {fp50:.0f} µs p99 {percentile(f_rtt, 0.99):.0f} µs, {f_tp:,.0f} msg/s")
        print(f"            kasmos p50 {kp50:.0f} µs p99 {percentile(k_rtt, 0.99):.0f} µs, {k_tp:,.0f} msg/s")
        print(
            f"            ratio p50 {kp50 / fp50:.2f}x (goal <= 1.3), "
            f"throughput {k_tp / f_tp:.2f}x (goal >= 0.7)"
        )
        after_exit, after_launch = emit_latency(repo, runtime, ns.runs)
        early = sum(1 for x in after_exit if x <= 0)
        print(
            f"emit->event from `kas signal emit` exit: p50 {statistics.median(after_exit):.1f} ms "
            f"p99 {percentile(after_exit, 0.99):.1f} ms (goal p50 <= 50 ms; negative = before the CLI "
            f"exited, {early}/{len(after_exit)} runs); from its launch: p50 "
            f"{statistics.median(after_launch):.0f} ms"
        )
        rate, floor_rate = sustained(repo, runtime, ns.signals), sqlite_floor(ns.signals)
        print(
            f"sustained   {rate:,.0f} signals/s end to end vs raw sqlite floor {floor_rate:,.0f}/s "
            f"-> {rate / floor_rate:.2f}x (goal >= 0.5)"
        )
        ours, floor = cli_vs_floor(repo, runtime, ns.runs)
        print(
            f"task list   `kas task list --json` via daemon {ours:.0f} ms "
            f"vs python+typer+zmq+1 RTT {floor:.0f} ms "
            f"-> {ours / floor:.2f}x (goal <= 1.5)"
        )
        cpu, memory = idle(pids, ns.idle)
        print(f"idle        {cpu:.3f} % of a core over {ns.idle:g}s, all daemon processes (goal <= 0.5)")
        for pid, (what, rss, uss) in memory.items():
            print(f"            pid {pid} {what}: RSS {rss:.1f} MiB, USS {uss:.1f} MiB")
        assert read_pid(runtime)
    finally:
        subprocess.run([KAS, "daemon", "stop"], cwd=repo)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
