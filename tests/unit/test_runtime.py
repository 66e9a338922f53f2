"""The runtime dir: path limits, permissions, the single-instance lock, pid files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kasmos.supervisor.errors import Conflict, InvalidConfig
from kasmos.supervisor.runtime import (
    DaemonLock,
    Runtime,
    lock_is_held,
    read_pid,
    read_pid_file,
    remove_if_ours,
    write_pid_file,
)


def test_ipc_path_limit_is_checked(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    with pytest.raises(InvalidConfig, match="over the 107-byte ipc limit"):
        Runtime(deep).ensure()
    assert not deep.exists()


def test_ensure_creates_0700_and_tightens(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path / "kasmos")
    runtime.ensure()
    assert stat.S_IMODE(runtime.root.stat().st_mode) == 0o700
    os.chmod(runtime.root, 0o755)
    runtime.ensure()
    assert stat.S_IMODE(runtime.root.stat().st_mode) == 0o700


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "kasmos"
    target.write_text("")
    with pytest.raises((InvalidConfig, FileExistsError)):
        Runtime(target).ensure()


def test_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path / "kasmos")
    runtime.ensure()
    first = DaemonLock(runtime)
    first.acquire()
    write_pid_file(runtime.pid_file, os.getpid())
    try:
        assert lock_is_held(runtime)
        with pytest.raises(Conflict, match=f"already running \\(pid={os.getpid()}\\)"):
            DaemonLock(runtime).acquire()
    finally:
        first.release()
    assert not lock_is_held(runtime)
    DaemonLock(runtime).acquire()  # free again once released


def test_pid_file_of_a_dead_process_reads_as_zero(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path / "kasmos")
    runtime.ensure()
    write_pid_file(runtime.pid_file, os.getpid())
    assert read_pid(runtime) == os.getpid()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    write_pid_file(runtime.pid_file, child.pid)
    child.wait()
    assert read_pid(runtime) == 0
    runtime.pid_file.write_text("garbage\n")
    assert read_pid_file(runtime.pid_file) == 0
    remove_if_ours(runtime.pid_file, os.getpid())  # not ours: unparseable → kept
    assert runtime.pid_file.exists()
    write_pid_file(runtime.pid_file, os.getpid())
    remove_if_ours(runtime.pid_file, os.getpid() + 1)
    assert runtime.pid_file.exists()
    remove_if_ours(runtime.pid_file, os.getpid())
    assert not runtime.pid_file.exists()
