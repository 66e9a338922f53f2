"""One agent in one tmux session: launch or re-adopt, watch, detect status, handle its death.

Death is noticed through a pidfd on the pane's process (the agent itself, since the launch line
``exec``'s it): readable within a fraction of a millisecond of the exit, for a process that is the tmux
server's child, not ours. ``remain-on-exit`` keeps the dead pane, so its last screen and
``#{pane_dead_status}`` (empty when a signal killed it) can still be read. Activity comes from the
control client's ``%output`` notifications; the pane is captured only after output (at most every
``CAPTURE_EVERY_S``) and once more when the screen should have settled, so an idle agent costs nothing.

Every change is reported as an event whose ``data.record`` holds the instance fields to store; the
supervisor forwards those to the store worker. Nothing here ever kills an agent except ``stop``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import time
from pathlib import Path
from typing import Any

from kasmos.supervisor.errors import Conflict, KasError, NotFound, Unavailable
from kasmos.supervisor.protocol import Event
from kasmos.workers.git import repo as gitrepo
from kasmos.workers.session import detect, launch, policy
from kasmos.workers.session.reporting import Reporting
from kasmos.workers.session.tmux import ControlClient, Tmux, TmuxError
from kasmos.workers.store import timefmt

log = logging.getLogger("kasmos.session")

APPROVAL = "waiting-for-approval"  # the instance status while an approval question is open
CAPTURE_EVERY_S = 0.25
REAP_WAIT_S = 2.0
START_WAIT_S = 2.0
PANE_FORMAT = "#{session_id}\t#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}"


def zombie_status(pid: int) -> tuple[int | None, int | None] | None:
    """(exit status, signal) of a process that has exited but is not reaped yet, from
    ``/proc/<pid>/stat`` (field 52, the wait status): known the moment the pidfd fires, before tmux
    reaps it. None once it is reaped (then tmux knows)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] not in (b"Z", b"X") or len(fields) < 50:
        return None
    status = int(fields[49])
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.WEXITSTATUS(status), None


