"""Loopback mocks of the model APIs (agent-protocols §6.2–6.3), so the real codex and claude run
offline in the contract tests. Both answer the same prompt language as the fakes' default scenario:

- ``run: <command>``: a shell tool call (codex ``exec_command`` asking for escalation, so it needs an
  approval under ``on-request``; claude ``Bash``), then ``ran it`` once the tool result comes back;
- ``exec: <command>``: the same without asking codex for escalation (what runs under
  ``approvalPolicy: never``, which refuses escalations);
- ``stall``: the stream starts and then stalls (until the client goes away), for interrupts;
- anything else: ``Hello from the fake model. You said: <prompt>``, streamed in three deltas.

Requests without tools (claude's side queries) get a short plain answer.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STALL_S = 60.0


def reply_for(prompt: str, tool_done: bool) -> tuple[str, str]:
    """("text", text) | ("tool" / "exec", command) | ("stall", "")."""
    if tool_done:
        return "text", "ran it"
    if prompt.startswith("run: "):
        return "tool", prompt[5:]
    if prompt.startswith("exec: "):
        return "exec", prompt[6:]
    if prompt.strip() == "stall":
        return "stall", ""
    return "text", f"Hello from the fake model. You said: {prompt}"


def pieces(text: str) -> list[str]:
    size = max(1, -(-len(text) // 3))
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MockServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._plain(404, {"error": "not found"})

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        self.server.requests.append((self.path, body))
        handler = self.server.routes.get(self.path.split("?")[0])
        if handler is None:
            self._plain(404, {"error": {"type": "not_found", "message": self.path}})
            return
        handler(self, body)

    def _plain(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def sse(self, events: list[dict[str, Any]], stall: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for event in events:
                self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
            if stall:
                deadline = time.monotonic() + STALL_S
                while time.monotonic() < deadline and not self.server.closing:
                    time.sleep(0.1)
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True


class MockServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.routes: dict[str, Any] = {}
        self.closing = False
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> MockServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.closing = True
        self.shutdown()
        self.server_close()


# -- OpenAI Responses API (codex) ---------------------------------------------------------------------


def _responses_prompt(body: dict[str, Any]) -> tuple[str, bool]:
    prompt, tool_done = "", False
    for item in body.get("input") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call_output":
            tool_done = True
        elif item.get("role") == "user":
            texts = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
            text = "\n".join(t for t in texts if t and not t.lstrip().startswith("<"))
            if text:
                prompt, tool_done = text, False
    return prompt, tool_done


def responses(handler: _Handler, body: dict[str, Any]) -> None:
    prompt, tool_done = _responses_prompt(body)
    kind, value = reply_for(prompt, tool_done)
    n = len(handler.server.requests)
    created = {"type": "response.created", "response": {"id": f"resp_{n}"}}
    usage = {
        "input_tokens": 1,
        "input_tokens_details": None,
        "output_tokens": 1,
        "output_tokens_details": None,
        "total_tokens": 2,
    }
    completed = {"type": "response.completed", "response": {"id": f"resp_{n}", "usage": usage}}
    if kind == "stall":
        handler.sse([created], stall=True)
        return
    if kind == "exec":
        arguments = json.dumps({"cmd": value, "yield_time_ms": 1000})
        item = {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": f"call-{n}",
            "name": "exec_command",
            "arguments": arguments,
        }
        handler.sse(
            [created, {"type": "response.output_item.done", "output_index": 0, "item": item}, completed]
        )
        return
    if kind == "tool":
        arguments = json.dumps(
            {
                "cmd": value,
                "yield_time_ms": 1000,
                "sandbox_permissions": "require_escalated",
                "justification": "the contract test wants to run a command",
            }
        )
        item = {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": f"call-{n}",
            "name": "exec_command",
            "arguments": arguments,
        }
        handler.sse(
            [created, {"type": "response.output_item.done", "output_index": 0, "item": item}, completed]
        )
        return
    msg = f"msg_{n}"
    events: list[dict[str, Any]] = [
        created,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "message", "role": "assistant", "id": msg, "content": []},
        },
    ]
    for piece in pieces(value):
        events.append(
            {
                "type": "response.output_text.delta",
                "item_id": msg,
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
            }
        )
    events.append(
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "message",
                "role": "assistant",
                "id": msg,
                "content": [{"type": "output_text", "text": value}],
            },
        }
    )
    events.append(completed)
    handler.sse(events)


def responses_server() -> MockServer:
    server = MockServer()
    server.routes["/v1/responses"] = responses
    return server


# -- Anthropic Messages API (claude) ------------------------------------------------------------------


def _messages_prompt(body: dict[str, Any]) -> tuple[str, bool]:
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content")
    if isinstance(content, str):
        return content, False
    blocks = [b for b in content or [] if isinstance(b, dict)]
    if any(b.get("type") == "tool_result" for b in blocks):
        return "", True
    texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
    return "\n".join(t for t in texts if t and not t.lstrip().startswith("<")), False


def messages(handler: _Handler, body: dict[str, Any]) -> None:
    n = len(handler.server.requests)
    model = body.get("model", "claude-sonnet-4-5")
    start = {
        "type": "message_start",
        "message": {
            "id": f"msg_mock_{n}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
    }
    if not body.get("tools"):
        kind, value = "text", "ok"
    else:
        kind, value = reply_for(*_messages_prompt(body))
    if kind == "stall":
        handler.sse([start], stall=True)
        return
    if kind in ("tool", "exec"):
        tool_input = json.dumps({"command": value, "description": "Run a command"})
        blocks: list[dict[str, Any]] = [
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": f"toolu_mock_{n}", "name": "Bash", "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": tool_input},
            },
            {"type": "content_block_stop", "index": 0},
        ]
        stop = "tool_use"
    else:
        blocks = [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
        blocks += [
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
            for p in pieces(value)
        ]
        blocks.append({"type": "content_block_stop", "index": 0})
        stop = "end_turn"
    end = [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]
    handler.sse([start, *blocks, *end])


def messages_server() -> MockServer:
    server = MockServer()
    server.routes["/v1/messages"] = messages
    return server
