"""Agents under contract: the fakes always; the real codex and claude when installed (``KASMOS_CODEX_BIN``
/ ``KASMOS_CLAUDE_BIN``, else ``codex``/``claude`` on PATH), offline against loopback model mocks.

Each agent is driven in process by the session code itself (``SdkSession``: the same transport,
transcript and crash handling the session worker runs), in a real git worktree.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kasmos.workers.session.launch import LaunchSpec
from kasmos.workers.session.policy import RestartPolicy
from kasmos.workers.session.sdk_agent import SdkSession
from tests.fakes import model_mocks

FAKES = Path(__file__).resolve().parent.parent / "fakes"


@dataclass
class Agent:
    """How to run one agent program: its command line and extra environment."""

    name: str
    program: str
    env: dict[str, str] = field(default_factory=dict)
    model: str = ""
    real: bool = False


class Driver:
    """An ``SdkSession`` with a loop: every event it emits is kept, in order."""

    def __init__(self, session: SdkSession) -> None:
        self.session = session
        self.events: list[dict[str, Any]] = []

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            fds = self.session.fds()
            due = self.session.next_due() - time.monotonic()
            wait = max(0.0, min(deadline - time.monotonic(), due, 0.05))
            ready = select.select(fds, [], [], wait)[0] if fds else time.sleep(wait) or []
            for fd in ready:
                self.session.on_fd(fd)
            self.session.tick(time.monotonic())
            self.events += [e.model_dump() for e in self.session.take_events()]

    def until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                kinds = [e["kind"] for e in self.events][-25:]
                raise AssertionError(
                    f"timed out waiting for {what}; status {self.session.status}; events {kinds}"
                )
            self.pump(0.05)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e["data"] for e in self.events if e["kind"] == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 60) -> dict[str, Any]:
        self.until(lambda: len(self.of(kind)) >= count, timeout, f"{count}× {kind}")
        return self.of(kind)[count - 1]

    def wait_status(self, *statuses: str, timeout: float = 60) -> None:
        self.until(lambda: self.session.status in statuses, timeout, f"status {statuses}")

    def text(self) -> str:
        return self.session.capture("-", None)


def _which(var: str, name: str) -> str | None:
    path = os.environ.get(var) or shutil.which(name)
    return path if path and os.access(path, os.X_OK) else None


@pytest.fixture(params=["fake-codex", "fake-claude", "real-codex", "real-claude"])
def agent(request, tmp_path: Path, env: dict[str, str]) -> Iterator[Agent]:
    name = request.param
    home = tmp_path / "agent-home"
    home.mkdir()
    if name.startswith("fake"):
        script = FAKES / ("fake_codex.py" if name == "fake-codex" else "fake_claude_sdk.py")
        program = tmp_path / "bin" / name.split("-")[1]
        program.parent.mkdir(exist_ok=True)
        program.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
        program.chmod(0o755)
        yield Agent(name, str(program), {"HOME": str(home)})
        return
    binary = (
        _which("KASMOS_CODEX_BIN", "codex") if name == "real-codex" else _which("KASMOS_CLAUDE_BIN", "claude")
    )
    if binary is None:
        pytest.skip(f"{name}: not installed (set KASMOS_{name[5:].upper()}_BIN to run it)")
    if name == "real-codex":
        with model_mocks.responses_server() as mock:
            provider = (
                f'model_providers.mock={{name="mock", base_url="{mock.url}/v1", wire_api="responses", '
                f"request_max_retries=0, stream_max_retries=0}}"
            )
            program = f'{binary} app-server -c model_provider="mock" -c model="mock-model" -c \'{provider}\''
            codex_home = home / ".codex"
            codex_home.mkdir()
            yield Agent(name, program, {"HOME": str(home), "CODEX_HOME": str(codex_home)}, real=True)
        return
    with model_mocks.messages_server() as mock:
        yield Agent(
            name,
            binary,
            {
                "HOME": str(home),
                "ANTHROPIC_BASE_URL": mock.url,
                "ANTHROPIC_API_KEY": "sk-ant-contract-test",
                "IS_SANDBOX": "1",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_AUTOUPDATER": "1",
            },
            model="claude-sonnet-4-5",
            real=True,
        )


@pytest.fixture
def drive(agent: Agent, tmp_path: Path) -> Iterator[Callable[..., Driver]]:
    sessions: list[SdkSession] = []
    worktree = tmp_path / "work"
    worktree.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=worktree, check=True)

    def start(skip_permissions: bool = False, prompt: str = "", resume_id: str = "") -> Driver:
        spec = LaunchSpec(
            instance_id=f"contract{len(sessions)}",
            title="contract",
            project="contract",
            program=agent.program,
            worktree=str(worktree),
            session="kas_contract",
            prompt=prompt,
            skip_permissions=skip_permissions,
            model=agent.model,
            extra_env=agent.env,
            execution_mode="sdk",
            resume_id=resume_id,
            handshake_timeout_s=60,
        )
        session = SdkSession(spec, RestartPolicy(mode="never"))
        sessions.append(session)
        session.launch("new", resume=bool(resume_id))
        driver = Driver(session)
        driver.wait_status("idle", "busy")
        return driver

    yield start
    for session in sessions:
        session.close()
