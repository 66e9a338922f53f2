"""Scenario files for the fake sdk agents (``fake_codex.py``, ``fake_claude_sdk.py``).

A scenario is JSON::

    {"on_start": [steps],                      # before reading stdin (exit at once, hang, garbage)
     "rules": [{"when": "<regex>", "steps": [steps]}, ...],   # first rule matching the prompt wins
     "default": [steps]}

String values in steps (except ``raw``) are formatted with the regex groups (``{1}``) and ``{prompt}``.
Steps (each fake renders them in its own protocol):

- ``{"say": text, "chunks": n, "repeat": r}``: assistant text (``r`` times), streamed in ``n`` deltas;
- ``{"run": command, "approval": true, "cancel_after": s}``: a shell tool call, asking for approval
  unless permissions are bypassed (``cancel_after``: withdraw the question after ``s`` seconds);
  an approved command really runs in the working directory;
- ``{"stall": s}``: work for up to ``s`` seconds or until interrupted;
- ``{"sleep": s}``, ``{"raw": line}`` (a raw stdout line), ``{"stderr": line}``;
- ``{"retry_error": message}``: a retryable error notice; ``{"fail": message}``: the turn fails;
- ``{"exit": code}``: the process exits; ``{"hang": true}``: it stops answering for good.
"""

from __future__ import annotations

import json
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).with_name("scenarios") / "default.json"


def load(argv: list[str]) -> dict[str, Any]:
    path = DEFAULT
    if "--scenario" in argv:
        path = Path(argv[argv.index("--scenario") + 1])
    elif os.environ.get("FAKE_AGENT_SCENARIO"):
        path = Path(os.environ["FAKE_AGENT_SCENARIO"])
    return json.loads(path.read_text())


def _fill(value: Any, groups: tuple[str, ...], prompt: str) -> Any:
    if isinstance(value, str):
        return value.format("", *groups, prompt=prompt)
    if isinstance(value, dict):
        return {k: v if k == "raw" else _fill(v, groups, prompt) for k, v in value.items()}
    return value


def steps_for(scenario: dict[str, Any], prompt: str) -> list[dict[str, Any]]:
    for rule in scenario.get("rules", []):
        match = re.search(rule["when"], prompt)
        if match:
            return [_fill(step, match.groups(""), prompt) for step in rule["steps"]]
    return [_fill(step, (), prompt) for step in scenario.get("default", [])]


def text_of(step: dict[str, Any]) -> str:
    return str(step["say"]) * int(step.get("repeat", 1))


def chunks(text: str, count: Any) -> list[str]:
    n = max(1, int(count or 1))
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def hang() -> None:
    while True:
        time.sleep(3600)


def stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def state_dir(name: str) -> Path:
    """Where a fake keeps its threads/sessions so a resume finds them (under the test's HOME)."""
    path = Path(os.environ.get("HOME", "/tmp")) / f".{name}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stamp() -> None:
    """Benchmarks: append the wall clock (ns) of a turn's end to ``$FAKE_AGENT_STAMPS``."""
    path = os.environ.get("FAKE_AGENT_STAMPS")
    if path:
        with open(path, "a") as handle:
            handle.write(f"{time.time_ns()}\n")


class Inbox:
    """stdin, read on a thread: JSON objects are queued, anything else is reported on stderr with
    ``complaint``; at EOF the process exits at once (even mid-turn) with ``exit_code()``."""

    def __init__(self, complaint: str, exit_code: Callable[[], int]) -> None:
        self.complaint = complaint
        self.exit_code = exit_code
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in sys.stdin:
            line = raw.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("not an object")
            except ValueError:
                stderr(f"{self.complaint}: {line[:80]}")
                continue
            self.queue.put(message)
        self.queue.put(None)

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        message = self.queue.get(timeout=timeout)
        if message is None:
            sys.stdout.flush()
            os._exit(self.exit_code())
        return message

    def during(self, seconds: float, handle: Callable[[dict[str, Any]], None]) -> None:
        """Handle what arrives for up to ``seconds`` (interrupts, answers while a turn runs)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.get(left)
            except queue.Empty:
                return
            handle(message)
