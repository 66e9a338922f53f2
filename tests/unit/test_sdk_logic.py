"""The sdk transports, the transcript and the line framing, without processes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasmos.supervisor.errors import Conflict
from kasmos.workers.session.claude import ClaudeTransport
from kasmos.workers.session.codex import CodexTransport
from kasmos.workers.session.launch import effective_mode
from kasmos.workers.session.transcript import Transcript
from kasmos.workers.session.transport import LineReader, Note, decode


def kinds(notes: list[Note]) -> list[str]:
    return [n.kind for n in notes]


def codex_ready(**kwargs: Any) -> CodexTransport:
    t = CodexTransport("/w", False, **kwargs)
    t.begin()
    out, _ = t.take()
    assert out[0]["method"] == "initialize" and out[0]["id"] == 0 and "jsonrpc" not in out[0]
    t.receive({"id": 0, "result": {"userAgent": "x"}, "emittedAtMs": 1})
    assert t.out[0] == {"method": "initialized"}  # then thread/start or thread/resume
    return t


def test_codex_handshake_start_and_resume() -> None:
    t = codex_ready()
    thread_start = t.out[-1]
    assert thread_start["method"] == "thread/start"
    assert thread_start["params"] == {
        "cwd": "/w",
        "approvalPolicy": "on-request",
        "sandbox": "workspace-write",
    }
    assert t.status == "starting"
    t.prompt("early")  # queued until the thread exists
    t.take()
    t.receive({"id": thread_start["id"], "result": {"thread": {"id": "th-1"}}})
    out, notes = t.take()
    assert t.resume_id == "th-1" and t.status == "busy"
    assert [m["method"] for m in out] == ["turn/start"] and out[0]["params"]["input"][0]["text"] == "early"
    assert kinds(notes) == ["session", "prompt"]

    resumed = codex_ready(resume_id="th-1")
    request = resumed.out[-1]
    assert request["method"] == "thread/resume" and request["params"]["threadId"] == "th-1"
    resumed.take()
    resumed.receive({"id": request["id"], "error": {"code": -32600, "message": "thread not found: th-1"}})
    out, notes = resumed.take()
    assert out[0]["method"] == "thread/start" and "could not resume thread th-1" in notes[0].text


def test_codex_turn_order_quirk_steer_and_interrupt() -> None:
    t = codex_ready(model="m")
    assert t.out[-1]["params"]["model"] == "m"
    t.receive({"id": t.out[-1]["id"], "result": {"thread": {"id": "th"}}})
    t.take()
    t.prompt("one")
    start = t.take()[0][0]
    t.receive({"method": "turn/started", "params": {"turn": {"id": "turn-1"}}})  # before the response
    t.receive({"id": start["id"], "result": {"turn": {"id": "turn-1"}}})
    t.prompt("more")
    steer = t.take()[0][0]
    assert steer["method"] == "turn/steer" and steer["params"]["expectedTurnId"] == "turn-1"
    t.receive({"id": steer["id"], "error": {"code": -32600, "message": "no active turn to steer"}})
    assert t.take()[0][0]["method"] == "turn/start"  # the turn had ended: a new one
    t.interrupt()
    assert t.take()[0][0] == {
        "id": 5,
        "method": "turn/interrupt",
        "params": {"threadId": "th", "turnId": "turn-1"},
    }
    t.receive({"method": "turn/completed", "params": {"turn": {"id": "turn-1", "status": "interrupted"}}})
    _, notes = t.take()
    assert notes[-1].kind == "turn_done" and notes[-1].data["status"] == "interrupted"
    assert t.status == "idle"
    with pytest.raises(Conflict):
        t.interrupt()


def test_codex_approvals_separate_id_space_and_auto_answer() -> None:
    t = codex_ready()
    t.receive({"id": 1, "result": {"thread": {"id": "th"}}})
    t.prompt("go")
    t.take()
    t.receive({"method": "turn/started", "params": {"turn": {"id": "u"}}})
    # the server's request id 0 collides with our own id 0: it must not be taken for a reply
    t.receive({"id": 0, "method": "item/commandExecution/requestApproval", "params": {"command": "rm x"}})
    assert t.status == "waiting-for-approval" and t.pending  # our turn/start is still pending
    t.answer(False)
    assert t.take()[0] == [{"id": 0, "result": {"decision": "decline"}}]
    t.receive(
        {"id": 1, "method": "item/permissions/requestApproval", "params": {"permissions": {"network": {}}}}
    )
    t.answer(True)
    assert t.take()[0] == [{"id": 1, "result": {"permissions": {"network": {}}, "scope": "turn"}}]
    t.receive({"id": 2, "method": "item/fileChange/requestApproval", "params": {}})
    t.receive({"method": "serverRequest/resolved", "params": {"requestId": 2}})  # withdrawn by the server
    assert t.status == "busy" and "withdrawn" in t.take()[1][-1].text
    t.receive({"id": 3, "method": "mcpServer/elicitation/request", "params": {}})
    assert t.take()[0][0]["error"]["code"] == -32601

    auto = CodexTransport("/w", True)
    auto.begin()
    auto.receive({"id": 0, "result": {}})
    assert auto.out[-1]["params"]["approvalPolicy"] == "never"
    assert auto.out[-1]["params"]["sandbox"] == "danger-full-access"
    auto.take()
    auto.receive({"id": 7, "method": "item/fileChange/requestApproval", "params": {}})
    out, notes = auto.take()
    assert out == [{"id": 7, "result": {"decision": "accept"}}] and notes[0].data["by"] == "policy"


def test_codex_errors_and_garbage_do_not_break_it() -> None:
    t = codex_ready()
    for message in (
        {},
        {"id": "x"},
        {"id": 99, "result": {}},
        {"method": 3},
        {"method": "unknown/x", "params": 5},
    ):
        t.receive(message)  # ignored
    t.receive({"method": "error", "params": {"error": {"message": "Reconnecting... 2/5"}, "willRetry": True}})
    note = t.take()[1][-1]
    assert note.kind == "error" and note.data["will_retry"] is True
    t.receive({"id": 1, "error": {"code": -32600, "message": "boom"}})  # thread/start refused
    assert t.take()[1][-1].kind == "fatal"


def claude_ready(**kwargs: Any) -> ClaudeTransport:
    t = ClaudeTransport("/w", False, **kwargs)
    t.begin()
    init = t.take()[0][0]
    assert init["type"] == "control_request" and init["request"]["subtype"] == "initialize"
    t.receive(
        {"type": "control_response", "response": {"subtype": "success", "request_id": init["request_id"]}}
    )
    return t


def test_claude_command_line() -> None:
    argv = ClaudeTransport("/w", True, model="opus", resume_id="s-1").argv(["claude"])
    assert argv[:8] == [
        "claude",
        "--output-format",
        "stream-json",
        "--input-format",
        "stream-json",
        "--verbose",
        "--permission-prompt-tool",
        "stdio",
    ]
    assert argv[-6:] == ["--model", "opus", "--permission-mode", "bypassPermissions", "--resume", "s-1"]
    assert CodexTransport("/w", False).argv(["codex"]) == ["codex", "app-server"]
    assert CodexTransport("/w", False).argv(["codex", "app-server", "-c", "x=1"]) == [
        "codex",
        "app-server",
        "-c",
        "x=1",
    ]


def test_claude_turns_is_error_with_success_subtype_and_interrupt() -> None:
    t = claude_ready()
    t.prompt("hi")
    out, notes = t.take()
    assert out[0]["type"] == "user" and out[0]["message"] == {"role": "user", "content": "hi"}
    t.receive({"type": "system", "subtype": "init", "session_id": "s-9"})
    assert t.resume_id == "s-9" and t.status == "busy"
    t.receive(
        {
            "type": "stream_event",
            "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Not logged"}},
        }
    )
    t.receive(
        {
            "type": "assistant",
            "message": {"content": [{"type": "text", "text": "Not logged"}]},
            "error": "authentication_failed",
        }
    )
    t.receive({"type": "result", "subtype": "success", "is_error": True, "result": "Not logged in"})
    _, notes = t.take()
    done = notes[-1]
    assert done.kind == "turn_done" and done.data["status"] == "failed" and done.data["is_error"] is True
    assert "error" in kinds(notes) and t.status == "idle"
    t.prompt("long one")
    t.interrupt()
    out, _ = t.take()
    assert out[-1]["request"] == {"subtype": "interrupt"}
    t.receive(
        {"type": "user", "message": {"content": [{"type": "text", "text": "[Request interrupted by user]"}]}}
    )
    t.receive(
        {
            "type": "result",
            "subtype": "error_during_execution",
            "is_error": True,
            "terminal_reason": "aborted_streaming",
        }
    )
    assert t.take()[1][-1].data["status"] == "interrupted"


def test_claude_permissions_allow_deny_cancel_and_unknown_requests() -> None:
    t = claude_ready()
    t.prompt("x")
    t.take()
    ask = {
        "type": "control_request",
        "request_id": "5f0c-uuid",
        "request": {"subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "touch a"}},
    }
    t.receive(ask)
    assert t.status == "waiting-for-approval"
    t.answer(True)
    reply = t.take()[0][0]["response"]
    assert reply == {
        "subtype": "success",
        "request_id": "5f0c-uuid",
        "response": {"behavior": "allow", "updatedInput": {"command": "touch a"}},
    }
    t.receive(ask)
    t.answer(False)
    body = t.take()[0][0]["response"]["response"]
    assert body["behavior"] == "deny" and body["message"]
    t.receive(ask)
    t.receive({"type": "control_cancel_request", "request_id": "5f0c-uuid"})
    assert t.status == "busy"
    with pytest.raises(Conflict):
        t.answer(True)
    t.receive({"type": "control_request", "request_id": "h1", "request": {"subtype": "hook_callback"}})
    assert t.take()[0][0]["response"]["subtype"] == "error"


def test_line_reader_and_decode() -> None:
    reader = LineReader(limit=10)
    assert reader.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert reader.feed(b":2}\n") == [b'{"b":2}']
    assert reader.feed(b"x" * 20) == [] and reader.dropped == 1
    assert reader.feed(b"yy\nok\n") == [b"ok"]  # the rest of the overlong line is skipped too
    assert decode(b"[SandboxDebug] x") == (None, "")
    assert decode(b"   ") == (None, "")
    message, problem = decode(b"{broken")
    assert message is None and "malformed line" in problem
    assert decode(b"{}")[0] == {}


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_line_reader_never_loses_short_lines(noise: bytes, cut: int) -> None:
    data = noise.replace(b"\n", b"") + b"\n" + b'{"x":1}\n'
    reader = LineReader(limit=1000)
    lines = reader.feed(data[:cut]) + reader.feed(data[cut:])
    assert lines[-1] == b'{"x":1}'


def test_transcript_rendering_limits_and_capture(tmp_path) -> None:
    path = tmp_path / "t.transcript"
    t = Transcript("me", max_bytes=0, max_turns=2, path=path)
    t.add(Note("prompt", "first"))
    t.add(Note("text", "Hel", {"item": "a"}))
    t.add(Note("text", "lo\nworld", {"item": "a"}))
    t.add(Note("text_done", "Hello\nworld", {"item": "a"}))
    t.add(Note("tool", "$ ls"))
    t.add(Note("tool_result", "a\nb", {"is_error": False}))
    t.add(Note("approval", "run rm -rf /"))
    t.add(Note("approval_done", "denied"))
    t.add(Note("turn_done", "", {"status": "completed", "duration_ms": 1500}))
    assert t.lines() == [
        "› first",
        "Hello",
        "world",
        "⚙ $ ls",
        "↳ a",
        "  b",
        "? approval needed: run rm -rf / — kas instance approve|deny me",
        "✗ denied",
        "■ turn completed (1.5 s)",
    ]
    t.add(Note("prompt", "second"))
    t.add(Note("prompt", "third"))  # max 2 turns: the first goes
    assert t.lines() == ["› second", "› third"]
    assert path.read_text().splitlines()[0] == "› first"  # the file keeps everything
    again = Transcript("me", 0, 0, path)  # a relaunched worker starts from the file
    assert again.lines()[-1] == "› third"
    small = Transcript("me", max_bytes=30, max_turns=0)
    for i in range(10):
        small.add(Note("prompt", f"line {i}"))
    assert small.size <= 30 and small.lines()[-1] == "› line 9"
    lines = Transcript("me", 0, 0)
    for i in range(60):
        lines.add(Note("notice", f"n{i}"))
    assert lines.capture().splitlines()[0] == "~ n10"  # the "screen": the last 50 lines
    assert lines.capture("-", "0") == "~ n0\n~ n1\n~ n2\n~ n3\n~ n4\n~ n5\n~ n6\n~ n7\n~ n8\n~ n9\n~ n10\n"
    assert lines.capture("-2", "-1") == "~ n8\n~ n9\n"


def test_effective_mode() -> None:
    assert effective_mode("claude", "sdk") == "sdk"
    assert effective_mode("/opt/bin/codex --foo", "headless") == "sdk"
    assert effective_mode("opencode", "sdk") == "tmux"  # silently
    assert effective_mode("claude", "tmux") == "tmux"
