"""The daemon's runtime directory: one lock, one pid file, three ipc sockets.

``$XDG_RUNTIME_DIR/kasmos/`` else ``/tmp/kasmos-<uid>/``, mode 0700 and owned by us (refused
otherwise). It holds ``daemon.lock`` (``flock`` held for the daemon's lifetime, taken before any
socket is bound: an ipc rebind silently steals an endpoint), ``daemon.pid`` (``<pid> <starttime>``,
written by temp+rename, removed only by its owner), ``ctl.sock``, ``work.sock``, ``events.sock``
(0600), ``workers/<name>.pid`` (the workers of the running daemon, so the next boot can end a
dead daemon's leftovers) and ``daemon.log`` (the detached daemon's stderr).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from kasmos.supervisor.errors import Conflict, InvalidConfig
from kasmos.supervisor.paths import runtime_dir
from kasmos.workers.store.owner import process_start_ticks

IPC_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL


@dataclass(frozen=True)
class Runtime:
    root: Path

    @classmethod
    def default(cls) -> Runtime:
        return cls(runtime_dir())

    @property
    def lock_file(self) -> Path:
        return self.root / "daemon.lock"

    @property
    def pid_file(self) -> Path:
        return self.root / "daemon.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "daemon.log"

    @property
    def workers_dir(self) -> Path:
        return self.root / "workers"

    def socket(self, name: str) -> Path:
        return self.root / f"{name}.sock"

    def endpoint(self, name: str) -> str:
        return f"ipc://{self.socket(name)}"

    @property
    def socket_names(self) -> tuple[str, ...]:
        return ("ctl", "work", "events")

    def check_paths(self) -> None:
        """Refuse a runtime dir whose socket paths do not fit an ipc address."""
        for name in self.socket_names:
            path = str(self.socket(name))
            if len(path.encode()) > IPC_PATH_MAX:
                raise InvalidConfig(
                    f"socket path {path} is {len(path.encode())} bytes, "
                    f"over the {IPC_PATH_MAX}-byte ipc limit",
                    hint="set XDG_RUNTIME_DIR to a shorter directory",
                )

    def ensure(self) -> None:
        """Create the dir 0700 (or tighten it); refuse one owned by someone else."""
        self.check_paths()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = self.root.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise InvalidConfig(
                f"runtime dir {self.root} is not a directory owned by you",
                hint="remove it or set XDG_RUNTIME_DIR to a private directory",
            )
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(self.root, 0o700)
        self.workers_dir.mkdir(exist_ok=True, mode=0o700)


class DaemonLock:
    """The single-instance lock: ``flock(LOCK_EX | LOCK_NB)`` on ``daemon.lock``, held until exit."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.runtime.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = read_pid(self.runtime)
            running = f" (pid={owner})" if owner else ""
            raise Conflict(
                f"the kasmos daemon is already running{running}",
                hint="stop it with `kas daemon stop` or use the running one",
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_is_held(runtime: Runtime) -> bool:
    """True while some process holds the daemon lock (a cheap liveness probe for clients)."""
    try:
        fd = os.open(runtime.lock_file, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def write_pid_file(path: Path, pid: int) -> None:
    tmp = path.with_name(f".{path.name}.{pid}.tmp")
    tmp.write_text(f"{pid} {process_start_ticks(pid)}\n")
    os.replace(tmp, path)


def read_pid_file(path: Path) -> int:
    """The pid in ``path`` if that process still lives with the recorded start time, else 0."""
    try:
        fields = path.read_text().split()
        pid, ticks = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return 0
    if pid <= 0 or process_start_ticks(pid) != ticks or not ticks:
        return 0
    return pid


def read_pid(runtime: Runtime) -> int:
    return read_pid_file(runtime.pid_file)


def remove_if_ours(path: Path, pid: int) -> None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        if int(path.read_text().split()[0]) == pid:
            path.unlink()
