"""A fake ``codex app-server`` (protocol v2, agent-protocols §1 and §6.4), driven by a scenario file.

Faithful to what the real 0.169.0 does on the wire: newline-delimited JSON-RPC without a ``jsonrpc``
field, an extra ``emittedAtMs`` on notifications, -32600 for "Not initialized" / "Already
initialized" / unknown methods / unknown threads / "no active turn to interrupt", ``turn/started``
sent *before* the ``turn/start`` response, server-request ids counting from 0 (a separate id space),
``thread/status/changed`` with ``waitingOnApproval``, ``serverRequest/resolved`` after every answer,
``error`` with ``willRetry``, an escalation refused outright under ``approvalPolicy: never``,
interrupt → ``turn/completed{status: interrupted}``, unparseable lines logged to stderr and dropped,
and stdin EOF → exit 0 (even mid-turn). Threads persist under ``$HOME/.fake-codex`` so
``thread/resume`` finds them. Only ``app-server`` is implemented.
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
    if "method" in message and "id" not in message:
        message = {**message, "emittedAtMs": int(time.time() * 1000), "emittedAtNs": time.time_ns()}
    with OUT_LOCK:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def notify(method: str, params: dict[str, Any]) -> None:
    write({"method": method, "params": params})


def error(rid: Any, message: str, code: int = -32600) -> None:
    write({"error": {"code": code, "message": message}, "id": rid})


class Interrupted(Exception):
    pass


class Server:
    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        self.inbox = scenario.Inbox("ERROR codex_app_server: Failed to deserialize JSONRPCMessage", lambda: 0)
        self.initialized = False
        self.thread_id = ""
        self.cwd = os.getcwd()
        self.policy = "on-request"
        self.turn_id = ""
        self.next_request = 0
        self.answers: dict[int, dict[str, Any]] = {}
        self.steered: list[str] = []
        self.store = scenario.state_dir("fake-codex") / "threads.json"

    # -- input -------------------------------------------------------------------------------------

    def pump(self, timeout: float) -> None:
        """Handle what arrives during a turn (interrupt, steer, answers) for up to ``timeout`` s."""
        self.inbox.during(timeout, lambda message: self.handle(message, in_turn=True))

    # -- dispatch ----------------------------------------------------------------------------------

    def handle(self, message: dict[str, Any], in_turn: bool = False) -> None:
        method, rid, params = message.get("method"), message.get("id"), message.get("params") or {}
        if method is None:  # a response to one of our requests
            if isinstance(rid, int):
                self.answers[rid] = message
            return
        if rid is None:  # a notification
            return
        if method == "initialize":
            if self.initialized:
                return error(rid, "Already initialized")
            self.initialized = True
            info = params.get("clientInfo", {})
            write(
                {
                    "id": rid,
                    "result": {
                        "userAgent": f"{info.get('name', 'client')}/0.169.0 (fake; x86_64)",
                        "codexHome": str(self.store.parent),
                        "platformFamily": "unix",
                        "platformOs": "linux",
                    },
                }
            )
            notify("configWarning", {"summary": "Codex could not find bubblewrap on PATH.", "details": None})
            return
        if not self.initialized:
            return error(rid, "Not initialized")
        handler = {
            "thread/start": self.thread_start,
            "thread/resume": self.thread_resume,
            "turn/start": self.turn_start,
            "turn/steer": self.turn_steer,
            "turn/interrupt": self.turn_interrupt,
            "account/read": lambda rid, p: write(
                {"id": rid, "result": {"account": None, "requiresOpenaiAuth": True}}
            ),
        }.get(method)
        if handler is None:
            return error(rid, f"Invalid request: unknown variant `{method}`, expected one of `initialize`, …")
        if method == "turn/start" and in_turn:
            return error(rid, "a turn is already running; use turn/steer")
        handler(rid, params)

    def _threads(self) -> dict[str, Any]:
        return json.loads(self.store.read_text()) if self.store.exists() else {}

    def _thread(self, turns: int) -> dict[str, Any]:
        return {
            "id": self.thread_id,
            "sessionId": self.thread_id,
            "status": {"type": "idle"},
            "cwd": self.cwd,
            "model": "fake-model",
            "modelProvider": "fake",
            "turns": [{} for _ in range(turns)],
            "cliVersion": "0.169.0",
            "source": "vscode",
        }

    def _open(self, rid: Any, params: dict[str, Any], turns: int) -> None:
        self.cwd = params.get("cwd") or self.cwd
        self.policy = params.get("approvalPolicy") or "on-request"
        sandbox = params.get("sandbox") or "workspace-write"
        write(
            {
                "id": rid,
                "result": {
                    "thread": self._thread(turns),
                    "model": "fake-model",
                    "modelProvider": "fake",
                    "cwd": self.cwd,
                    "approvalPolicy": self.policy,
                    "approvalsReviewer": "user",
                    "sandbox": {"type": sandbox},
                },
            }
        )
        notify("thread/started", {"thread": self._thread(turns)})

    def thread_start(self, rid: Any, params: dict[str, Any]) -> None:
        self.thread_id = str(uuid.uuid4())
        threads = self._threads()
        threads[self.thread_id] = {"turns": 0}
        self.store.write_text(json.dumps(threads))
        self._open(rid, params, 0)

    def thread_resume(self, rid: Any, params: dict[str, Any]) -> None:
        threads = self._threads()
        wanted = str(params.get("threadId", ""))
        if wanted not in threads:
            return error(rid, f"thread not found: {wanted}")
        self.thread_id = wanted
        self._open(rid, params, threads[wanted]["turns"])

    def turn_steer(self, rid: Any, params: dict[str, Any]) -> None:
        if not self.turn_id or params.get("expectedTurnId") != self.turn_id:
            return error(rid, "no active turn to steer")
        self.steered.append(_text(params))
        write({"id": rid, "result": {"turnId": self.turn_id}})

    def turn_interrupt(self, rid: Any, params: dict[str, Any]) -> None:
        if not self.turn_id or params.get("turnId") != self.turn_id:
            return error(rid, "no active turn to interrupt")
        write({"id": rid, "result": {}})
        raise Interrupted

    # -- turns -------------------------------------------------------------------------------------

    def turn_start(self, rid: Any, params: dict[str, Any]) -> None:
        if params.get("threadId") != self.thread_id:
            return error(rid, f"thread not found: {params.get('threadId')}")
        self.turn_id = str(uuid.uuid4())
        self.policy = params.get("approvalPolicy") or self.policy
        turn = {"id": self.turn_id, "status": "inProgress", "items": [], "error": None}
        base = {"threadId": self.thread_id, "turnId": self.turn_id}
        notify("turn/started", {"threadId": self.thread_id, "turn": turn})  # before the response (observed)
        write({"id": rid, "result": {"turn": turn}})
        notify(
            "thread/status/changed",
            {"threadId": self.thread_id, "status": {"type": "active", "activeFlags": []}},
        )
        prompt = _text(params)
        notify(
            "item/completed",
            {
                **base,
                "item": {
                    "type": "userMessage",
                    "id": str(uuid.uuid4()),
                    "content": [{"type": "text", "text": prompt}],
                },
            },
        )
        started, status, failure = time.monotonic(), "completed", None
        try:
            for step in scenario.steps_for(self.script, prompt):
                failure = self.step(step, base)
                if failure:
                    status = "failed"
                    break
            for text in self.steered:
                self.say({"say": f"(steered) {text}"}, base)
        except Interrupted:
            status = "interrupted"
        self.steered = []
        threads = self._threads()
        threads.setdefault(self.thread_id, {"turns": 0})["turns"] += 1
        self.store.write_text(json.dumps(threads))
        notify("thread/status/changed", {"threadId": self.thread_id, "status": {"type": "idle"}})
        scenario.stamp()
        notify(
            "turn/completed",
            {
                "threadId": self.thread_id,
                "turn": {
                    "id": self.turn_id,
                    "status": status,
                    "items": [],
                    "error": failure,
                    "durationMs": int((time.monotonic() - started) * 1000),
                },
            },
        )
        self.turn_id = ""

    def step(self, step: dict[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
        if "say" in step:
            self.say(step, base)
        elif "run" in step:
            self.run(step, base)
        elif "stall" in step:
            self.pump(float(step["stall"]))
        elif "sleep" in step:
            self.pump(float(step["sleep"]))
        elif "raw" in step:
            with OUT_LOCK:
                sys.stdout.write(step["raw"] + "\n")
                sys.stdout.flush()
        elif "stderr" in step:
            scenario.stderr(step["stderr"])
        elif "retry_error" in step:
            notify(
                "error",
                {
                    **base,
                    "willRetry": True,
                    "error": {
                        "message": step["retry_error"],
                        "codexErrorInfo": {"responseStreamDisconnected": {}},
                        "additionalDetails": "stream disconnected before completion",
                    },
                },
            )
        elif "fail" in step:
            return {"message": step["fail"], "codexErrorInfo": "other", "additionalDetails": None}
        elif "exit" in step:
            sys.stdout.flush()
            os._exit(int(step["exit"]))
        elif step.get("hang"):
            scenario.hang()
        return None

    def say(self, step: dict[str, Any], base: dict[str, Any]) -> None:
        item = f"msg-{uuid.uuid4().hex[:8]}"
        text = scenario.text_of(step)
        notify("item/started", {**base, "item": {"type": "agentMessage", "id": item, "text": ""}})
        for piece in scenario.chunks(text, step.get("chunks", 1)):
            notify("item/agentMessage/delta", {**base, "itemId": item, "delta": piece})
        notify("item/completed", {**base, "item": {"type": "agentMessage", "id": item, "text": text}})
        self.pump(0)

    def run(self, step: dict[str, Any], base: dict[str, Any]) -> None:
        item, command = f"call-{uuid.uuid4().hex[:8]}", step["run"]
        shown = f"/bin/bash -lc {json.dumps(command)}"
        exec_item = {
            "type": "commandExecution",
            "id": item,
            "command": shown,
            "cwd": self.cwd,
            "status": "inProgress",
            "exitCode": None,
            "aggregatedOutput": None,
        }
        accepted = True
        if step.get("approval") and self.policy == "never":
            return  # as the real one: an escalation under approvalPolicy "never" is refused, no item
        if step.get("approval"):
            accepted = self.ask(item, shown, base, float(step.get("cancel_after") or 0))
        notify("item/started", {**base, "item": exec_item})
        if not accepted:
            notify("item/completed", {**base, "item": {**exec_item, "status": "declined"}})
            return
        done = subprocess.run(["/bin/sh", "-c", command], cwd=self.cwd, capture_output=True, text=True)
        output = done.stdout + done.stderr
        if output:
            notify("item/commandExecution/outputDelta", {**base, "itemId": item, "delta": output})
        notify(
            "item/completed",
            {
                **base,
                "item": {
                    **exec_item,
                    "status": "completed" if done.returncode == 0 else "failed",
                    "exitCode": done.returncode,
                    "aggregatedOutput": output,
                },
            },
        )

    def ask(self, item: str, command: str, base: dict[str, Any], cancel_after: float) -> bool:
        rid, self.next_request = self.next_request, self.next_request + 1
        notify(
            "thread/status/changed",
            {"threadId": self.thread_id, "status": {"type": "active", "activeFlags": ["waitingOnApproval"]}},
        )
        write(
            {
                "method": "item/commandExecution/requestApproval",
                "id": rid,
                "params": {
                    **base,
                    "kind": "command",
                    "itemId": item,
                    "startedAtMs": int(time.time() * 1000),
                    "environmentId": "local",
                    "reason": "the fake wants to run a command",
                    "command": command,
                    "cwd": self.cwd,
                    "availableDecisions": ["accept", "acceptForSession", "decline", "cancel"],
                },
            }
        )
        deadline = time.monotonic() + (cancel_after or 3600)
        try:
            while rid not in self.answers and time.monotonic() < deadline:
                self.pump(min(0.05, max(0.0, deadline - time.monotonic())))
        finally:
            notify("serverRequest/resolved", {"threadId": self.thread_id, "requestId": rid})
            notify(
                "thread/status/changed",
                {"threadId": self.thread_id, "status": {"type": "active", "activeFlags": []}},
            )
        answer = self.answers.pop(rid, {})
        decision = (answer.get("result") or {}).get("decision")
        return decision in ("accept", "acceptForSession") or isinstance(decision, dict)

    def serve(self) -> None:
        self.inbox.start()
        for step in self.script.get("on_start", []):
            self.step(step, {})
        while True:
            message = self.inbox.get()
            with contextlib.suppress(Interrupted):  # an interrupt that raced the turn's end
                self.handle(message)


def _text(params: dict[str, Any]) -> str:
    return "\n".join(
        str(part.get("text", "")) for part in params.get("input") or [] if isinstance(part, dict)
    )


def main() -> None:
    args = sys.argv[1:]
    if "app-server" not in args:
        scenario.stderr("fake codex: only `codex app-server` is implemented")
        sys.exit(2)
    if "--version" in args:
        print("codex-cli 0.169.0")
        return
    Server(scenario.load(args)).serve()


if __name__ == "__main__":
    main()
