"""Claude Code stream-json as a transport (agent-protocols §2). Pure.

Command line as the Claude Agent SDK builds it: ``claude --output-format stream-json --input-format
stream-json --verbose --permission-prompt-tool stdio --include-partial-messages`` plus ``--model``,
``--permission-mode bypassPermissions`` when permissions are skipped, and ``--resume <session_id>``.

Ours on stdin: ``{"type": "user", "message": {"role": "user", "content": text}, …}`` per prompt (the
CLI queues them), ``control_request`` ``initialize`` / ``interrupt`` with ids ``req_<n>_kasmos``, and
``control_response`` to the CLI's ``can_use_tool`` (allow with the input, or deny with a message);
other CLI requests get an error response. From stdout: ``system/init`` (the session id to store, once
per turn), ``stream_event`` text deltas, ``assistant`` messages (text, ``tool_use``), ``user`` tool
results, ``result`` at the end of every turn — an error when ``is_error`` is true even with
``subtype: success`` — and ``control_cancel_request`` withdrawing a question.
"""

from __future__ import annotations

from typing import Any

from kasmos.supervisor.errors import Conflict
from kasmos.workers.session.transport import Approval, Transport

DENY_MESSAGE = "Denied by the user (kas instance deny)"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and "text" in b)
    return ""


