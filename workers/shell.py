"""The worker end of ``work.sock``: one DEALER, READY, heartbeats, requests in, replies and events out.

A worker is a separate process started by the supervisor (never forked from it). It connects a
DEALER with routing id ``<service>.<pid>.<epoch>`` (unique per incarnation), sends ``READY {service,
name, pid, ops}``, then serves requests: ``REQ`` in, ``REP`` out, followed by an ``EVT`` frame per
event the handler produced. Requests already queued are handed to the handler together (up to 64),
so a worker may serve them in one transaction (group commit). It sends ``HB`` every second and exits
on its own when the supervisor is gone: its parent pid changed, or nothing was heard for
``liveness`` intervals. ``BYE`` from the supervisor or SIGTERM ends it gracefully (a transaction in
progress rolls back).

A worker with more to watch than requests (an agent's pidfd, a tmux control client, finished git
jobs) passes :class:`Hooks`: extra file descriptors polled with the socket, and a timer. Hooks and
handlers return ``(reply or None, events)`` pairs: a ``None`` reply sends only the events, so replies
may come later than their request (a git job on a thread) and events may come unasked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import zmq

from kasmos.supervisor.protocol import (
    Event,
    ProtocolError,
    Ready,
    Reply,
    Request,
    decode_worker,
    encode_worker,
)

log = logging.getLogger("kasmos.worker")

HEARTBEAT_S = 1.0
LIVENESS = 3
BATCH = 64


Outgoing = list[tuple[Reply | None, list[Event]]]


class Hooks:
    """What a worker watches besides ``work.sock``. The default watches nothing."""

    def fds(self) -> list[int]:
        return []

    def on_fd(self, fd: int) -> Outgoing:
        return []

    def next_due(self) -> float:
        """``time.monotonic()`` value at which :meth:`tick` wants to run (inf: never)."""
        return float("inf")

    def tick(self, now: float) -> Outgoing:
        return []


class _Stop(Exception):
    pass


def _on_term(signum: int, frame: Any) -> None:
    raise _Stop(signal.Signals(signum).name)


def serve(
    service: str,
    name: str,
    endpoint: str,
    epoch: str,
    ops: list[str],
    handle: Callable[[list[Request]], Outgoing],
    hooks: Hooks | None = None,
) -> int:
    """Serve until the supervisor says BYE, disappears, or SIGTERM. Returns the exit status."""
    signal.signal(signal.SIGTERM, _on_term)
    parent = os.getppid()
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.setsockopt(zmq.ROUTING_ID, f"{service}.{os.getpid()}.{epoch}".encode())
    sock.connect(endpoint)
    reason = "supervisor gone"
    try:
        sock.send_multipart(
            encode_worker("READY", Ready(service=service, name=name, pid=os.getpid(), ops=ops))
        )
        now = time.monotonic()
        heard, next_beat = now, now + HEARTBEAT_S
        hooks = hooks or Hooks()
        watched: tuple[int, ...] = ()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)

        def send(out: Outgoing) -> None:
            for reply, events in out:
                if reply is not None:
                    sock.send_multipart(encode_worker("REP", reply))
                for event in events:
                    sock.send_multipart(encode_worker("EVT", event))

        while True:
            fds = tuple(hooks.fds())
            if fds != watched:
                for fd in watched:
                    poller.unregister(fd)
                for fd in fds:
                    poller.register(fd, zmq.POLLIN)
                watched = fds
            wait = min(next_beat, hooks.next_due()) - time.monotonic()
            for ready, _ in poller.poll(max(0.0, wait) * 1000):
                if ready is not sock:
                    send(hooks.on_fd(ready))
                    continue
                frames = sock.recv_multipart()
                heard = time.monotonic()
                try:
                    verb, envelope = decode_worker(frames)
                except ProtocolError as exc:
                    log.warning("%s: dropped a bad frame from the supervisor: %s", name, exc.message)
                    continue
                if verb == "BYE":
                    reason = "asked to stop"
                    raise _Stop(reason)
                if verb == "REQ" and isinstance(envelope, Request):
                    send(handle([envelope, *_more_requests(sock, name)]))
            if time.monotonic() >= hooks.next_due():
                send(hooks.tick(time.monotonic()))
            now = time.monotonic()
            if now >= next_beat:
                sock.send_multipart(encode_worker("HB"))
                next_beat = now + HEARTBEAT_S
            if os.getppid() != parent:
                log.warning("%s: supervisor (pid %d) is gone; exiting", name, parent)
                return 0
            if now - heard > HEARTBEAT_S * LIVENESS:
                log.warning("%s: no word from the supervisor for %.1fs; exiting", name, now - heard)
                return 0
    except _Stop as stop:
        reason = str(stop)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with contextlib.suppress(zmq.ZMQError):
            sock.send_multipart(encode_worker("BYE"), flags=zmq.NOBLOCK)
        sock.close(linger=200)
        context.term()
    log.info("%s: stopped (%s)", name, reason)
    return 0


def _more_requests(sock: zmq.Socket[bytes], name: str, limit: int = BATCH - 1) -> list[Request]:
    """Requests already queued behind the first, so the handler can serve them together."""
    more: list[Request] = []
    while len(more) < limit:
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            break
        try:
            verb, envelope = decode_worker(frames)
        except ProtocolError as exc:
            log.warning("%s: dropped a bad frame from the supervisor: %s", name, exc.message)
            continue
        if verb == "REQ" and isinstance(envelope, Request):
            more.append(envelope)
    return more


def worker_args(argv: list[str]) -> tuple[str, str, str]:
    """``--endpoint E --name N --epoch X`` → (endpoint, name, epoch)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--epoch", required=True)
    ns = parser.parse_args(argv)
    return ns.endpoint, ns.name, ns.epoch


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("KASMOS_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
