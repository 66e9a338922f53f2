"""codex ``app-server`` (protocol v2) as a transport (agent-protocols §1, reference §9). Pure.

Wire: newline-delimited JSON-RPC without the ``jsonrpc`` field. Ours: requests ``{id, method, params}``
with ids counting from 0, the ``initialized`` notification, and replies ``{id, result}`` /
``{id, error}`` to the server's own requests, whose ids are a separate space (they start at 0 too).
Unknown top-level keys (``emittedAtMs``) are ignored.

Handshake: ``initialize`` → ``initialized`` → ``thread/resume {threadId}`` with the stored thread id
(falling back to ``thread/start`` when the thread is gone) or ``thread/start``, both with ``cwd``, and
``approvalPolicy``/``sandbox`` from the permission setting. Prompts: ``turn/start``, or ``turn/steer``
while a turn runs (back to ``turn/start`` if it ended meanwhile); ``turn/interrupt``. Approval requests
are answered ``accept``/``decline`` (permissions: the requested set or none); anything else the server
asks gets -32601.
"""

from __future__ import annotations

from typing import Any

from kasmos.supervisor.errors import Conflict
from kasmos.workers.session.transport import Approval, Transport

NOISE = [
    "thread/tokenUsage/updated",
    "account/rateLimits/updated",
    "remoteControl/status/changed",
    "mcpServer/startupStatus/updated",
    "item/reasoning/summaryTextDelta",
    "turn/diff/updated",
    "turn/plan/updated",
]
APPROVALS = (
    "item/commandExecution/requestApproval",
    "item/fileChange/requestApproval",
    "item/permissions/requestApproval",
)
TOOL_ITEMS = (
    "commandExecution",
    "fileChange",
    "mcpToolCall",
    "dynamicToolCall",
    "collabAgentToolCall",
    "webSearch",
)


def _input(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "text_elements": []}]


def _describe_item(item: dict[str, Any]) -> str:
    kind = item.get("type")
    if kind == "commandExecution":
        return f"$ {item.get('command', '')}"
    if kind == "fileChange":
        paths = [c.get("path", "?") for c in item.get("changes") or [] if isinstance(c, dict)]
        return f"edit {', '.join(paths) or 'files'}"
    if kind == "mcpToolCall":
        return f"{item.get('server', '?')}.{item.get('tool', '?')}"
    return str(kind)


