"""The client end of ``ctl.sock`` (used by ``kas``) and of ``events.sock`` (``kas monitor``).

A request goes out on a fresh DEALER (``LINGER=0``) and waits up to ``timeout`` seconds for the reply
with its id; replies with another id (stale, from an earlier attempt) are discarded. A request that
may be repeated safely (``retry=True``: reads, and writes carrying an idempotency key) is retried on a
new socket after a timeout or a retryable error (``unavailable``: a worker restarting), with a short
backoff, until ``total`` seconds have passed. Anything else fails at once with the daemon's error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import zmq

from kasmos.supervisor.errors import DaemonNotRunning, KasError, Timeout
from kasmos.supervisor.protocol import (
    Event,
    ProtocolError,
    Request,
    decode_reply,
    encode_request,
)
from kasmos.supervisor.runtime import Runtime, lock_is_held

DEFAULT_TIMEOUT_S = 5.0


def daemon_running(runtime: Runtime | None = None) -> bool:
    """Cheap probe: the ctl socket exists and the daemon lock is held."""
    runtime = runtime or Runtime.default()
    return runtime.socket("ctl").exists() and lock_is_held(runtime)


class Client:
    def __init__(self, runtime: Runtime | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.runtime = runtime or Runtime.default()
        self.timeout = timeout
        self.context = zmq.Context.instance()
        self.retryable_errors: list[str] = []

    def _socket(self) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.runtime.endpoint("ctl"))
        return sock

    def call(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        idem: str | None = None,
        retry: bool | None = None,
        total: float | None = None,
    ) -> Any:
        """Send one request and return its result (or raise the daemon's error as KasError)."""
        if not daemon_running(self.runtime):
            raise DaemonNotRunning(op)
        retry = bool(idem) if retry is None else retry
        budget = time.monotonic() + (total if total is not None else max(self.timeout * 3, 15.0))
        backoff = 0.05
        while True:
            request = Request(
                id=uuid.uuid4().hex,
                op=op,
                args=args or {},
                idem=idem,
                deadline_ms=int(self.timeout * 1000),
            )
            try:
                return self._once(request).raise_for_error()
            except KasError as exc:
                recovering = exc.details.get("will_recover", True)  # a FATAL worker will not come back
                if not (retry and exc.retryable and recovering) or time.monotonic() + backoff > budget:
                    raise
                self.retryable_errors.append(exc.code.value)
                if not daemon_running(self.runtime):
                    time.sleep(backoff)  # a restarting daemon: wait for its lock and socket
            time.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    def _once(self, request: Request) -> Any:
        sock = self._socket()
        try:
            sock.send_multipart(encode_request(request))
            deadline = time.monotonic() + self.timeout
            while (left := deadline - time.monotonic()) > 0:
                if not sock.poll(left * 1000):
                    break
                try:
                    reply = decode_reply(sock.recv_multipart())
                except ProtocolError:
                    continue
                if reply.id == request.id or (not reply.ok and reply.id in ("", "-")):
                    return reply
            raise Timeout(
                f"the daemon did not answer {request.op} within {self.timeout:g}s",
                hint="check `kas daemon status` and its log",
            )
        finally:
            sock.close(linger=0)


def subscribe(runtime: Runtime | None = None, topics: list[str] | None = None) -> Iterator[Event]:
    """Events as they are published (blocks); topics are kind prefixes, none means all."""
    runtime = runtime or Runtime.default()
    context = zmq.Context.instance()
    sock: zmq.Socket[bytes] = context.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    for topic in topics or [""]:
        sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sock.connect(runtime.endpoint("events"))
    try:
        while True:
            if not sock.poll(500):
                continue
            frames = sock.recv_multipart()
            if len(frames) != 2:
                continue
            try:
                yield Event.model_validate_json(frames[1])
            except ValueError:
                continue
    finally:
        sock.close(linger=0)
