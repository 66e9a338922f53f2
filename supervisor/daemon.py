"""The supervisor: one per user. Owns the sockets, the worker table, routing and the scheduler.

Boot: lock → pid file → end a dead daemon's leftover workers → bind ``work.sock`` and
``events.sock`` → start the store worker → (once it is RUNNING) reclaim dead claims, replay the
outbox, bridge sentinels → bind ``ctl.sock`` last. If the store worker cannot start, ``ctl.sock`` is
bound anyway once it backs off, so ``kas daemon status`` can say why; store ops then answer
``unavailable``.

The loop polls ``ctl.sock``, ``work.sock`` and a wakeup socket that OS signals are written to
(handlers only queue; the loop dispatches). Client requests are routed by op group to the owning
worker under a supervisor-made id, and its reply goes back with the client's id. A request to a
worker that is not RUNNING, or that dies holding it, is answered ``unavailable`` (retryable); one
past its deadline ``timeout``. Garbage is answered with an error or dropped and counted, never fatal.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import zmq

from kasmos.supervisor import __version__
from kasmos.supervisor import process_state as ps
from kasmos.supervisor.config import DaemonConfig, load_daemon_config
from kasmos.supervisor.daemon_ops import OPS as DAEMON_OPS
from kasmos.supervisor.errors import ErrorCode, KasError, Unavailable
from kasmos.supervisor.errors import Timeout as TimeoutError_
from kasmos.supervisor.instances import Instances
from kasmos.supervisor.paths import daemon_config_path
from kasmos.supervisor.protocol import (
    Event,
    ProtocolError,
    Ready,
    Reply,
    Request,
    decode_request,
    decode_worker,
    encode_event,
    encode_reply,
    encode_worker,
)
from kasmos.supervisor.runtime import DaemonLock, Runtime, remove_if_ours, write_pid_file
from kasmos.supervisor.scheduler import Scheduler, SettingsCache
from kasmos.supervisor.worker_table import (
    GIT,
    HEARTBEAT_S,
    SCANNER,
    STOP_ORDER,
    STORE,
    Pending,
    Slot,
    WorkerTable,
)
from kasmos.workers.store import timefmt

log = logging.getLogger("kasmos.supervisor")

DEFAULT_DEADLINE_S = 30.0
REAP_EVERY_S = 30.0
HOUSEKEEPING_S = 0.01
KICK_OPS = frozenset({"signal.emit", "task.transition"})
REPO_OPS = frozenset({"repo.add", "repo.remove"})


class _BadFrames:
    """Counts dropped frames per socket and logs at most once a second."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last_log = 0.0
        self.last: dict[str, str] = {}

    def note(self, where: str, why: str) -> None:
        self.counts[where] = self.counts.get(where, 0) + 1
        self.last[where] = why
        now = time.monotonic()
        if now - self.last_log >= 1.0:
            self.last_log = now
            for name, count in self.counts.items():
                log.warning("%s: %d bad frame(s) so far (last: %s)", name, count, self.last.get(name, ""))


