"""Helpers for agent tests: a private tmux server, event collection, instance lookups."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from typing import Any

import zmq

from tests.faults.helpers import retry_until

Seen = list[tuple[float, dict[str, Any]]]


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    socket = os.environ["KASMOS_TMUX_SOCKET"]
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=False)


def pane_pid(session: str) -> int:
    out = tmux("display-message", "-p", "-t", f"={session}:", "#{pane_pid}").stdout.strip()
    return int(out) if out.isdigit() else 0


def sessions() -> list[str]:
    return tmux("list-sessions", "-F", "#{session_name}").stdout.split()


class Events:
    """Every event the daemon publishes, with the monotonic time it arrived, collected on a thread."""

    def __init__(self, runtime: Any) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.endpoint = runtime.endpoint("events")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(5)
        time.sleep(0.2)  # a SUB socket joins a moment after connecting

    def _run(self) -> None:
        context = zmq.Context.instance()
        sock = context.socket(zmq.SUB)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(self.endpoint)
        self.ready.set()
        try:
            while not self.stop.is_set():
                if sock.poll(50):
                    frames = sock.recv_multipart()
                    self.items.append((time.monotonic(), json.loads(frames[-1])))
        finally:
            sock.close(linger=0)

    def of(
        self, kind: str, title: str | None = None, after: float = 0.0
    ) -> list[tuple[float, dict[str, Any]]]:
        return [
            (t, e)
            for t, e in list(self.items)
            if e["kind"] == kind and t >= after and (title is None or e.get("instance") == title)
        ]

    def wait(
        self, kind: str, title: str | None = None, after: float = 0.0, timeout: float = 15
    ) -> tuple[float, dict[str, Any]]:
        assert retry_until(lambda: bool(self.of(kind, title, after)), timeout), (
            f"no {kind} event for {title}; saw {[e['kind'] for _, e in self.items][-30:]}"
        )
        return self.of(kind, title, after)[0]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)


def instance(kas: Any, title: str) -> dict[str, Any]:
    result = kas("instance", "list", "--json")
    assert result.returncode == 0, result.stderr
    return next(r for r in json.loads(result.stdout) if r["title"] == title)


def wait_status(kas: Any, title: str, *statuses: str, timeout: float = 15) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def check() -> bool:
        seen.update(instance(kas, title))
        return seen["status"] in statuses

    assert retry_until(check, timeout, interval=0.1), f"{title} is {seen.get('status')}, not {statuses}"
    return seen