class ClaudeTransport(Transport):
    name = "claude"

    def __init__(self, cwd: str, skip_permissions: bool, model: str = "", resume_id: str = "") -> None:
        super().__init__(cwd, skip_permissions, model, resume_id)
        self.next_id = 0
        self.pending: dict[str, str] = {}
        self.open_turns = 0
        self.streamed = False  # deltas came for the current assistant message

    def argv(self, program: list[str]) -> list[str]:
        argv = [
            *program,
            "--output-format",
            "stream-json",
            "--input-format",
            "stream-json",
            "--verbose",
            "--permission-prompt-tool",
            "stdio",
            "--include-partial-messages",
        ]
        if self.model:
            argv += ["--model", self.model]
        if self.skip_permissions:
            argv += ["--permission-mode", "bypassPermissions"]
        if self.resume_id:
            argv += ["--resume", self.resume_id]
        return argv

    def env(self) -> dict[str, str]:
        return {"CLAUDE_CODE_ENTRYPOINT": "sdk-py", "DISABLE_AUTOUPDATER": "1"}

    def _control(self, subtype: str, **fields: Any) -> None:
        self.next_id += 1
        rid = f"req_{self.next_id}_kasmos"
        self.pending[rid] = subtype
        self.out.append(
            {"type": "control_request", "request_id": rid, "request": {"subtype": subtype, **fields}}
        )

    def begin(self) -> None:
        self._control("initialize", hooks=None)

    # -- from the CLI --------------------------------------------------------------------------------

    def receive(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        handler = {
            "system": self._system,
            "stream_event": self._stream_event,
            "assistant": self._assistant,
            "user": self._user,
            "result": self._result,
            "control_request": self._cli_request,
            "control_response": self._response,
            "control_cancel_request": self._cancel,
        }.get(str(kind))
        if handler is not None:
            handler(message)

    def _response(self, message: dict[str, Any]) -> None:
        response = message.get("response") or {}
        subtype = self.pending.pop(str(response.get("request_id")), None)
        if subtype is None:
            return
        failed = response.get("subtype") == "error"
        if subtype == "initialize":
            if failed:
                self.note("notice", f"initialize refused ({response.get('error')}); going on without it")
            self.ready = True
            self.note("session", "connected", resume_id=self.resume_id, resumed=bool(self.resume_id))
            self._flush_queue()
        elif failed:
            self.note("error", f"{subtype} failed: {response.get('error')}")

    def _system(self, message: dict[str, Any]) -> None:
        subtype = message.get("subtype")
        if subtype == "init":
            session_id = str(message.get("session_id", ""))
            if session_id and session_id != self.resume_id:
                self.resume_id = session_id
                self.note("session", f"session {session_id}", resume_id=session_id, resumed=False)
        elif subtype == "api_retry":
            self.note("error", str(message.get("error") or "API error; retrying"), will_retry=True)

    def _stream_event(self, message: dict[str, Any]) -> None:
        event = message.get("event") or {}
        delta = event.get("delta") or {}
        if event.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
            self.streamed = True
            self.note("text", str(delta.get("text", "")), item="claude")

    def _assistant(self, message: dict[str, Any]) -> None:
        body = message.get("message") or {}
        for block in body.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and not self.streamed:
                self.note("text_done", str(block.get("text", "")), item=body.get("id"))
            elif block.get("type") == "text":
                self.note("text_done", "", item="claude")  # ends the streamed paragraph
            elif block.get("type") == "tool_use":
                tool_input = block.get("input") or {}
                shown = tool_input.get("command") or tool_input.get("file_path") or tool_input
                self.note("tool", f"{block.get('name')}: {shown}", item=block.get("id"))
        self.streamed = False
        if message.get("error"):
            self.note("error", f"the agent reported {message['error']}")

    def _user(self, message: dict[str, Any]) -> None:
        content = (message.get("message") or {}).get("content")
        if not isinstance(content, list):
            return
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_result":
                is_error = bool(block.get("is_error"))
                self.note(
                    "tool_result",
                    _text_of(block.get("content")),
                    item=block.get("tool_use_id"),
                    is_error=is_error,
                    status="failed" if is_error else "completed",
                )
            elif block.get("type") == "text":
                self.note("notice", str(block.get("text", "")))

    def _result(self, message: dict[str, Any]) -> None:
        self.open_turns = max(0, self.open_turns - 1)
        self.turn_open = self.open_turns > 0
        is_error = bool(message.get("is_error")) or message.get("subtype") != "success"
        interrupted = message.get("terminal_reason") == "aborted_streaming"
        status = "interrupted" if interrupted else "failed" if is_error else "completed"
        errors = message.get("errors") or []
        text = str(message.get("result") or "; ".join(map(str, errors)) or "") if is_error else ""
        if not self.turn_open:
            self.approvals.clear()
        self.note(
            "turn_done",
            text,
            status=status,
            is_error=is_error,
            duration_ms=message.get("duration_ms"),
            subtype=message.get("subtype"),
        )

    def _cli_request(self, message: dict[str, Any]) -> None:
        rid = message.get("request_id")
        request = message.get("request") or {}
        if request.get("subtype") == "can_use_tool":
            tool_input = request.get("input") or {}
            shown = (
                tool_input.get("command") or tool_input.get("file_path") or request.get("description") or ""
            )
            self._ask(Approval(rid, "can_use_tool", f"{request.get('tool_name')}: {shown}", request))
            return
        self.out.append(
            {
                "type": "control_response",
                "response": {
                    "subtype": "error",
                    "request_id": rid,
                    "error": f"kasmos does not support {request.get('subtype')}",
                },
            }
        )

    def _cancel(self, message: dict[str, Any]) -> None:
        self._withdrawn(message.get("request_id"))

    # -- to the CLI ----------------------------------------------------------------------------------

    def _send_answer(self, approval: Approval, approve: bool) -> None:
        if approve:
            body: dict[str, Any] = {"behavior": "allow", "updatedInput": approval.params.get("input") or {}}
        else:
            body = {"behavior": "deny", "message": DENY_MESSAGE}
        self.out.append(
            {
                "type": "control_response",
                "response": {"subtype": "success", "request_id": approval.id, "response": body},
            }
        )

    def _send_prompt(self, text: str) -> None:
        if not self.turn_open:
            self.note("turn_started")
        self.open_turns += 1
        self.turn_open = True
        self.out.append(
            {
                "type": "user",
                "message": {"role": "user", "content": text},
                "parent_tool_use_id": None,
                "session_id": self.resume_id or "default",
            }
        )

    def interrupt(self) -> None:
        if not self.turn_open:
            raise Conflict("no turn is running", hint="the agent is idle")
        self._control("interrupt")
        self.note("notice", "interrupt requested")