class Daemon:
    def __init__(
        self,
        runtime: Runtime,
        config_path: Path | None = None,
        policy: ps.Policy | None = None,
        repos: list[str] | None = None,
    ):
        self.runtime = runtime
        self.extra_repos = list(repos or [])
        self.config_path = config_path or daemon_config_path()
        self.config = DaemonConfig()
        self.epoch = uuid.uuid4().hex[:12]
        self.pid = os.getpid()
        self.started = time.monotonic()
        self.started_at = timefmt.now()
        self.lock = DaemonLock(runtime)
        self.table = WorkerTable(runtime, self.epoch, self._worker_state, policy)
        self.settings = SettingsCache(
            lambda: self.config, lambda project: self.scheduler.project_path(project)
        )
        self.scheduler = Scheduler(self._send_internal, self.settings.get)
        self.bad = _BadFrames()
        self.instances = Instances(self)
        self._retired: list[str] = []
        self._ids = itertools.count(1)
        self._signals: list[int] = []
        self.stopping = False
        self.ctl_bound = False
        self._next_tick = 0.0
        self._next_reap = 0.0
        self._next_beat = 0.0
        self._next_housekeeping = 0.0

    # -- boot --------------------------------------------------------------------------------------

    def run(self) -> int:
        self.runtime.ensure()
        self.lock.acquire()
        try:
            write_pid_file(self.runtime.pid_file, self.pid)
            return self._run_locked()
        finally:
            remove_if_ours(self.runtime.pid_file, self.pid)
            self.lock.release()

    def _run_locked(self) -> int:
        self.config = load_daemon_config(self.config_path)
        ended = self.table.end_leftovers()
        if ended:
            log.warning("ended %d leftover worker(s) of a dead daemon", ended)
        for name in self.runtime.socket_names:
            self.runtime.socket(name).unlink(missing_ok=True)
        self.zctx = zmq.Context()
        self.work = self._bind(zmq.ROUTER, "work")
        self.events = self._bind(zmq.PUB, "events")
        self.ctl: zmq.Socket[bytes] = self.zctx.socket(zmq.ROUTER)
        self.ctl.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.ctl.setsockopt(zmq.LINGER, 0)
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, self._queue_signal)
        self.poller = zmq.Poller()
        self.poller.register(self.work, zmq.POLLIN)
        self.poller.register(wake_r.fileno(), zmq.POLLIN)  # pyzmq reports plain fds by number
        self.wake = wake_r
        try:
            for spec in (STORE, GIT, SCANNER):
                self.table.start(self.table.add(spec), time.monotonic())
            log.info("kasmos daemon %s started (pid %d, epoch %s)", __version__, self.pid, self.epoch)
            self._loop()
        finally:
            signal.set_wakeup_fd(-1)
            wake_r.close()
            wake_w.close()
            for sock in (self.ctl, self.work, self.events):
                sock.close(linger=0)
            self.zctx.term()
            for name in self.runtime.socket_names:
                self.runtime.socket(name).unlink(missing_ok=True)
        log.info("kasmos daemon stopped")
        return 0

    def _bind(self, kind: int, name: str) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self.zctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        if kind == zmq.ROUTER:
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if kind == zmq.PUB:
            sock.setsockopt(zmq.SNDHWM, 10_000)
        sock.bind(self.runtime.endpoint(name))
        os.chmod(self.runtime.socket(name), 0o600)
        return sock

    def _bind_ctl(self) -> None:
        if self.ctl_bound or self.stopping:
            return
        self.ctl.bind(self.runtime.endpoint("ctl"))
        os.chmod(self.runtime.socket("ctl"), 0o600)
        self.poller.register(self.ctl, zmq.POLLIN)
        self.ctl_bound = True
        log.info("listening on %s", self.runtime.endpoint("ctl"))
        self.publish("daemon.started", pid=self.pid, epoch=self.epoch, version=__version__)

    def _store_running(self) -> None:
        """Boot recovery (again after every store restart), then open ctl.sock if not yet open."""
        self._register_config_repos()
        self.scheduler.boot(self._booted)

    def _booted(self) -> None:
        self.instances.recover()  # session workers re-adopt live agents while ctl.sock opens
        self._bind_ctl()

    def _register_config_repos(self) -> None:
        for path in [*self.config.repos, *self.extra_repos]:
            root = str(Path(path).expanduser().resolve())

            def added(reply: Reply, root: str = root) -> None:
                if not reply.ok and reply.error is not None:
                    log.error("daemon.toml repo %s: %s", root, reply.error.message)

            self._send_internal("repo.add", {"path": root}, added)

    # -- main loop ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            if self.stopping:
                if self._all_down():
                    return
                self._stop_next_group()
            timeout = min(self.table.next_wake(), self._next_beat, self._next_tick) - now
            woken = False
            for sock, _ in self.poller.poll(max(0, min(timeout, HEARTBEAT_S)) * 1000):
                if sock == self.wake.fileno():
                    self._drain_signals()
                    woken = True
                elif sock is self.work:
                    self._drain(self.work, self._on_worker)
                elif sock is self.ctl:
                    self._drain(self.ctl, self._on_client)
            now = time.monotonic()
            if not woken and not self.stopping and now < self._next_housekeeping:
                continue  # under load, reaping and timers run every 10 ms, not after every message
            self._next_housekeeping = now + HOUSEKEEPING_S
            for slot in self.table.reap(now):
                self._fail_inflight(slot, "exited")
            self.table.check(now)
            while self._retired:
                retired = self.table.slots.get(self._retired.pop())
                if retired is not None and retired.proc is None and retired.state is ps.State.STOPPED:
                    del self.table.slots[retired.spec.name]
            self._expire(now)
            if now >= self._next_beat:
                self._heartbeat()
                self._next_beat = now + HEARTBEAT_S
            if now >= self._next_tick and not self.stopping:
                self._next_tick = now + self.config.poll_interval_sec
                if self.scheduler.booted and self._store_ready():
                    self.scheduler.tick()
                    if now >= self._next_reap:
                        self._next_reap = now + REAP_EVERY_S
                        self.scheduler.reap()

    def _drain(self, sock: zmq.Socket[bytes], handler: Any) -> None:
        for _ in range(1000):  # bounded, so one busy socket cannot starve the other
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            handler(frames)

    def _queue_signal(self, signum: int, frame: Any) -> None:
        self._signals.append(signum)

    def _drain_signals(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self.wake.recv(4096):
                pass
        signals, self._signals = self._signals, []
        for signum in signals:
            if signum in (signal.SIGTERM, signal.SIGINT):
                self.shutdown(quick=self.stopping and signum == signal.SIGINT)
            elif signum == signal.SIGHUP:
                self.reload()

    # -- workers -----------------------------------------------------------------------------------

    def _on_worker(self, frames: list[bytes]) -> None:
        if len(frames) < 2:
            self.bad.note("work.sock", "no routing id")
            return
        identity, rest = frames[0], frames[1:]
        if len(rest) == 4 and rest[2] == b"EVT":  # hot path: events are relayed, not re-validated
            slot = self.table.by_identity(identity)
            if slot is not None:
                slot.last_heard = time.monotonic()
                self._relay_event(rest[3])
                if slot.spec.kind == "session":
                    self._record_instance(rest[3])
                return
        try:
            verb, envelope = decode_worker(rest)
        except ProtocolError as exc:
            self.bad.note("work.sock", exc.message)
            return
        now = time.monotonic()
        if verb == "READY":
            assert isinstance(envelope, Ready)
            slot = self.table.claim_identity(identity, envelope.service, envelope.pid)
            if slot is None or slot.state is not ps.State.STARTING:
                self.bad.note("work.sock", f"READY from an unknown peer {identity[:40]!r}")
                self._send_worker(identity, encode_worker("BYE"))
                return
            self.table.ready(slot, identity, now)
            return
        slot = self.table.by_identity(identity)
        if slot is None:
            self.bad.note("work.sock", f"{verb} from an unknown peer {identity[:40]!r}")
            return
        slot.last_heard = now
        if verb == "REP":
            assert isinstance(envelope, Reply)
            pending = slot.inflight.pop(envelope.id, None)
            if pending is not None:
                self._complete(pending, envelope)
        elif verb == "BYE":
            log.info("worker %s said goodbye", slot.spec.name)

    def _relay_event(self, body: bytes) -> None:
        """Publish a worker's event under its kind (a known worker's JSON, read for the topic only)."""
        try:
            kind = json.loads(body)["kind"]
        except (ValueError, KeyError, TypeError):
            self.bad.note("work.sock", "EVT without a kind")
            return
        if isinstance(kind, str):
            with contextlib.suppress(zmq.ZMQError):
                self.events.send_multipart([kind.encode(), body], zmq.NOBLOCK)

    def _record_instance(self, body: bytes) -> None:
        """A session worker's event may carry instance fields to store (``data.record``)."""
        try:
            record = json.loads(body).get("data", {}).get("record")
        except (ValueError, AttributeError):
            return
        if isinstance(record, dict) and record.get("id"):
            self.instances.note_record(record)

            def stored(reply: Reply) -> None:
                if not reply.ok and reply.error is not None:
                    log.error("cannot record instance %s: %s", record.get("id"), reply.error.message)

            self._send_internal("instance.record", record, stored)

    def retire_slot(self, name: str) -> None:
        """Forget a stopped session worker's slot (after the loop is done iterating the table)."""
        self._retired.append(name)

    def _send_worker(self, identity: bytes, frames: list[bytes]) -> bool:
        try:
            self.work.send_multipart([identity, *frames], zmq.NOBLOCK)
            return True
        except zmq.ZMQError:
            return False

    def _heartbeat(self) -> None:
        for slot in self.table.slots.values():
            if slot.identity is not None:
                self._send_worker(slot.identity, encode_worker("HB"))

    def _worker_state(self, slot: Slot, change: ps.Publish) -> None:
        log.log(
            logging.ERROR if change.state is ps.State.FATAL else logging.INFO,
            "worker %s: %s → %s %s",
            slot.spec.name,
            change.previous.value,
            change.state.value,
            change.detail or "",
        )
        self.publish(
            f"worker.{change.state.value.lower()}",
            worker=slot.spec.name,
            state=change.state.value,
            previous=change.previous.value,
            **{k: v for k, v in change.detail.items() if k not in ("state", "previous")},
        )
        if change.state is not ps.State.RUNNING:
            self._fail_inflight(slot, change.state.value)
        if slot.spec.kind == "session":
            self.instances.worker_changed(slot, change.state)
        elif change.state is ps.State.RUNNING and slot.spec is STORE:
            self._store_running()
        if slot.spec is STORE and change.state in (ps.State.BACKOFF, ps.State.FATAL):
            self._bind_ctl()  # a store that cannot start must not keep `kas daemon status` out

    def _store_ready(self) -> bool:
        slot = self.table.slots.get("store")
        return slot is not None and slot.state is ps.State.RUNNING

    def _fail_inflight(self, slot: Slot, why: str) -> None:
        held, slot.inflight = slot.inflight, {}
        for pending in held.values():
            error = Unavailable(
                f"the {slot.spec.name} worker went away ({why}) while holding {pending.op}",
                hint="retry; kas retries idempotent requests itself",
            )
            self._complete(pending, Reply.failure("", error))

    def _all_down(self) -> bool:
        return all(slot.proc is None for slot in self.table.slots.values())

    # -- requests ----------------------------------------------------------------------------------

    def _on_client(self, frames: list[bytes]) -> None:
        if len(frames) < 2:
            self.bad.note("ctl.sock", "no routing id")
            return
        client = frames[0]
        try:
            request = decode_request(frames[1:])
        except ProtocolError as exc:
            self.bad.note("ctl.sock", exc.message)
            self._reply(client, Reply.failure(exc.request_id or "-", exc))
            return
        if request.group == "daemon":
            reply = DAEMON_OPS.dispatch(self, request)
            self._reply(client, reply)
            if request.op == "daemon.stop" and reply.ok:
                self.shutdown(quick=False)
            return
        if self.stopping:
            self._reply(client, Reply.failure(request.id, Unavailable("the daemon is shutting down")))
            return
        if self.instances.handles(request.op):
            self.instances.run(
                request.op,
                request.args,
                lambda reply: self._reply(client, reply.model_copy(update={"id": request.id})),
                request.id,
            )
            return
        deadline = time.monotonic() + (
            request.deadline_ms / 1000 if request.deadline_ms else DEFAULT_DEADLINE_S
        )
        pending = Pending(request.op, deadline, client, request.id, request.args)
        self._forward(request, pending)

    def _forward(self, request: Request, pending: Pending) -> bool:
        slot = self.table.route(request.group)
        if slot is None:
            error = KasError(f"no worker serves {request.op!r}", code=ErrorCode.INVALID_ARGUMENT)
            self._complete(pending, Reply.failure(request.id, error))
            return False
        return self._forward_slot(slot, request, pending)

    def _forward_slot(self, slot: Slot, request: Request, pending: Pending) -> bool:
        if slot.state is not ps.State.RUNNING or slot.identity is None:
            gave_up = slot.state in (ps.State.FATAL, ps.State.STOPPED, ps.State.EXITED)
            error = Unavailable(
                f"the {slot.spec.name} worker is {slot.state.value.lower()}",
                hint=f"see `kas daemon status`, then `kas daemon restart-worker {slot.spec.name}`"
                if gave_up
                else "retry in a moment; `kas daemon status` shows why",
                details={"will_recover": not gave_up},
            )
            self._complete(pending, Reply.failure(request.id, error))
            return False
        inner_id = f"{self.epoch}-{next(self._ids)}"
        remaining = max(1, int((pending.deadline - time.monotonic()) * 1000))
        inner = Request(
            id=inner_id, op=request.op, args=request.args, deadline_ms=remaining, idem=request.idem
        )
        if not self._send_worker(slot.identity, encode_worker("REQ", inner)):
            self._complete(
                pending, Reply.failure(request.id, Unavailable(f"the {slot.spec.name} worker is gone"))
            )
            return False
        slot.inflight[inner_id] = pending
        return True

    def _send_internal(self, op: str, args: dict[str, Any], callback: Any) -> bool:
        """Send a supervisor-made request; ``callback(reply)`` runs exactly once, failures included."""
        pending = Pending(op, time.monotonic() + DEFAULT_DEADLINE_S, args=args, callback=callback)
        request = Request(id="internal", op=op, args=args)
        return self._forward(request, pending)

    def _send_to(self, slot: Slot, op: str, args: dict[str, Any], callback: Any) -> bool:
        """A supervisor-made request to one particular worker (an instance's session worker)."""
        pending = Pending(op, time.monotonic() + DEFAULT_DEADLINE_S, args=args, callback=callback)
        return self._forward_slot(slot, Request(id="internal", op=op, args=args), pending)

    def _complete(self, pending: Pending, reply: Reply) -> None:
        if pending.callback is not None:
            try:
                pending.callback(reply)
            except Exception:
                log.exception("internal reply handler for %s failed", pending.op)
            return
        assert pending.client is not None
        self._reply(pending.client, reply.model_copy(update={"id": pending.client_id}))
        if not reply.ok or self.stopping:
            return
        project = os.path.basename(str(pending.args.get("repo", "")))
        if pending.op in KICK_OPS:
            self.scheduler.kick(project)
        if pending.op in REPO_OPS or (project and project not in self.scheduler.repos):
            self.scheduler.refresh_repos()  # a repository registered by this request, or just now

    def _reply(self, client: bytes, reply: Reply) -> None:
        # A client that is gone (ROUTER_MANDATORY) or slow is its problem, not ours.
        with contextlib.suppress(zmq.ZMQError):
            self.ctl.send_multipart([client, *encode_reply(reply)], zmq.NOBLOCK)

    def _expire(self, now: float) -> None:
        for slot in self.table.slots.values():
            late = [key for key, p in slot.inflight.items() if p.deadline <= now]
            for key in late:
                pending = slot.inflight.pop(key)
                error = TimeoutError_(f"{pending.op} took longer than its deadline", hint="retry")
                self._complete(pending, Reply.failure("", error))

    # -- events, reload, shutdown ------------------------------------------------------------------

    def publish(self, kind: str, project: str = "", task: str | None = None, **data: Any) -> None:
        event = Event(ts=timefmt.now(), kind=kind, project=project, task=task, data=data)
        with contextlib.suppress(zmq.ZMQError):
            self.events.send_multipart(encode_event(event), zmq.NOBLOCK)

    def reload(self) -> dict[str, Any]:
        config = load_daemon_config(self.config_path)  # a bad file raises: the old config stays
        self.config = config
        self.settings.clear()
        if self._store_ready():
            self._register_config_repos()
            self.scheduler.refresh_repos()
        log.info("configuration reloaded from %s", self.config_path)
        self.publish("daemon.reloaded", repos=len(config.repos))
        return {"reloaded": str(self.config_path), "repos": config.repos}

    def shutdown(self, quick: bool) -> None:
        if quick:
            log.warning("quick shutdown: killing workers")
            for slot in self.table.slots.values():
                self.table.kill_now(slot)
        if self.stopping:
            return
        self.stopping = True
        log.info("shutting down")
        self.publish("daemon.stopping", pid=self.pid)
        self._stop_next_group()

    def _stop_next_group(self) -> None:
        now = time.monotonic()
        for kind in STOP_ORDER:
            group = [s for s in self.table.slots.values() if s.spec.kind == kind]
            if any(s.proc is not None for s in group) or any(s.state is ps.State.STOPPING for s in group):
                for slot in group:
                    self.table.stop(slot, now)
                return
        for slot in self.table.slots.values():
            self.table.stop(slot, now)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from kasmos.workers import shell

    parser = argparse.ArgumentParser(prog="kasmos-daemon")
    parser.add_argument("--runtime", help="runtime dir (default: $XDG_RUNTIME_DIR/kasmos)")
    parser.add_argument("--config", help="daemon.toml path")
    parser.add_argument("--repo", action="append", default=[], help="also register this repository")
    ns = parser.parse_args(argv)
    shell.setup_logging()
    runtime = Runtime(Path(ns.runtime)) if ns.runtime else Runtime.default()
    try:
        return Daemon(runtime, Path(ns.config) if ns.config else None, repos=ns.repo).run()
    except KasError as exc:
        sys.stderr.write(exc.one_line() + "\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
