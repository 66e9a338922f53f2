"""Multi-step operations in the supervisor, written as generators and driven by worker replies.

A flow yields what it waits for — :class:`Call` (one request to a worker: by op group, or to a named
session worker) or :class:`Launch` (start an instance's session worker and wait for its agent) — and
receives the result, or the worker's error raised at the ``yield`` (so ``try``/``except`` rolls back).
The loop never blocks: each reply resumes the generator from the reply callback. The flow's return
value, or its :class:`KasError`, goes to ``done``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from kasmos.supervisor.errors import ErrorCode, KasError
from kasmos.supervisor.protocol import Reply

log = logging.getLogger("kasmos.supervisor")


@dataclass
class Call:
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    slot: str | None = None


@dataclass
class Launch:
    record: dict[str, Any]
    mode: str = "new"
    resume: bool = False
    prompt: str = ""
    skip_permissions: bool = False


Step = Call | Launch
Flow = Generator[Step, Any, Any]
Done = Callable[[Reply], None]


def error_of(reply: Reply) -> KasError:
    try:
        reply.raise_for_error()
    except KasError as exc:
        return exc
    return KasError("no error", code=ErrorCode.INTERNAL)  # pragma: no cover - ok replies never get here


class Driver:
    """Runs flows. ``perform(step, callback)`` starts one step; ``callback(reply)`` resumes the flow."""

    def __init__(self, perform: Callable[[Step, Callable[[Reply], None]], None]) -> None:
        self.perform = perform

    def run(self, flow: Flow, done: Done, request_id: str = "") -> None:
        self._advance(flow, done, request_id, None, None)

    def _advance(self, flow: Flow, done: Done, rid: str, value: Any, error: KasError | None) -> None:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            done(Reply.success(rid, stop.value))
            return
        except KasError as exc:
            done(Reply.failure(rid, exc))
            return
        except Exception as exc:  # a bug in a flow must not take the supervisor down
            log.exception("flow failed")
            done(Reply.failure(rid, KasError(f"internal error: {type(exc).__name__}: {exc}")))
            return

        def resume(reply: Reply) -> None:
            if reply.ok:
                self._advance(flow, done, rid, reply.result, None)
            else:
                self._advance(flow, done, rid, None, error_of(reply))

        self.perform(step, resume)
