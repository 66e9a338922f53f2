"""What both sdk transports share: line framing, the notes they produce, their common state. Pure.

An sdk agent speaks newline-delimited JSON on stdin/stdout (codex ``app-server`` JSON-RPC, claude
stream-json). A transport is a protocol state machine: :meth:`Transport.receive` takes one decoded
message from the agent; every method appends what to write to the agent to ``out`` and what happened,
normalised, to ``notes``. The session (``sdk_agent.py``) does the I/O, turns notes into the transcript,
bus events and the instance status.

Note kinds: ``prompt`` (a user turn sent), ``text`` (an assistant text delta, ``data.item``),
``text_done`` (an item's full text, shown only if no delta came), ``tool`` / ``tool_result``,
``approval`` (a question is waiting; ``data.id``), ``approval_done`` (answered or withdrawn),
``turn_started``, ``turn_done`` (``data.status``: completed / interrupted / failed), ``error``
(``data.will_retry``), ``notice``, ``session`` (the resume id is known: ``data.resume_id``),
``fatal`` (the handshake failed: the session ends the agent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kasmos.supervisor.errors import Conflict

MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class Note:
    kind: str
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Approval:
    id: Any
    method: str
    summary: str
    params: dict[str, Any]


class LineReader:
    """Bytes in, complete lines out; a line over ``MAX_LINE_BYTES`` is dropped (and reported)."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.skipping = False
        self.dropped = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        self.buffer += chunk
        lines: list[bytes] = []
        start = 0
        while True:
            end = self.buffer.find(b"\n", start)
            if end < 0:
                break
            if self.skipping:
                self.skipping = False
            else:
                lines.append(bytes(self.buffer[start:end]))
            start = end + 1
        del self.buffer[:start]
        if len(self.buffer) > self.limit:
            self.buffer.clear()
            self.skipping = True
            self.dropped += 1
        return lines


def decode(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """A message, or None and why (blank and non-JSON noise lines are skipped quietly: '')."""
    text = line.strip()
    if not text:
        return None, ""
    if not text.startswith(b"{"):
        return None, ""  # e.g. "[SandboxDebug] …" printed by some builds
    try:
        message = json.loads(text)
    except ValueError as exc:
        return None, f"malformed line from the agent ({exc.args[0][:60]}): {text[:80]!r}"
    if not isinstance(message, dict):
        return None, f"unexpected line from the agent: {text[:80]!r}"
    return message, ""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class Transport:
    """Common state: ``status`` (starting → idle ⇄ busy, waiting-for-approval), queued prompts,
    pending approvals (answered oldest first), and the resume id."""

    name = ""

    def __init__(self, cwd: str, skip_permissions: bool, model: str = "", resume_id: str = "") -> None:
        self.cwd = cwd
        self.skip_permissions = skip_permissions
        self.model = model
        self.resume_id = resume_id
        self.ready = False
        self.turn_open = False
        self.out: list[dict[str, Any]] = []
        self.notes: list[Note] = []
        self.queued: list[str] = []
        self.approvals: list[Approval] = []

    @property
    def status(self) -> str:
        if not self.ready:
            return "starting"
        if self.approvals:
            return "waiting-for-approval"
        return "busy" if self.turn_open else "idle"

    def take(self) -> tuple[list[dict[str, Any]], list[Note]]:
        out, notes, self.out, self.notes = self.out, self.notes, [], []
        return out, notes

    def note(self, kind: str, text: str = "", **data: Any) -> None:
        self.notes.append(Note(kind, text, data))

    def prompt(self, text: str) -> None:
        if not self.ready:
            self.queued.append(text)
            return
        self.note("prompt", text)
        self._send_prompt(text)

    def _flush_queue(self) -> None:
        queued, self.queued = self.queued, []
        for text in queued:
            self.prompt(text)

    def answer(self, approve: bool) -> Approval:
        if not self.approvals:
            raise Conflict("the agent is not waiting for an approval", hint="check `kas instance capture`")
        approval = self.approvals.pop(0)
        self._send_answer(approval, approve)
        self.note("approval_done", "approved" if approve else "denied", id=approval.id, by="user")
        return approval

    def _ask(self, approval: Approval) -> None:
        if self.skip_permissions:
            self._send_answer(approval, True)
            self.note("approval_done", f"auto-approved: {approval.summary}", id=approval.id, by="policy")
            return
        self.approvals.append(approval)
        self.note("approval", approval.summary, id=approval.id, method=approval.method)

    def _withdrawn(self, request_id: Any) -> None:
        for approval in list(self.approvals):
            if approval.id == request_id:
                self.approvals.remove(approval)
                self.note("approval_done", f"withdrawn: {approval.summary}", id=request_id, by="agent")

    # -- per protocol ----------------------------------------------------------------------------

    def argv(self, program: list[str]) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def begin(self) -> None:
        raise NotImplementedError

    def receive(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def interrupt(self) -> None:
        raise NotImplementedError

    def _send_prompt(self, text: str) -> None:
        raise NotImplementedError

    def _send_answer(self, approval: Approval, approve: bool) -> None:
        raise NotImplementedError
