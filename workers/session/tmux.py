"""tmux, driven two ways: one-shot ``tmux`` commands (argument lists, never a shell) and a persistent
control-mode client per session worker (``tmux -C attach -t $id -f ignore-size``).

The server is ``KASMOS_TMUX_SOCKET`` when set (a path → ``-S``, a name → ``-L``), else the user's
default server, so ``tmux attach -t kas_<title>`` works directly. One-shot calls cost a process start
(~3 ms); the control client answers in ~0.2 ms and reports ``%output`` for its session, which is how
a session worker notices activity without polling. Control-mode commands only ever carry ids
(``$3``, ``%5``) and fixed formats — text from users goes through one-shot ``send-keys -l`` or a
paste buffer, where it is an argument and not parsed.

Control-mode replies are blocks ``%begin <t> <n> <f>`` … ``%end <t> <n> <f>`` (``%error`` on failure);
other lines starting with ``%`` are notifications.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from dataclasses import dataclass

from kasmos.supervisor.errors import KasError, NotFound, Unavailable

SESSION_PREFIX = "kas_"
LIST_FORMAT = "#{session_name}\t#{session_id}\t#{session_created}\t#{session_windows}\t#{session_attached}"
CALL_TIMEOUT_S = 10


class TmuxError(KasError):
    pass


def socket_args(socket: str | None = None) -> list[str]:
    value = os.environ.get("KASMOS_TMUX_SOCKET", "") if socket is None else socket
    if not value:
        return []
    return ["-S", value] if "/" in value else ["-L", value]


def socket_setting() -> str:
    return os.environ.get("KASMOS_TMUX_SOCKET", "")


@dataclass(frozen=True)
class SessionRow:
    name: str
    id: str
    created: int
    windows: int
    attached: int


class Tmux:
    """One-shot commands against one server."""

    def __init__(self, socket: str | None = None) -> None:
        self.socket = socket_setting() if socket is None else socket
        self.base = ["tmux", *socket_args(self.socket)]

    def run(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                [*self.base, *args],
                capture_output=True,
                text=True,
                input=input,
                timeout=CALL_TIMEOUT_S,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise TmuxError("tmux is not installed", hint="install tmux (apt-get install tmux)") from exc
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"tmux {args[0]} did not answer in {CALL_TIMEOUT_S}s") from exc
        if check and done.returncode != 0:
            raise TmuxError(f"tmux {args[0]} failed: {done.stderr.strip() or done.returncode}")
        return done

    def sessions(self) -> list[SessionRow]:
        done = self.run("list-sessions", "-F", LIST_FORMAT, check=False)
        if done.returncode != 0:  # no server running: no sessions
            return []
        rows = []
        for line in done.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 5:
                with contextlib.suppress(ValueError):
                    rows.append(SessionRow(parts[0], parts[1], int(parts[2]), int(parts[3]), int(parts[4])))
        return rows

    def human_clients(self) -> dict[str, int]:
        """Attached clients per session name, not counting control-mode clients (ours)."""
        done = self.run("list-clients", "-F", "#{client_session}\t#{client_control_mode}", check=False)
        counts: dict[str, int] = {}
        for line in done.stdout.splitlines():
            name, _, control = line.rpartition("\t")
            if control != "1":
                counts[name] = counts.get(name, 0) + 1
        return counts

    def has_session(self, name: str) -> bool:
        return self.run("has-session", "-t", f"={name}", check=False).returncode == 0

    def display(self, target: str, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", target, fmt).stdout.rstrip("\n")

    def environment(self, name: str) -> dict[str, str]:
        done = self.run("show-environment", "-t", f"={name}", check=False)
        if done.returncode != 0:
            raise NotFound(f"tmux session {name} not found")
        env = {}
        for line in done.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                env[key] = value
        return env

    def set_environment(self, name: str, values: dict[str, str]) -> None:
        for key, value in values.items():
            self.run("set-environment", "-t", f"={name}", key, value)

    def kill_session(self, name: str) -> bool:
        return self.run("kill-session", "-t", f"={name}", check=False).returncode == 0

    def send_text(self, target: str, text: str, enter: bool = True) -> None:
        """Literal text: ``send-keys -l`` when short and single-line, else through a paste buffer."""
        if len(text) <= 512 and "\n" not in text:
            self.run("send-keys", "-t", target, "-l", "--", text)
        else:
            buffer = f"kas-{os.getpid()}-{time.monotonic_ns()}"
            self.run("load-buffer", "-b", buffer, "-", input=text)
            self.run("paste-buffer", "-d", "-p", "-b", buffer, "-t", target)
        if enter:
            self.run("send-keys", "-t", target, "Enter")

    def send_keys(self, target: str, *keys: str) -> None:
        self.run("send-keys", "-t", target, *keys)


class ControlClient:
    """A ``tmux -C attach`` child: synchronous commands, and ``%output`` noticed as activity."""

    def __init__(self, tmux: Tmux, session_id: str) -> None:
        self.tmux = tmux
        self.session_id = session_id
        self.proc = subprocess.Popen(
            [*tmux.base, "-C", "attach-session", "-t", session_id, "-f", "ignore-size"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._buffer = b""
        self.activity = 0  # %output lines seen since last asked
        self.closed = False  # %exit or EOF: the session (or the server) is gone
        self.command("display-message -p ok")  # the attach's own block is flagged 0 and skipped

    def fileno(self) -> int:
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def _read(self, block: float) -> bool:
        """Read what is there (waiting up to ``block`` s for something); False on EOF."""
        if block and not select.select([self.fileno()], [], [], block)[0]:
            return True
        assert self.proc.stdout is not None
        try:
            chunk = self.proc.stdout.read(65536)
        except BlockingIOError:
            return True
        if chunk is None:  # nothing there after all (someone else read it): not EOF
            return True
        if not chunk:
            self.closed = True
            return False
        self._buffer += chunk
        return True

    def _lines(self) -> list[bytes]:
        *lines, self._buffer = self._buffer.split(b"\n")
        return lines

    def _note(self, line: bytes) -> None:
        if line.startswith(b"%output") or line.startswith(b"%extended-output"):
            self.activity += 1
        elif line.startswith(b"%exit"):
            self.closed = True

    def pump(self) -> None:
        """Consume notifications (call when the fd is readable)."""
        self._read(0)
        for line in self._lines():
            self._note(line)

    def command(self, line: str) -> list[str]:
        """Run one command (ids and fixed formats only) and return its output lines."""
        if self.closed:
            raise Unavailable(f"tmux session {self.session_id} is gone")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode() + b"\n")
        except (BrokenPipeError, OSError) as exc:
            self.closed = True
            raise Unavailable(f"tmux session {self.session_id} is gone") from exc
        deadline = time.monotonic() + CALL_TIMEOUT_S
        pending: list[bytes] = []
        begin: bytes | None = None
        out: list[str] = []
        while True:
            pending.extend(self._lines())
            while pending:
                raw = pending.pop(0)
                if begin is None:
                    parts = raw.split(b" ")
                    if parts[0] == b"%begin" and len(parts) >= 4 and parts[3] == b"1":
                        begin = b" ".join(parts[1:3])  # flag 1: a command of this client
                    else:
                        self._note(raw)
                    continue
                head = raw.split(b" ")
                if head[0] in (b"%end", b"%error") and b" ".join(head[1:3]) == begin:
                    self._buffer = b"\n".join(pending) + (b"\n" if pending else b"") + self._buffer
                    if head[0] == b"%error":
                        raise TmuxError(f"tmux {line.split()[0]} failed: {' '.join(out)}")
                    return out
                out.append(raw.decode("utf-8", "replace"))
            if time.monotonic() > deadline:
                raise Unavailable(f"tmux did not answer {line.split()[0]} in {CALL_TIMEOUT_S}s")
            if not self._read(0.5):
                raise Unavailable(f"tmux session {self.session_id} is gone")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(1)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
