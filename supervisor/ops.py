"""Op tables: every operation a worker (or the supervisor itself) serves, registered in one place.

An op is a name (``group.verb``), a pydantic model for its arguments and a handler
``handler(context, args) -> JSON-able result``. :meth:`OpTable.dispatch` validates the arguments next
to the handler and turns every failure into a wire error reply, so a handler never crashes its
worker: :class:`KasError` keeps its code, a validation failure is ``invalid_argument`` naming the
field, anything else is ``internal`` (logged with its traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from kasmos.supervisor.errors import ErrorCode, InvalidArgument, KasError
from kasmos.supervisor.protocol import Reply, Request

log = logging.getLogger("kasmos.ops")

C = TypeVar("C")
A = TypeVar("A", bound=BaseModel)


class Args(BaseModel):
    """Base of every op's argument model: unknown arguments are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    pass


@dataclass(frozen=True)
class OpSpec(Generic[C]):
    name: str
    args: type[BaseModel]
    handler: Callable[[C, Any], Any]
    mutating: bool


Once = Callable[[C, str, str, Callable[[], Any]], Any]


class OpTable(Generic[C]):
    """``once(context, idem, op, thunk)``, when given, runs a mutating op that carries an idempotency
    key at most once (the store keeps the result with the key)."""

    def __init__(self, service: str, once: Once[C] | None = None) -> None:
        self.service = service
        self.once = once
        self.ops: dict[str, OpSpec[C]] = {}

    def op(
        self, name: str, args: type[A], *, mutating: bool = False
    ) -> Callable[[Callable[[C, A], Any]], Callable[[C, A], Any]]:
        def register(handler: Callable[[C, A], Any]) -> Callable[[C, A], Any]:
            if name in self.ops:
                raise ValueError(f"op {name} registered twice")
            self.ops[name] = OpSpec(name, args, handler, mutating)
            return handler

        return register

    @property
    def names(self) -> list[str]:
        return sorted(self.ops)

    def parse(self, op: str, raw: dict[str, Any]) -> tuple[OpSpec[C], BaseModel]:
        spec = self.ops.get(op)
        if spec is None:
            raise InvalidArgument(f"unknown op {op!r}", hint=f"{self.service} serves {', '.join(self.names)}")
        try:
            return spec, spec.args.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "args"
            raise InvalidArgument(f"{op}: {where}: {first['msg']}") from None

    def call(self, context: C, op: str, raw: dict[str, Any], idem: str | None = None) -> Any:
        """Run an op in-process (also the CLI's direct path); errors are raised as KasError."""
        spec, args = self.parse(op, raw)
        if idem and spec.mutating and self.once is not None:
            return self.once(context, idem, op, lambda: spec.handler(context, args))
        return spec.handler(context, args)

    def dispatch(self, context: C, request: Request) -> Reply:
        try:
            return Reply.success(request.id, self.call(context, request.op, request.args, request.idem))
        except KasError as exc:
            return Reply.failure(request.id, exc)
        except Exception as exc:  # a handler bug must not take the worker down
            log.exception("op %s failed", request.op)
            error = KasError(f"{request.op} failed: {type(exc).__name__}: {exc}", code=ErrorCode.INTERNAL)
            return Reply.failure(request.id, error)