class AgentSession(Reporting):
    def __init__(self, spec: launch.LaunchSpec, restart: policy.RestartPolicy, tmux: Tmux | None = None):
        self.spec = spec
        self.restart = restart
        self.tmux = tmux or Tmux()
        self.kind = launch.program_kind(spec.program)
        self.detector = detect.Debouncer(self.kind)
        self.control: ControlClient | None = None
        self.session_id = ""
        self.pane_id = ""
        self.pane_pid = 0
        self.pidfd = -1
        self.status = "starting"
        self.restarts: list[float] = []
        self.relaunch_at = float("inf")
        self.capture_at = float("inf")
        self.stopping = False
        self.events: list[Event] = []

    def event_tags(self) -> dict[str, Any]:
        return {"session": self.spec.session}

    # -- launch, adopt, recover --------------------------------------------------------------------

    def launch(self, mode: str, resume: bool = False) -> dict[str, Any]:
        """``new``: start the agent (re-adopting our own session if it exists); ``recover``: after a
        daemon or worker restart, adopt the live session or relaunch per policy; ``adopt``: take over
        an orphan session as this instance."""
        exists = self.tmux.has_session(self.spec.session)
        if exists:
            owner = self.tmux.environment(self.spec.session).get("KASMOS_INSTANCE_ID", "")
            if mode == "adopt" and not owner:
                self.tmux.set_environment(self.spec.session, launch.kasmos_env(self.spec))
                owner = self.spec.instance_id
            if owner != self.spec.instance_id:
                if mode == "recover":
                    self._set_status("lost", pid=0)
                    return self.describe(note="session belongs to another instance")
                raise Conflict(
                    f"tmux session {self.spec.session} already exists and is not this instance's",
                    hint="choose another title, or adopt it with `kas tmux adopt`",
                )
            self._attach()
            self.emit("agent.adopted", {"status": self.status, "pid": self.pane_pid}, pid=self.pane_pid)
            return self.describe(note="adopted")
        if mode == "adopt":
            raise NotFound(f"tmux session {self.spec.session} not found")
        if mode == "recover":
            decision = policy.decide(self.restart, None, self.restarts, time.monotonic())
            if not decision.relaunch or not os.path.isdir(self.spec.worktree):
                why = decision.reason if decision.relaunch is False else "its worktree is gone"
                self._set_status("lost", pid=0)
                return self.describe(note=f"session gone; not relaunched ({why})")
            self.restarts.append(time.monotonic())
            self._start(resume=True)
            self.emit("agent.relaunched", {"restart_count": len(self.restarts)}, reason="session gone")
            return self.describe(note="relaunched")
        self._start(resume=resume)
        return self.describe(note="resumed" if resume else "launched")

    def _start(self, resume: bool) -> None:
        if not os.path.isdir(self.spec.worktree):
            raise NotFound(f"worktree {self.spec.worktree} does not exist", hint="resume the instance")
        plan = launch.build(self.spec, resume=resume)
        Path(plan.log_path).parent.mkdir(parents=True, exist_ok=True)
        gitrepo.ignore_kasmos_dir(self.spec.worktree)
        if plan.prompt_file:
            Path(plan.prompt_file[0]).write_text(plan.prompt_file[1])
        env_args = [arg for k, v in plan.env.items() for arg in ("-e", f"{k}={v}")]
        target = f"={self.spec.session}"
        try:
            self.tmux.run(
                "new-session", "-d", "-s", self.spec.session, "-c", self.spec.worktree,
                "-x", "200", "-y", "50",
                *env_args, plan.command,
                ";", "set-option", "-w", "-t", f"{target}:", "remain-on-exit", "on",
                ";", "set-option", "-t", f"{target}:", "history-limit", "10000",
                ";", "set-option", "-t", f"{target}:", "status", "off",
            )  # fmt: skip
        except KasError:
            # Half made (the session exists, an option failed): take back only what we created.
            with contextlib.suppress(KasError):
                owner = self.tmux.environment(self.spec.session).get("KASMOS_INSTANCE_ID")
                if owner == self.spec.instance_id:
                    self.tmux.kill_session(self.spec.session)
            raise
        self._attach()
        self._set_status("starting", pid=self.pane_pid, started_at=timefmt.now(), exited_at="")
        self.emit("agent.launched", pid=self.pane_pid, program=self.spec.program, resume=resume)
        if plan.type_prompt:
            self._wait_for_output(START_WAIT_S)
            self.tmux.send_text(self.pane_id, plan.type_prompt)

    def _wait_for_output(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        assert self.control is not None
        while self.control.activity == 0 and time.monotonic() < deadline and not self.control.closed:
            select.select([self.control.fileno()], [], [], 0.05)
            self.control.pump()

    def _attach(self) -> None:
        row = self.tmux.display(f"={self.spec.session}:", PANE_FORMAT).split("\t")
        self.session_id, self.pane_id = row[0], row[1]
        if self.control is None or self.control.closed:
            self._close_control()
            self.control = ControlClient(self.tmux, self.session_id)
        self._watch(row)

    def _watch(self, row: list[str]) -> None:
        """Watch the pane of a ``PANE_FORMAT`` row: a pidfd on its process, or its death if dead."""
        self._close_pidfd()
        pid, dead, status, signum = int(row[2] or 0), row[3] == "1", row[4], row[5]
        self.pane_pid = pid
        if not dead:
            try:
                self.pidfd = os.pidfd_open(pid)
            except (ProcessLookupError, OSError):
                dead = True
        self.capture_at = time.monotonic()
        if dead:
            code = int(status) if status.lstrip("-").isdigit() else None
            self._pane_exited(code, int(signum) if signum.isdigit() else None)

    # -- watching ----------------------------------------------------------------------------------

    def fds(self) -> list[int]:
        fds = [self.pidfd] if self.pidfd >= 0 else []
        if self.control is not None and not self.control.closed:
            fds.append(self.control.fileno())
        return fds

    def on_fd(self, fd: int) -> None:
        if fd == self.pidfd:
            pid = self.pane_pid
            self._close_pidfd()
            known = zombie_status(pid)
            self._pane_exited(*(known if known is not None else self._dead_status()))
        elif self.control is not None and fd == self.control.fileno():
            self.control.pump()
            if self.control.activity:
                self.control.activity = 0
                self.capture_at = min(self.capture_at, time.monotonic() + CAPTURE_EVERY_S)
            if self.control.closed:
                self._session_gone()

    def _dead_status(self) -> tuple[int | None, int | None]:
        """The dead pane's (exit status, signal). tmux closes the pane before it reaps the process, so
        ask until one of the two is known: a few ms after the pidfd fires, longer on a loaded machine
        (at most ``REAP_WAIT_S``)."""
        fmt = f"display-message -p -t {self.pane_id} '#{{pane_dead_status}}\t#{{pane_dead_signal}}'"
        deadline = time.monotonic() + REAP_WAIT_S
        pause = 0.001
        while True:
            try:
                out = self._ctl(fmt)
            except KasError:
                break
            status, _, signum = (out[0] if out else "").partition("\t")
            if status.lstrip("-").isdigit():
                return int(status), None
            if signum.isdigit():
                return None, int(signum)
            if time.monotonic() >= deadline:
                log.warning("%s: tmux reported no exit status within %.1fs", self.spec.title, REAP_WAIT_S)
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return None, None

    def next_due(self) -> float:
        return min(self.relaunch_at, self.capture_at)

    def tick(self, now: float) -> None:
        if now >= self.relaunch_at:
            self.relaunch_at = float("inf")
            self._relaunch()
        if now >= self.capture_at:
            self.capture_at = float("inf")
            self._observe(now)

    def _observe(self, now: float) -> None:
        if self.status in ("exited", "crashed", "restarting", "lost", "stopped") or self.control is None:
            return
        try:
            screen = "\n".join(self._ctl(f"capture-pane -p -J -t {self.pane_id}"))
        except KasError:
            return
        status, wants_enter = self.detector.observe(screen, now)
        if wants_enter:
            with contextlib.suppress(KasError):
                self.tmux.send_keys(self.pane_id, "Enter")
            self.capture_at = now + CAPTURE_EVERY_S
            return
        status = APPROVAL if status == "waiting" else status
        if status != self.status:
            self._set_status(status)
        if status != "idle" or self.detector.settle_at() > now:
            self.capture_at = max(self.detector.settle_at(), now + CAPTURE_EVERY_S)

    def _ctl(self, command: str) -> list[str]:
        if self.control is None or self.control.closed:
            raise Unavailable(f"tmux session {self.spec.session} is gone")
        return self.control.command(command)

    # -- death ---------------------------------------------------------------------------------------

    def _pane_exited(self, exit_code: int | None, signum: int | None = None) -> None:
        now = time.monotonic()
        if self.stopping:
            self._set_status("stopped", pid=0, exited_at=timefmt.now(), last_exit_code=exit_code)
            return
        files = self._save_diagnostics()
        decision = policy.decide(self.restart, exit_code, self.restarts, now)
        kind = "agent.crashed" if policy.crashed(exit_code) else "agent.exited"
        self.emit(
            kind,
            {"last_exit_code": exit_code, "exited_at": timefmt.now(), "pid": 0},
            exit_code=exit_code,
            signal=signum,
            relaunch=decision.relaunch,
            relaunch_in=decision.delay_s if decision.relaunch else None,
            reason=decision.reason,
            **files,
        )
        self._set_status(decision.status)
        if decision.relaunch:
            self.relaunch_at = now + decision.delay_s
        elif decision.status == "crashed" and policy.crashed(exit_code):
            self.emit("agent.gave_up", reason=decision.reason, restarts=len(self.restarts))

    def _save_diagnostics(self) -> dict[str, str]:
        logs = Path(self.spec.worktree) / ".kasmos" / "logs"
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.monotonic_ns() % 1_000_000:06d}"
        saved: dict[str, str] = {}
        try:
            logs.mkdir(parents=True, exist_ok=True)
            screen = "\n".join(self._ctl(f"capture-pane -p -J -S -200 -t {self.pane_id}"))
            path = logs / f"{self.spec.session}-{stamp}.screen"
            path.write_text(screen)
            saved["screen_file"] = str(path)
        except (KasError, OSError) as exc:
            log.warning("%s: could not save the last screen: %s", self.spec.title, exc)
        try:
            status = "\n".join(gitrepo.dirty(self.spec.worktree))
            path = logs / f"{self.spec.session}-{stamp}.git-status"
            path.write_text(status + ("\n" if status else ""))
            saved["git_status_file"] = str(path)
        except (KasError, OSError) as exc:
            log.warning("%s: could not save git status: %s", self.spec.title, exc)
        return saved

    def _relaunch(self) -> None:
        self.restarts.append(time.monotonic())
        plan = launch.build(self.spec, resume=True)
        try:
            self.tmux.run("respawn-pane", "-k", "-t", self.pane_id, plan.command)
            row = self.tmux.display(self.pane_id, PANE_FORMAT).split("\t")
        except KasError as exc:
            self._set_status("crashed", pid=0)
            self.emit("agent.gave_up", reason=f"relaunch failed: {exc.message}", restarts=len(self.restarts))
            return
        self.detector = detect.Debouncer(self.kind)
        self._set_status("starting", restart_count=len(self.restarts), started_at=timefmt.now())
        self._watch(row)
        self.emit("agent.relaunched", {"pid": self.pane_pid}, restarts=len(self.restarts), pid=self.pane_pid)

    def _session_gone(self) -> None:
        """The whole session vanished (killed from outside, or the tmux server died)."""
        self._close_control()
        self.relaunch_at = float("inf")
        if self.pidfd >= 0 or self.status not in ("exited", "crashed", "stopped", "lost"):
            self._close_pidfd()
            if self.stopping:
                self._set_status("stopped", pid=0, exited_at=timefmt.now())
            else:
                self.emit("agent.crashed", {"exited_at": timefmt.now(), "pid": 0}, reason="tmux session gone")
                self._set_status("lost", pid=0)

    # -- operations ----------------------------------------------------------------------------------

    def describe(self, note: str = "") -> dict[str, Any]:
        return {
            "id": self.spec.instance_id,
            "title": self.spec.title,
            "session": self.spec.session,
            "status": self.status,
            "pid": self.pane_pid,
            "restarts": len(self.restarts),
            "program": self.spec.program,
            "note": note,
        }

    def _live_target(self) -> str:
        if self.control is None or self.control.closed or not self.pane_id:
            raise Unavailable(f"instance {self.spec.title} has no live tmux session", hint="resume it first")
        return self.pane_id

    def send(self, text: str, enter: bool) -> None:
        self.tmux.send_text(self._live_target(), text, enter=enter)

    def capture(self, start: str | None, end: str | None) -> str:
        args = ["capture-pane", "-p", "-J", "-t", self._live_target()]
        if start is not None:
            args += ["-S", start]
        if end is not None:
            args += ["-E", end]
        return self.tmux.run(*args).stdout

    def answer(self, approve: bool) -> str:
        if self.status != APPROVAL:
            self._observe(time.monotonic())
        if self.status != APPROVAL:
            raise Conflict(
                f"instance {self.spec.title} is not waiting for an approval (it is {self.status})",
                hint="check `kas instance capture`",
            )
        approve_keys, deny_keys = detect.ANSWERS.get(self.kind, detect.ANSWERS["other"])
        self.tmux.send_keys(self._live_target(), *(approve_keys if approve else deny_keys))
        self.capture_at = time.monotonic() + CAPTURE_EVERY_S
        return "approved" if approve else "denied"

    def interrupt(self) -> None:
        """What a person would press: Escape for the known TUIs, Ctrl-C for anything else."""
        key = "C-c" if self.kind == "other" else "Escape"
        self.tmux.send_keys(self._live_target(), key)

    def stop(self) -> dict[str, Any]:
        """Kill the agent's session (pause, kill, restart): its exit is expected."""
        self.stopping = True
        self.relaunch_at = float("inf")
        with contextlib.suppress(TmuxError):
            self.tmux.kill_session(self.spec.session)
        self._close_pidfd()
        self._close_control()
        self._set_status("stopped", pid=0, exited_at=timefmt.now())
        return self.describe(note="stopped")

    def _close_pidfd(self) -> None:
        if self.pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = -1

    def _close_control(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None

    def close(self) -> None:
        self._close_pidfd()
        self._close_control()