class CodexTransport(Transport):
    name = "codex"

    def __init__(self, cwd: str, skip_permissions: bool, model: str = "", resume_id: str = "") -> None:
        super().__init__(cwd, skip_permissions, model, resume_id)
        self.next_id = 0
        self.pending: dict[int, tuple[str, Any]] = {}
        self.thread_id = ""
        self.turn_id = ""
        self.steer_waiting: list[str] = []  # sent while a turn/start awaits its turn id

    def argv(self, program: list[str]) -> list[str]:
        return program if "app-server" in program else [*program, "app-server"]

    def env(self) -> dict[str, str]:
        return {"RUST_LOG": "warn", "NO_COLOR": "1"}

    def _request(self, method: str, params: dict[str, Any], context: Any = None) -> None:
        rid, self.next_id = self.next_id, self.next_id + 1
        self.pending[rid] = (method, context)
        self.out.append({"id": rid, "method": method, "params": params})

    def _thread_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"cwd": self.cwd}
        if self.skip_permissions:
            params.update(approvalPolicy="never", sandbox="danger-full-access")
        else:
            params.update(approvalPolicy="on-request", sandbox="workspace-write")
        if self.model:
            params["model"] = self.model
        return params

    def begin(self) -> None:
        self._request(
            "initialize",
            {
                "clientInfo": {"name": "kasmos", "title": "kasmos", "version": "0.1.0"},
                "capabilities": {"optOutNotificationMethods": NOISE},
            },
        )

    # -- from the server -----------------------------------------------------------------------------

    def receive(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if isinstance(method, str):
            if "id" in message:
                self._server_request(message["id"], method, message.get("params") or {})
            else:
                self._notification(method, message.get("params") or {})
            return
        rid = message.get("id")
        if not isinstance(rid, int) or rid not in self.pending:
            return
        request, context = self.pending.pop(rid)
        if "error" in message:
            error = message.get("error") or {}
            self._failed(request, context, str(error.get("message", error)))
        else:
            self._succeeded(request, context, message.get("result") or {})

    def _succeeded(self, request: str, context: Any, result: dict[str, Any]) -> None:
        if request == "initialize":
            self.out.append({"method": "initialized"})
            if self.resume_id:
                self._request("thread/resume", {"threadId": self.resume_id, **self._thread_params()})
            else:
                self._request("thread/start", self._thread_params())
        elif request in ("thread/start", "thread/resume"):
            thread = result.get("thread") or {}
            self.thread_id = str(thread.get("id", ""))
            resumed = request == "thread/resume"
            self.resume_id = self.thread_id
            self.ready = True
            self.note(
                "session",
                f"{'resumed' if resumed else 'started'} thread {self.thread_id}",
                resume_id=self.thread_id,
                resumed=resumed,
            )
            self._flush_queue()
        elif request == "turn/start":
            turn = result.get("turn") or {}
            if not self.turn_id and self.turn_open:
                self.turn_id = str(turn.get("id", ""))
            self._flush_steers()

    def _failed(self, request: str, context: Any, message: str) -> None:
        if request == "thread/resume":
            self.note("error", f"could not resume thread {self.resume_id} ({message}); starting a new one")
            self.resume_id = ""
            self._request("thread/start", self._thread_params())
        elif request in ("initialize", "thread/start"):
            self.note("fatal", f"{request} failed: {message}")
        elif request == "turn/steer":
            self._start_turn(str(context))  # the turn ended before the steer arrived
        elif request == "turn/start":
            self.turn_open = False
            self.note("error", f"the agent refused the prompt: {message}")
        else:
            self.note("error", f"{request} failed: {message}")

    def _server_request(self, rid: Any, method: str, params: dict[str, Any]) -> None:
        if method in APPROVALS:
            if method == "item/permissions/requestApproval":
                summary = f"permissions: {params.get('reason') or params.get('permissions')}"
            elif method == "item/fileChange/requestApproval":
                summary = f"change files{' under ' + params['grantRoot'] if params.get('grantRoot') else ''}"
            else:
                summary = f"run {params.get('command', '?')}"
            self._ask(Approval(rid, method, summary, params))
            return
        self.out.append(
            {"id": rid, "error": {"code": -32601, "message": f"kasmos does not support {method}"}}
        )
        self.note("notice", f"declined the agent's request {method}")

    def _send_answer(self, approval: Approval, approve: bool) -> None:
        if approval.method == "item/permissions/requestApproval":
            granted = approval.params.get("permissions") if approve else {}
            result: dict[str, Any] = {"permissions": granted or {}, "scope": "turn"}
        else:
            result = {"decision": "accept" if approve else "decline"}
        self.out.append({"id": approval.id, "result": result})

    def _notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "turn/started":
            self.turn_open = True
            self.turn_id = str((params.get("turn") or {}).get("id", ""))
            self.note("turn_started")
            self._flush_steers()
        elif method == "turn/completed":
            turn = params.get("turn") or {}
            error = turn.get("error") or {}
            self.turn_open, self.turn_id = False, ""
            self.approvals.clear()
            self.note(
                "turn_done",
                str(error.get("message", "")) if isinstance(error, dict) else str(error),
                status=str(turn.get("status", "completed")),
                duration_ms=turn.get("durationMs"),
                is_error=turn.get("status") == "failed",
            )
        elif method == "item/agentMessage/delta":
            self.note("text", str(params.get("delta", "")), item=params.get("itemId"))
        elif method in ("item/started", "item/completed"):
            self._item(method, params.get("item") or {})
        elif method == "error":
            error = params.get("error") or {}
            self.note(
                "error",
                str(error.get("message", "")),
                will_retry=bool(params.get("willRetry")),
                details=error.get("additionalDetails"),
            )
        elif method == "serverRequest/resolved":
            self._withdrawn(params.get("requestId"))
        elif method == "thread/status/changed":
            status = params.get("status") or {}
            if status.get("type") == "systemError":
                self.note("error", "the agent reported a system error")
        elif method in ("warning", "configWarning", "deprecationNotice"):
            self.note("notice", str(params.get("message") or params.get("summary") or ""))

    def _item(self, method: str, item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind == "agentMessage" and method == "item/completed":
            self.note("text_done", str(item.get("text", "")), item=item.get("id"))
        elif kind in TOOL_ITEMS:
            if method == "item/started":
                self.note("tool", _describe_item(item), item=item.get("id"))
            else:
                status = str(item.get("status", ""))
                output = str(item.get("aggregatedOutput") or "")
                code = item.get("exitCode")
                self.note(
                    "tool_result",
                    output,
                    item=item.get("id"),
                    status=status,
                    exit_code=code,
                    is_error=status in ("failed", "declined"),
                )

    # -- to the server -------------------------------------------------------------------------------

    def _start_turn(self, text: str) -> None:
        self.turn_open = True
        self._request("turn/start", {"threadId": self.thread_id, "input": _input(text)})

    def _send_prompt(self, text: str) -> None:
        if not self.turn_open:
            self._start_turn(text)
        elif not self.turn_id:
            self.steer_waiting.append(text)
        else:
            self._request(
                "turn/steer",
                {"threadId": self.thread_id, "expectedTurnId": self.turn_id, "input": _input(text)},
                context=text,
            )

    def _flush_steers(self) -> None:
        waiting, self.steer_waiting = self.steer_waiting, []
        for text in waiting:
            self._send_prompt(text)

    def interrupt(self) -> None:
        if not self.turn_open or not self.turn_id:
            raise Conflict("no turn is running", hint="the agent is idle")
        self._request("turn/interrupt", {"threadId": self.thread_id, "turnId": self.turn_id})
        self.note("notice", "interrupt requested")
