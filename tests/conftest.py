"""Shared fixtures: an isolated config dir per test, real git repositories, the real `kas` binary."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

KAS = Path(sys.executable).parent / "kas"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    ).stdout


def make_repo(path: Path, *, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if commit:
        (path / "README").write_text("hello\n")
        git(path, "add", "README")
        git(path, "commit", "-q", "-m", "init")
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A private HOME, XDG_CONFIG_HOME and XDG_RUNTIME_DIR (short: ipc paths are limited to 107
    bytes), in this process and for every child. Afterwards, no process of this runtime dir lives."""
    home = tmp_path / "home"
    home.mkdir()
    run_dir = Path(tempfile.mkdtemp(prefix="kt", dir="/tmp"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    monkeypatch.delenv("KASMOS_FAULT", raising=False)
    monkeypatch.delenv("TMUX", raising=False)
    socket = f"kt{run_dir.name[2:]}"  # a private tmux server per test, never the user's
    monkeypatch.setenv("KASMOS_TMUX_SOCKET", socket)
    try:
        yield dict(os.environ)
    finally:
        left = kill_processes_of(run_dir)
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        shutil.rmtree(run_dir, ignore_errors=True)
        assert not left, f"processes left running: {left}"


def processes_of(run_dir: Path) -> list[psutil.Process]:
    """Live processes (daemons, workers) whose command line names this runtime dir."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(str(run_dir) in part for part in cmdline):
            found.append(proc)
    return found


def kill_processes_of(run_dir: Path) -> list[str]:
    left = processes_of(run_dir)
    described = [f"{p.pid} {' '.join(p.info['cmdline'])}" for p in left]
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=5)
    return described


FAKES = Path(__file__).parent / "fakes"
FAKE_AGENT = FAKES / "fake_agent.py"


@pytest.fixture
def fake_claude(tmp_path: Path) -> str:
    """A program named ``claude`` that runs the fake agent (so claude's launch line and patterns apply)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    program = bindir / "claude"
    program.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_AGENT} "$@"\n')
    program.chmod(0o755)
    return str(program)


def _program(bindir: Path, name: str, script: Path) -> str:
    bindir.mkdir(parents=True, exist_ok=True)
    program = bindir / name
    program.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    program.chmod(0o755)
    return str(program)


@pytest.fixture
def fake_codex(tmp_path: Path) -> str:
    """A program named ``codex`` speaking ``app-server`` JSON-RPC (tests/fakes/fake_codex.py)."""
    return _program(tmp_path / "sdk-bin", "codex", FAKES / "fake_codex.py")


@pytest.fixture
def fake_claude_sdk(tmp_path: Path) -> str:
    """A program named ``claude`` speaking stream-json (tests/fakes/fake_claude_sdk.py)."""
    return _program(tmp_path / "sdk-bin", "claude", FAKES / "fake_claude_sdk.py")


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str]) -> Path:
    return make_repo(tmp_path / "proj")


@pytest.fixture
def store_path(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "kasmos" / "taskstore.db"


@pytest.fixture
def kas(repo: Path, env: dict[str, str]):
    """Run the installed `kas` console script as a real child process."""

    def run(
        *args: str,
        cwd: Path | None = None,
        input: str | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        proc = subprocess.run(
            [str(KAS), *args],
            cwd=cwd or repo,
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, **(extra_env or {})},
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def opened_store(store_path: Path) -> Iterator[object]:
    from kasmos.workers.store.db import Store

    store = Store(store_path).open()
    try:
        yield store
    finally:
        store.close()


@dataclass
class Daemon:
    """A running daemon of this test's runtime dir (started with the real `kas daemon start`)."""

    run_dir: Path

    @property
    def runtime(self):
        from kasmos.supervisor.runtime import Runtime

        return Runtime(self.run_dir / "kasmos")

    @property
    def pid(self) -> int:
        from kasmos.supervisor.runtime import read_pid

        return read_pid(self.runtime)

    def call(self, op: str, args: dict | None = None, **kwargs):
        from kasmos.supervisor.client import Client

        return Client(self.runtime).call(op, args, **kwargs)

    def status(self) -> dict:
        return self.call("daemon.status", retry=True)

    def worker(self, name: str = "store") -> dict:
        return next(w for w in self.status()["workers"] if w["name"] == name)

    def log(self) -> str:
        path = self.runtime.log_file
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def daemon(kas, env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[Daemon]:
    result = kas("daemon", "start")
    assert result.returncode == 0, result.stderr
    handle = Daemon(Path(env["XDG_RUNTIME_DIR"]))
    try:
        yield handle
    finally:
        if request.node.stash.get(CALL_FAILED, False):
            sys.stderr.write(f"--- daemon.log (tail) ---\n{handle.log()[-6000:]}\n")
        if handle.pid:
            stopped = kas("daemon", "stop")
            assert stopped.returncode == 0, stopped.stderr
        assert not processes_of(handle.run_dir), handle.log()[-3000:]
