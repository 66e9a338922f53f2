"""Agents in tmux against their floors, measured in the same run on a private daemon and tmux server.

1. Crash-detection latency: kill -9 of an agent → ``agent.crashed`` at a subscriber, p50/p99 over
   ``--crashes`` kills (goal p99 ≤ 100 ms); floor: pidfd_open + poll on a killed process.
2. ``--agents`` idle agents (the fake agent program): CPU of the whole daemon (supervisor + every
   worker) over ``--idle`` seconds (goal ≤ 3 % of a core) and USS per session worker (goal ≤ 8 MB).
3. kill -9 of the daemon with those agents → ``kas daemon start`` → every agent re-adopted
   (``agent.adopted`` events), wall time (goal ≤ 3 s).
4. Orphan scan of ``--sessions`` kas_ sessions (the scanner's ``tmux.list``: in-process and through the
   daemon) against a raw ``tmux list-sessions`` in the same run (goal ≤ 20 ms).

usage: .venv/bin/python bench/bench_agents.py [--agents 50] [--idle 60] [--crashes 30] [--sessions 200]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import zmq

BIN = Path(sys.executable).parent
KAS = str(BIN / "kas")
FAKE = Path(__file__).resolve().parent.parent / "tests" / "fakes" / "fake_agent.py"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Bench:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kb"))
        self.socket = f"kb{os.getpid()}"
        home = self.root / "home"
        home.mkdir()
        self.env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "KASMOS_TMUX_SOCKET": self.socket,
        }
        (self.root / "run").mkdir(mode=0o700)
        config = home / ".config" / "kasmos"
        config.mkdir(parents=True)
        (config / "daemon.toml").write_text("[agent_restart]\nmax_restarts = 1000\nbackoff_sec = 0\n")
        self.repo = self.root / "repo"
        self.repo.mkdir()
        who = {
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@b",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@b",
        }
        for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]):
            subprocess.run(["git", *args], cwd=self.repo, check=True, env={**self.env, **who})
        self.program = self.root / "claude"
        self.program.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
        self.program.chmod(0o755)
        os.environ.update(self.env)  # for the in-process client and scanner below

    def kas(self, *args: str) -> str:
        done = subprocess.run([KAS, *args], cwd=self.repo, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"kas {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True).stdout

    def endpoint(self) -> str:
        return f"ipc://{self.root / 'run' / 'kasmos' / 'events.sock'}"

    def daemon_pid(self) -> int:
        text = (self.root / "run" / "kasmos" / "daemon.pid").read_text().split()
        return int(text[0])

    def subscriber(self) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        sock.setsockopt(zmq.SUBSCRIBE, b"agent.")
        sock.setsockopt(zmq.RECONNECT_IVL, 10)
        sock.connect(self.endpoint())
        return sock

    def instances(self) -> list[dict]:
        return json.loads(self.kas("instance", "list", "--json"))

    def close(self) -> None:
        subprocess.run([KAS, "daemon", "stop"], cwd=self.repo, env=self.env, capture_output=True)
        self.tmux("kill-server")
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(sock: zmq.Socket[bytes], kind: str, title: str | None, timeout: float = 10) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sock.poll(100):
            body = json.loads(sock.recv_multipart()[-1])
            if body["kind"] == kind and (title is None or body.get("instance") == title):
                return time.monotonic()
    raise SystemExit(f"no {kind} for {title}")


def pidfd_floor(n: int) -> list[float]:
    out = []
    for _ in range(n):
        proc = subprocess.Popen(["sleep", "100"])
        fd = os.pidfd_open(proc.pid)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        select.select([fd], [], [], 5)
        out.append(time.monotonic() - t0)
        os.close(fd)
        proc.wait()
    return out


def crash_latency(b: Bench, n: int) -> None:
    b.kas("instance", "start", "crashy", "--program", str(b.program))
    sock = b.subscriber()
    time.sleep(0.3)
    lat = []
    for _ in range(n):
        time.sleep(0.5)
        pid = int(b.tmux("display-message", "-p", "-t", "=kas_crashy:", "#{pane_pid}").strip())
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        lat.append(wait_for(sock, "agent.crashed", "crashy") - t0)
        wait_for(sock, "agent.relaunched", "crashy")
    sock.close(0)
    b.kas("instance", "kill", "crashy", "--force")
    floor = pidfd_floor(n)
    print(f"1. crash detection over {n} kills: p50 {statistics.median(lat) * 1000:.1f} ms, "
          f"p99 {pct(lat, 99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms (goal p99 ≤ 100 ms); "
          f"floor pidfd p50 {statistics.median(floor) * 1000:.2f} ms")  # fmt: skip


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def idle_agents(b: Bench, agents: int, idle: float) -> None:
    t0 = time.monotonic()
    for i in range(agents):
        b.kas("instance", "start", f"idle-{i:02d}", "--program", str(b.program))
    started = time.monotonic() - t0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(r["status"] != "idle" for r in b.instances()):
        time.sleep(0.5)
    time.sleep(3)
    procs = tree(b.daemon_pid())
    before, w0 = cpu_seconds(procs), time.monotonic()
    time.sleep(idle)
    used, wall = cpu_seconds(procs) - before, time.monotonic() - w0
    sessions = [p for p in procs if "kasmos.workers.session.worker" in " ".join(p.cmdline())]
    uss = [p.memory_full_info().uss / 2**20 for p in sessions]
    rss = [p.memory_info().rss / 2**20 for p in sessions]
    print(f"2. {agents} idle agents (started in {started:.1f} s): whole daemon ({len(procs)} processes) "
          f"{used / wall * 100:.2f} % of one core over {wall:.0f} s (goal ≤ 3 %); session worker USS "
          f"median {statistics.median(uss):.1f} MiB (RSS {statistics.median(rss):.1f}) "
          f"(goal ≤ 8 MB)")  # fmt: skip


def readopt(b: Bench, agents: int) -> None:
    pid = b.daemon_pid()
    os.kill(pid, signal.SIGKILL)
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.01)
    time.sleep(0.5)
    sock = b.subscriber()
    t0 = time.monotonic()
    subprocess.Popen([KAS, "daemon", "start"], cwd=b.repo, env=b.env, stdout=subprocess.DEVNULL)
    adopted, relaunched = 0, 0
    deadline = time.monotonic() + 60
    while adopted + relaunched < agents and time.monotonic() < deadline:
        if sock.poll(100):
            kind = json.loads(sock.recv_multipart()[-1])["kind"]
            adopted += kind == "agent.adopted"
            relaunched += kind == "agent.relaunched"
    took = time.monotonic() - t0
    sock.close(0)
    print(f"3. kill -9 daemon with {agents} agents → start → {adopted} re-adopted, {relaunched} relaunched "
          f"in {took:.2f} s (goal ≤ 3 s)")  # fmt: skip


def orphan_scan(b: Bench, sessions: int) -> None:
    from kasmos.supervisor.client import Client
    from kasmos.workers.orphans import scan
    from kasmos.workers.session.tmux import Tmux

    for i in range(sessions):
        b.tmux("new-session", "-d", "-s", f"kas_orphan{i:03d}", "sleep 100000")
    fmt = "#{session_name}\t#{session_id}\t#{session_created}\t#{session_windows}\t#{session_attached}"

    def timed(fn, n: int = 20) -> float:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return statistics.median(out) * 1000

    floor = timed(
        lambda: subprocess.run(["tmux", "-L", b.socket, "list-sessions", "-F", fmt], capture_output=True)
    )
    inproc = timed(lambda: scan.scan(Tmux()))
    client = Client()
    found = len(client.call("tmux.list"))
    daemon = timed(lambda: client.call("tmux.list"))
    print(f"4. orphan scan of {found} orphans among {sessions + len(b.instances())} sessions: scanner "
          f"{inproc:.1f} ms, through the daemon {daemon:.1f} ms; raw list-sessions floor {floor:.1f} ms "
          f"→ {inproc / floor:.2f}× (goal ≤ 20 ms)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--idle", type=float, default=60)
    parser.add_argument("--crashes", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=200)
    ns = parser.parse_args()
    b = Bench()
    try:
        b.kas("daemon", "start")
        crash_latency(b, ns.crashes)
        idle_agents(b, ns.agents, ns.idle)
        readopt(b, ns.agents)
        orphan_scan(b, ns.sessions)
    finally:
        b.close()


if __name__ == "__main__":
    main()
