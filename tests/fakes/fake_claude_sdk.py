"""A fake ``claude`` speaking stream-json (agent-protocols §2 and §6.4), driven by a scenario file.

Faithful to what claude 2.1.330 does: NDJSON both ways; ``system/init`` at the start of *every* turn;
a ``result`` ending every turn, where ``is_error`` can be true with ``subtype: "success"``;
``can_use_tool`` control requests with UUID ids (needs ``--permission-prompt-tool stdio``), answered
``allow`` (with ``updatedInput``) or ``deny`` (with a message); ``control_cancel_request`` when it
withdraws a question; interrupt → success response, then ``[Request interrupted by user]``, then
``result{subtype: error_during_execution, is_error: true}``; an unknown control subtype → error
response; ``--include-partial-messages`` adds ``stream_event`` text deltas; stdin EOF → exit 0, or 1
when the last result was an error. Sessions persist under ``$HOME/.fake-claude``; ``--resume`` of an
unknown id fails like the real one (stderr, exit 1).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import scenario

OUT_LOCK = threading.Lock()


def write(message: dict[str, Any]) -> None:
    with OUT_LOCK:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else ""


class Interrupted(Exception):
    pass


class Cli:
    def __init__(self, args: list[str], script: dict[str, Any]) -> None:
        self.script = script
        self.partial = "--include-partial-messages" in args
        self.stdio_permissions = option(args, "--permission-prompt-tool") == "stdio"
        self.mode = option(args, "--permission-mode") or "default"
        self.model = option(args, "--model") or "claude-fake-1"
        self.inbox = scenario.Inbox("Error parsing stdin line as JSON", lambda: 1 if self.last_error else 0)
        self.answers: dict[str, dict[str, Any]] = {}
        self.in_turn = False
        self.queued: list[dict[str, Any]] = []
        self.last_error = False
        self.turns = 0
        self.store = scenario.state_dir("fake-claude")
        resume = option(args, "--resume")
        if resume and not (self.store / f"{resume}.json").exists():
            scenario.stderr(f"No conversation found with session ID: {resume}")
            sys.exit(1)
        self.session_id = resume or str(uuid.uuid4())

    def pump(self, timeout: float) -> None:
        self.inbox.during(timeout, self.handle)

    def base(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "uuid": str(uuid.uuid4())}

    # -- dispatch ----------------------------------------------------------------------------------

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "control_response":
            response = message.get("response") or {}
            self.answers[str(response.get("request_id"))] = response
        elif kind == "control_request":
            self.control(str(message.get("request_id", "")), message.get("request") or {})
        elif kind == "user":
            if self.in_turn:
                self.queued.append(message)  # runs after the current turn
                return
            self.turn(message)

    def control(self, rid: str, request: dict[str, Any]) -> None:
        subtype = request.get("subtype")
        ok = {"type": "control_response", "response": {"subtype": "success", "request_id": rid}}
        if subtype == "initialize":
            ok["response"]["response"] = {
                "commands": [],
                "agents": [],
                "output_style": "default",
                "models": [{"value": self.model}],
                "account": {"tokenSource": "none", "apiKeySource": "ANTHROPIC_API_KEY"},
                "pid": os.getpid(),
                "claude_code_version": "2.1.330",
                "current_permission_mode": self.mode,
            }
            write(ok)
        elif subtype == "interrupt":
            write(ok)
            if self.in_turn:
                raise Interrupted
        elif subtype == "set_permission_mode":
            self.mode = str(request.get("mode", self.mode))
            write(ok)
        else:
            write(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "error",
                        "request_id": rid,
                        "error": f"Unsupported control request subtype: {subtype}",
                    },
                }
            )

    # -- turns -------------------------------------------------------------------------------------

    def turn(self, message: dict[str, Any]) -> None:
        content = (message.get("message") or {}).get("content", "")
        prompt = (
            content
            if isinstance(content, str)
            else " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
        )
        self.in_turn, started = True, time.monotonic()
        self.turns += 1
        (self.store / f"{self.session_id}.json").write_text(json.dumps({"turns": self.turns}))
        write(
            {
                "type": "system",
                "subtype": "init",
                "cwd": os.getcwd(),
                "tools": ["Bash", "Edit", "Read"],
                "mcp_servers": [],
                "model": self.model,
                "permissionMode": self.mode,
                "apiKeySource": "ANTHROPIC_API_KEY",
                "claude_code_version": "2.1.330",
                **self.base(),
            }
        )
        text, failure = "", ""
        try:
            for step in scenario.steps_for(self.script, prompt):
                if "fail" in step:
                    failure = step["fail"]
                    break
                text = self.step(step) or text
        except Interrupted:
            write(
                {
                    "type": "user",
                    "message": {
                        "role": "user",
                        "content": [{"type": "text", "text": "[Request interrupted by user]"}],
                    },
                    "parent_tool_use_id": None,
                    **self.base(),
                }
            )
            self.finish(started, "error_during_execution", True, "", "aborted_streaming")
            return
        if failure:
            write(
                {
                    "type": "assistant",
                    "message": self.message([{"type": "text", "text": failure}]),
                    "parent_tool_use_id": None,
                    "error": "invalid_request",
                    **self.base(),
                }
            )
            self.finish(started, "success", True, failure, "completed")  # is_error with subtype success
            return
        self.finish(started, "success", False, text, "completed")

    def finish(self, started: float, subtype: str, is_error: bool, text: str, reason: str) -> None:
        self.in_turn, self.last_error = False, is_error
        result = {
            "type": "result",
            "subtype": subtype,
            "is_error": is_error,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "duration_api_ms": 0,
            "num_turns": 1,
            "stop_reason": "end_turn",
            "terminal_reason": reason,
            "total_cost_usd": 0,
            "permission_denials": [],
            "emittedAtNs": time.time_ns(),
            **self.base(),
        }
        if subtype == "success":
            result["result"] = text
        scenario.stamp()
        write(result)

    def message(self, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": f"msg_{uuid.uuid4().hex[:12]}",
            "model": self.model,
            "role": "assistant",
            "content": content,
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }

    def step(self, step: dict[str, Any]) -> str:
        if "say" in step:
            text = scenario.text_of(step)
            if self.partial:
                write(
                    {
                        "type": "stream_event",
                        "event": {
                            "type": "content_block_start",
                            "index": 0,
                            "content_block": {"type": "text", "text": ""},
                        },
                        "parent_tool_use_id": None,
                        **self.base(),
                    }
                )
                for piece in scenario.chunks(text, step.get("chunks", 1)):
                    write(
                        {
                            "type": "stream_event",
                            "event": {
                                "type": "content_block_delta",
                                "index": 0,
                                "delta": {"type": "text_delta", "text": piece},
                            },
                            "parent_tool_use_id": None,
                            **self.base(),
                        }
                    )
                write(
                    {
                        "type": "stream_event",
                        "event": {"type": "content_block_stop", "index": 0},
                        "parent_tool_use_id": None,
                        **self.base(),
                    }
                )
            write(
                {
                    "type": "assistant",
                    "message": self.message([{"type": "text", "text": text}]),
                    "parent_tool_use_id": None,
                    **self.base(),
                }
            )
            self.pump(0)
            return text
        if "run" in step:
            self.run(step)
        elif "stall" in step or "sleep" in step:
            self.pump(float(step.get("stall") or step.get("sleep") or 0))
        elif "raw" in step:
            with OUT_LOCK:
                sys.stdout.write(step["raw"] + "\n")
                sys.stdout.flush()
        elif "stderr" in step:
            scenario.stderr(step["stderr"])
        elif "retry_error" in step:
            write(
                {
                    "type": "system",
                    "subtype": "api_retry",
                    "attempt": 2,
                    "max_retries": 10,
                    "retry_delay_ms": 500,
                    "error_status": None,
                    "error": step["retry_error"],
                    **self.base(),
                }
            )
        elif "exit" in step:
            sys.stdout.flush()
            os._exit(int(step["exit"]))
        elif step.get("hang"):
            scenario.hang()
        return ""

    def run(self, step: dict[str, Any]) -> None:
        tool_id = f"toolu_{uuid.uuid4().hex[:12]}"
        tool_input = {"command": step["run"], "description": "Run a command"}
        write(
            {
                "type": "assistant",
                "message": self.message(
                    [{"type": "tool_use", "id": tool_id, "name": "Bash", "input": tool_input}]
                ),
                "parent_tool_use_id": None,
                **self.base(),
            }
        )
        allowed, why = True, ""
        if step.get("approval") and self.mode not in ("bypassPermissions", "acceptEdits"):
            if not self.stdio_permissions:
                allowed, why = (
                    False,
                    "Claude requested permissions to use Bash, but you haven't granted it yet.",
                )
            else:
                allowed, why, tool_input = self.ask(tool_id, tool_input, float(step.get("cancel_after") or 0))
        if allowed:
            done = subprocess.run(
                ["/bin/sh", "-c", str(tool_input["command"])], capture_output=True, text=True
            )
            output, is_error = (
                (done.stdout + done.stderr).strip() or "(Bash completed with no output)",
                done.returncode != 0,
            )
        else:
            output, is_error = why, True
        write(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": tool_id,
                            "type": "tool_result",
                            "content": output,
                            "is_error": is_error,
                        }
                    ],
                },
                "parent_tool_use_id": None,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                **self.base(),
            }
        )

    def ask(
        self, tool_id: str, tool_input: dict[str, Any], cancel_after: float
    ) -> tuple[bool, str, dict[str, Any]]:
        rid = str(uuid.uuid4())
        write(
            {
                "type": "control_request",
                "request_id": rid,
                "request": {
                    "subtype": "can_use_tool",
                    "tool_name": "Bash",
                    "display_name": "Bash",
                    "input": tool_input,
                    "description": tool_input["description"],
                    "permission_suggestions": [],
                    "tool_use_id": tool_id,
                },
            }
        )
        deadline = time.monotonic() + (cancel_after or 3600)
        while rid not in self.answers and time.monotonic() < deadline:
            self.pump(min(0.05, max(0.0, deadline - time.monotonic())))
        if rid not in self.answers:
            write({"type": "control_cancel_request", "request_id": rid})
            return False, "The permission request was cancelled.", tool_input
        answer = self.answers.pop(rid)
        body = answer.get("response") or {}
        if answer.get("subtype") == "success" and body.get("behavior") == "allow":
            return True, "", body.get("updatedInput") or tool_input
        return False, str(body.get("message") or "Permission denied"), tool_input

    def serve(self) -> None:
        self.inbox.start()
        for step in self.script.get("on_start", []):
            self.step(step)
        while True:
            message = self.inbox.get()
            with contextlib.suppress(Interrupted):  # an interrupt that raced the turn's end
                self.handle(message)
            while self.queued:
                self.turn(self.queued.pop(0))


def main() -> None:
    args = sys.argv[1:]
    if "--version" in args:
        print("2.1.330 (Claude Code)")
        return
    if option(args, "--output-format") != "stream-json" or option(args, "--input-format") != "stream-json":
        scenario.stderr(
            "fake claude: only --output-format stream-json --input-format stream-json is implemented"
        )
        sys.exit(1)
    if "--verbose" not in args:
        scenario.stderr("Error: When using --print, --output-format=stream-json requires --verbose")
        sys.exit(1)
    Cli(args, scenario.load(args)).serve()


if __name__ == "__main__":
    main()
