"""Shared fixtures: an isolated config dir per test, real git repositories, the real `kas` binary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private HOME and XDG_CONFIG_HOME, in this process and for every child."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("KASMOS_FAULT", raising=False)
    return dict(os.environ)


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
