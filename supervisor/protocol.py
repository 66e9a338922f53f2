"""The wire protocol between `kas` clients, the supervisor and its workers. Pure: no sockets.

Frames, as a ROUTER sees them after the routing id (DEALER peers send them as is)::

    client → supervisor   [b""] [b"KAS1"]  [b"REQ"]                 [envelope-json]
    supervisor → client   [b""] [b"KAS1"]  [b"REP"]                 [envelope-json]
    worker ↔ supervisor   [b""] [b"KASW1"] [READY|REQ|REP|HB|EVT|BYE] [envelope-json]?

The tag frame carries the major version and the verb is its own ASCII frame, so routing and
heartbeats never parse JSON. Envelopes are UTF-8 JSON of at most 1 MiB, validated by the pydantic
models below; unknown fields are ignored. Anything else (missing frames, unknown tags or verbs,
oversized or non-JSON bodies, wrong shapes, another protocol version) raises :class:`ProtocolError`
carrying the wire error code and, when the body could be read, the request id to answer.

Request ``{v, id, op, args, deadline_ms?, idem?}``; reply ``{v, id, ok: true, result}`` or
``{v, id, ok: false, error: {code, message, retryable, details}}``; events ``{v, ts, kind, project,
task?, instance?, data}`` published under the topic frame ``kind``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kasmos.supervisor.errors import RETRYABLE, ErrorCode, KasError

VERSION = 1
CLIENT_TAG = b"KAS1"
WORKER_TAG = b"KASW1"
MAX_ENVELOPE_BYTES = 1024 * 1024
CLIENT_VERBS = frozenset({b"REQ", b"REP"})
WORKER_VERBS = frozenset({b"READY", b"REQ", b"REP", b"HB", b"EVT", b"BYE"})
OP_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_-]*$")


class ProtocolError(KasError):
    """A frame that cannot be served. ``request_id`` is set when the envelope's id was readable."""

    def __init__(
        self, message: str, *, code: ErrorCode = ErrorCode.INVALID_ARGUMENT, request_id: str = ""
    ) -> None:
        super().__init__(message, code=code)
        self.request_id = request_id


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Request(_Envelope):
    v: int = VERSION
    id: str = Field(min_length=1, max_length=128)
    op: str = Field(pattern=OP_PATTERN.pattern, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    deadline_ms: int | None = Field(default=None, gt=0)
    idem: str | None = Field(default=None, max_length=256)

    @property
    def group(self) -> str:
        return self.op.split(".", 1)[0]


class ErrorBody(_Envelope):
    code: ErrorCode
    message: str
    retryable: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


class Reply(_Envelope):
    v: int = VERSION
    id: str
    ok: bool
    result: Any = None
    error: ErrorBody | None = None

    @classmethod
    def success(cls, request_id: str, result: Any = None) -> Reply:
        return cls(id=request_id, ok=True, result=result)

    @classmethod
    def failure(cls, request_id: str, error: KasError) -> Reply:
        body = ErrorBody(
            code=error.code,
            message=error.message,
            retryable=error.code in RETRYABLE,
            details={"hint": error.hint, **error.details} if error.hint else dict(error.details),
        )
        return cls(id=request_id, ok=False, error=body)

    def raise_for_error(self) -> Any:
        """The result, or the error re-raised as a KasError on the client side."""
        if self.ok:
            return self.result
        assert self.error is not None
        details = dict(self.error.details)
        hint = str(details.pop("hint", ""))
        raise KasError(self.error.message, hint=hint, code=self.error.code, details=details)


class Ready(_Envelope):
    v: int = VERSION
    service: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    pid: int = Field(gt=0)
    ops: list[str] = Field(default_factory=list)


class Event(_Envelope):
    v: int = VERSION
    ts: str
    kind: str = Field(min_length=1, max_length=128)
    project: str = ""
    task: str | None = None
    instance: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


_M = TypeVar("_M", bound=_Envelope)


def _body(frame: bytes) -> dict[str, Any]:
    if len(frame) > MAX_ENVELOPE_BYTES:
        raise ProtocolError(f"envelope of {len(frame)} bytes is over the {MAX_ENVELOPE_BYTES}-byte limit")
    try:
        value = json.loads(frame)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"envelope is not UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("envelope must be a JSON object")
    return value


def _validate(model: type[_M], body: dict[str, Any]) -> _M:
    request_id = body.get("id") if isinstance(body.get("id"), str) else ""
    version = body.get("v", VERSION)
    if version != VERSION:
        raise ProtocolError(
            f"protocol version {version!r} is not supported (this side speaks {VERSION})",
            code=ErrorCode.VERSION_MISMATCH,
            request_id=request_id,
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "envelope"
        message = f"bad {model.__name__.lower()}: {where}: {first['msg']}"
        raise ProtocolError(message, request_id=request_id) from None


def _split(frames: list[bytes], tag: bytes, verbs: frozenset[bytes]) -> tuple[bytes, list[bytes]]:
    if len(frames) < 3 or frames[0] != b"":
        raise ProtocolError("malformed message: expected an empty delimiter, a tag and a verb")
    if frames[1] != tag:
        message = f"unknown protocol tag {frames[1][:16]!r} (expected {tag.decode()})"
        raise ProtocolError(message, code=ErrorCode.VERSION_MISMATCH)
    verb = frames[2]
    if verb not in verbs:
        raise ProtocolError(f"unknown verb {verb[:16]!r}")
    return verb, frames[3:]


def decode_request(frames: list[bytes]) -> Request:
    """A client's request frames (routing id already removed) → Request, or ProtocolError."""
    verb, rest = _split(frames, CLIENT_TAG, CLIENT_VERBS)
    if verb != b"REQ" or len(rest) != 1:
        raise ProtocolError("expected REQ with exactly one envelope frame")
    return _validate(Request, _body(rest[0]))


def decode_reply(frames: list[bytes]) -> Reply:
    verb, rest = _split(frames, CLIENT_TAG, CLIENT_VERBS)
    if verb != b"REP" or len(rest) != 1:
        raise ProtocolError("expected REP with exactly one envelope frame")
    return _validate(Reply, _body(rest[0]))


WorkerVerb = Literal["READY", "REQ", "REP", "HB", "EVT", "BYE"]


def decode_worker(frames: list[bytes]) -> tuple[WorkerVerb, _Envelope | None]:
    """Worker-channel frames → (verb, envelope). HB and BYE carry no envelope."""
    verb, rest = _split(frames, WORKER_TAG, WORKER_VERBS)
    name: WorkerVerb = verb.decode()  # type: ignore[assignment]
    if name in ("HB", "BYE"):
        return name, None
    if len(rest) != 1:
        raise ProtocolError(f"{name} needs exactly one envelope frame")
    model: type[_Envelope] = {"READY": Ready, "REQ": Request, "REP": Reply, "EVT": Event}[name]
    return name, _validate(model, _body(rest[0]))


def _dump(envelope: _Envelope) -> bytes:
    return envelope.model_dump_json(exclude_none=True).encode()


def encode_request(request: Request) -> list[bytes]:
    return [b"", CLIENT_TAG, b"REQ", _dump(request)]


def encode_reply(reply: Reply) -> list[bytes]:
    return [b"", CLIENT_TAG, b"REP", _dump(reply)]


def encode_worker(verb: WorkerVerb, envelope: _Envelope | None = None) -> list[bytes]:
    frames = [b"", WORKER_TAG, verb.encode()]
    if envelope is not None:
        frames.append(_dump(envelope))
    return frames


def encode_event(event: Event) -> list[bytes]:
    return [event.kind.encode(), _dump(event)]
