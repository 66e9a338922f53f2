"""One sdk-mode agent: the session worker's own child, spoken to through its machine protocol.

The agent (``codex app-server`` or ``claude`` stream-json, see ``codex.py``/``claude.py``) runs in its
worktree with the ``KASMOS_*`` environment, stdin/stdout as pipes, stderr appended to
``<worktree>/.kasmos/logs/<session>.log``, in its own process group, and with ``PR_SET_PDEATHSIG``
so it dies with this worker (a restarted worker relaunches it with the stored resume id). Death is
noticed through a pidfd; stdout lines go to the transport, whose notes become the transcript
(``kas instance capture``), bus events (``agent.text`` — the deltas of one read batch together —,
``agent.tool``, ``agent.tool_result``, ``agent.approval``, ``agent.turn_started``, ``agent.turn_done``,
``agent.error``, …) and the instance status. Same interface as the tmux ``AgentSession``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from kasmos.supervisor.errors import KasError, NotFound, Unavailable, Unsupported
from kasmos.supervisor.protocol import Event
from kasmos.workers.git import repo as gitrepo
from kasmos.workers.session import launch, policy
from kasmos.workers.session.claude import ClaudeTransport
from kasmos.workers.session.codex import CodexTransport
from kasmos.workers.session.reporting import Reporting
from kasmos.workers.session.sdk_process import STOP_WAIT_S, die_with_parent, end_orphans
from kasmos.workers.session.transcript import Transcript
from kasmos.workers.session.transport import LineReader, Note, Transport, decode, encode
from kasmos.workers.store import timefmt

log = logging.getLogger("kasmos.session")

READ_BUDGET = 1024 * 1024  # bytes of stdout handled per wakeup (then the loop comes back)
EVENT_TEXT_MAX = 4000


def transport_for(spec: launch.LaunchSpec, resume_id: str) -> Transport:
    kind = launch.program_kind(spec.program)
    cls = CodexTransport if kind == "codex" else ClaudeTransport
    return cls(spec.worktree, spec.skip_permissions, spec.model, resume_id)


class SdkSession(Reporting):
    def __init__(self, spec: launch.LaunchSpec, restart: policy.RestartPolicy) -> None:
        self.spec = spec
        self.restart = restart
        self.logs = Path(spec.worktree) / ".kasmos" / "logs"
        self.transcript = Transcript(
            spec.title,
            spec.transcript_max_bytes,
            spec.transcript_max_turns,
            self.logs / f"{spec.session}.transcript",
        )
        self.transport: Transport = transport_for(spec, spec.resume_id)
        self.resume_id = spec.resume_id
        self.proc: subprocess.Popen[bytes] | None = None
        self.pidfd = -1
        self.stdout = -1
        self.reader = LineReader()
        self.pending = bytearray()  # to write to the agent's stdin
        self.typed = ""  # text sent with --no-enter, waiting for the next Enter
        self.status = "starting"
        self.restarts: list[float] = []
        self.relaunch_at = float("inf")
        self.handshake_at = float("inf")
        self.stopping = False
        self.events: list[Event] = []
        self.pid = 0

    def event_tags(self) -> dict[str, Any]:
        return {"mode": "sdk"}

    # -- launch ------------------------------------------------------------------------------------

    def launch(self, mode: str, resume: bool = False) -> dict[str, Any]:
        if mode == "adopt":
            raise Unsupported(f"sdk agents cannot be adopted: {launch.INTERACTIVE}")
        if mode == "recover":
            ended = end_orphans(self.spec)
            if not os.path.isdir(self.spec.worktree):
                self._set_status("lost", pid=0)
                return self.describe(note="not relaunched: its worktree is gone")
            self._spawn(resume=True)
            how = (
                f"with resume id {self.resume_id}" if self.resume_id else "without a resume id (none stored)"
            )
            self.transport.note("notice", f"relaunched {how} after a daemon or worker restart")
            self._pump()
            self.emit(
                "agent.relaunched",
                {"restart_count": len(self.restarts)},
                reason="daemon or worker restart",
                resume_id=self.resume_id,
                orphans_ended=ended,
            )
            return self.describe(note=f"relaunched {how}")
        self._spawn(resume=resume)
        return self.describe(note="resumed" if resume else "launched")

    def _spawn(self, resume: bool) -> None:
        if not os.path.isdir(self.spec.worktree):
            raise NotFound(f"worktree {self.spec.worktree} does not exist", hint="resume the instance")
        if not resume:
            self.resume_id = ""  # a fresh conversation (start, restart)
        self.transport = transport_for(self.spec, self.resume_id)
        try:
            program = shlex.split(self.spec.program)
        except ValueError:
            program = self.spec.program.split()
        argv = self.transport.argv(program)
        env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE"}
        env.update({**self.transport.env(), **launch.kasmos_env(self.spec), **self.spec.extra_env})
        self.logs.mkdir(parents=True, exist_ok=True)
        gitrepo.ignore_kasmos_dir(self.spec.worktree)
        with open(self.logs / f"{self.spec.session}.log", "ab") as stderr:
            try:
                self.proc = subprocess.Popen(
                    argv,
                    cwd=self.spec.worktree,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    start_new_session=True,
                    preexec_fn=die_with_parent(os.getpid()),
                )
            except (FileNotFoundError, PermissionError) as exc:
                raise NotFound(
                    f"cannot run {argv[0]}: {exc.strerror}",
                    hint="install the program or fix `program` in the profile",
                ) from exc
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdout = self.proc.stdout.fileno()
        os.set_blocking(self.stdout, False)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.pidfd = os.pidfd_open(self.proc.pid)
        self.pid = self.proc.pid
        self.reader = LineReader()
        self.pending.clear()
        self.handshake_at = time.monotonic() + self.spec.handshake_timeout_s
        self._set_status(
            "starting",
            pid=self.proc.pid,
            started_at=timefmt.now(),
            exited_at="",
            execution_mode="sdk",
            resume_id=self.resume_id,
        )
        self.emit(
            "agent.launched",
            pid=self.proc.pid,
            program=self.spec.program,
            resume=resume,
            resume_id=self.transport.resume_id,
        )
        self.transport.begin()
        if self.spec.prompt and not resume:
            self.transport.prompt(self.spec.prompt)
        self._pump()

    # -- watching ----------------------------------------------------------------------------------

    def fds(self) -> list[int]:
        return [fd for fd in (self.pidfd, self.stdout) if fd >= 0]

    def on_fd(self, fd: int) -> None:
        if fd == self.stdout:
            self._read()
        elif fd == self.pidfd:
            self._exited()

    def _read(self) -> None:
        budget = READ_BUDGET
        while budget > 0 and self.stdout >= 0:
            try:
                chunk = os.read(self.stdout, 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._close_stdout()
                break
            budget -= len(chunk)
            dropped = self.reader.dropped
            for line in self.reader.feed(chunk):
                message, problem = decode(line)
                if message is not None:
                    self.transport.receive(message)
                elif problem:
                    log.warning("%s: %s", self.spec.title, problem)
                    self.transport.note("error", problem)
            if self.reader.dropped != dropped:
                self.transport.note("error", "the agent wrote a line over 16 MiB; it was dropped")
        self._pump()

    def _pump(self) -> None:
        """Write what the transport queued; turn its notes into transcript, events and status."""
        out, notes = self.transport.take()
        for message in out:
            self.pending += encode(message)
        self._flush()
        text: list[str] = []  # the deltas of this batch, published as one agent.text event

        def flush_text() -> None:
            if text:
                self.emit("agent.text", text="".join(text)[:EVENT_TEXT_MAX])
                text.clear()

        for note in notes:
            self.transcript.add(note)
            if note.kind == "text":
                text.append(note.text)
                continue
            flush_text()
            record: dict[str, Any] = {}
            resume_id = note.data.get("resume_id") if note.kind == "session" else None
            if resume_id and resume_id != self.resume_id:
                self.resume_id = resume_id
                record = {"resume_id": resume_id}
            self.emit(f"agent.{note.kind}", record or None, text=note.text[:EVENT_TEXT_MAX], **note.data)
            if note.kind == "fatal":
                self._kill()
        flush_text()
        if self.transport.ready:
            self.handshake_at = float("inf")
        settled = self.status in ("restarting", "crashed", "exited", "stopped", "lost")
        if self.proc is not None and not settled and self.transport.status != self.status:
            self._set_status(self.transport.status)

    def _flush(self) -> None:
        if not self.pending or self.proc is None or self.proc.stdin is None or self.proc.stdin.closed:
            return
        try:
            written = os.write(self.proc.stdin.fileno(), self.pending)
            del self.pending[:written]
        except BlockingIOError:
            pass
        except OSError:  # the agent closed its stdin (it is exiting): its death is handled
            self.pending.clear()

    def next_due(self) -> float:
        soon = time.monotonic() + 0.05 if self.pending else float("inf")
        return min(self.relaunch_at, self.handshake_at, soon)

    def tick(self, now: float) -> None:
        if now >= self.relaunch_at:
            self.relaunch_at = float("inf")
            self._relaunch()
        if now >= self.handshake_at:
            self.handshake_at = float("inf")
            seconds = self.spec.handshake_timeout_s
            self.transport.note("fatal", f"no answer to the handshake within {seconds:g}s; ending the agent")
            self._pump()
        self._flush()

    # -- death ---------------------------------------------------------------------------------------

    def _exited(self) -> None:
        assert self.proc is not None
        self._read()  # what it wrote before dying (its last result)
        status = self.proc.wait()
        self._close_pidfd()
        self._close_stdout()
        code, signum = (status, None) if status >= 0 else (None, -status)
        self.pid = 0
        self.handshake_at = float("inf")
        if self.stopping:
            self._set_status("stopped", pid=0, exited_at=timefmt.now(), last_exit_code=code)
            return
        files = self._save_diagnostics()
        decision = policy.decide(self.restart, code, self.restarts, time.monotonic())
        kind = "agent.crashed" if policy.crashed(code) else "agent.exited"
        self.emit(
            kind,
            {"last_exit_code": code, "exited_at": timefmt.now(), "pid": 0},
            exit_code=code,
            signal=signum,
            relaunch=decision.relaunch,
            relaunch_in=decision.delay_s if decision.relaunch else None,
            reason=decision.reason,
            stderr_tail=self._stderr_tail(),
            **files,
        )
        self.transcript.add(_exit_note(code, signum, decision))
        self._set_status(decision.status)
        if decision.relaunch:
            self.relaunch_at = time.monotonic() + decision.delay_s
        elif decision.status == "crashed" and policy.crashed(code):
            self.emit("agent.gave_up", reason=decision.reason, restarts=len(self.restarts))

    def _stderr_tail(self, lines: int = 5) -> str:
        path = self.logs / f"{self.spec.session}.log"
        try:
            with path.open("rb") as handle:
                handle.seek(0, 2)
                handle.seek(max(0, handle.tell() - 4096))
                return "\n".join(handle.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _save_diagnostics(self) -> dict[str, str]:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.monotonic_ns() % 1_000_000:06d}"
        saved: dict[str, str] = {}
        try:
            path = self.logs / f"{self.spec.session}-{stamp}.screen"
            path.write_text(self.transcript.tail(200))
            saved["screen_file"] = str(path)
            status = "\n".join(gitrepo.dirty(self.spec.worktree))
            path = self.logs / f"{self.spec.session}-{stamp}.git-status"
            path.write_text(status + ("\n" if status else ""))
            saved["git_status_file"] = str(path)
        except (KasError, OSError) as exc:
            log.warning("%s: could not save diagnostics: %s", self.spec.title, exc)
        return saved

    def _relaunch(self) -> None:
        self.restarts.append(time.monotonic())
        try:
            self._spawn(resume=True)
        except KasError as exc:
            self._set_status("crashed", pid=0)
            self.emit("agent.gave_up", reason=f"relaunch failed: {exc.message}", restarts=len(self.restarts))
            return
        self._set_status("starting", restart_count=len(self.restarts), started_at=timefmt.now())
        self.emit(
            "agent.relaunched",
            {"pid": self.pid},
            restarts=len(self.restarts),
            pid=self.pid,
            resume_id=self.resume_id,
        )

    # -- operations ----------------------------------------------------------------------------------

    def describe(self, note: str = "") -> dict[str, Any]:
        return {
            "id": self.spec.instance_id,
            "title": self.spec.title,
            "session": "",
            "status": self.status,
            "pid": self.pid,
            "restarts": len(self.restarts),
            "program": self.spec.program,
            "mode": "sdk",
            "resume_id": self.resume_id,
            "note": note,
        }

    def _live(self) -> Transport:
        if self.proc is None or self.pidfd < 0:
            raise Unavailable(f"instance {self.spec.title} has no running agent", hint="resume it first")
        return self.transport

    def send(self, text: str, enter: bool) -> None:
        transport = self._live()
        if not enter:
            self.typed += text
            return
        text, self.typed = self.typed + text, ""
        if text == "\x03":
            self.interrupt()
            return
        transport.prompt(text)
        self._pump()

    def capture(self, start: str | None, end: str | None) -> str:
        return self.transcript.capture(start, end)

    def answer(self, approve: bool) -> str:
        self._live().answer(approve)
        self._pump()
        return "approved" if approve else "denied"

    def interrupt(self) -> None:
        self._live().interrupt()
        self._pump()

    def stop(self) -> dict[str, Any]:
        """End the agent (pause, kill, restart): stdin closed, then TERM, then KILL."""
        self.stopping = True
        self.relaunch_at = float("inf")
        self._terminate()
        self._set_status("stopped", pid=0, exited_at=timefmt.now())
        return self.describe(note="stopped")

    def _terminate(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    with contextlib.suppress(OSError):
                        os.killpg(proc.pid, sig)
                try:
                    proc.wait(STOP_WAIT_S)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._close_pidfd()
        self._close_stdout()
        self.pid = 0

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _close_pidfd(self) -> None:
        if self.pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = -1

    def _close_stdout(self) -> None:
        if self.stdout >= 0 and self.proc is not None and self.proc.stdout is not None:
            with contextlib.suppress(OSError):
                self.proc.stdout.close()
        self.stdout = -1

    def close(self) -> None:
        self.stopping = True
        self._terminate()


def _exit_note(code: int | None, signum: int | None, decision: policy.Decision) -> Note:
    how = f"signal {signum}" if signum is not None else f"status {code}"
    then = f"; relaunching in {decision.delay_s:g}s" if decision.relaunch else f"; {decision.reason}"
    return Note("error", f"the agent exited ({how}){then}")
