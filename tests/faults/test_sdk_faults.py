"""sdk-mode agents that misbehave: not installed, exit at once, hang in the handshake, write garbage,
lose their session worker (kill -9) — clear errors, the instance marked, the other agents undisturbed."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil

from tests.faults.helpers import retry_until
from tests.integration.agents import Events, instance, wait_status


def scenario(tmp_path: Path, name: str, on_start: list[dict]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"on_start": on_start, "rules": [], "default": [{"say": "hi"}]}))
    return str(path)


def start(kas, title: str, program: str, *extra: str):
    return kas("instance", "start", title, "--program", program, "--mode", "sdk", *extra)


def healthy(kas, title: str) -> bool:
    kas("instance", "send", title, f"still fine {title}")
    return retry_until(
        lambda: f"You said: still fine {title}" in kas("instance", "capture", title).stdout, 15
    )


def test_missing_exiting_and_hung_programs(
    kas, daemon, env, repo: Path, fake_codex: str, tmp_path: Path
) -> None:
    (Path(env["XDG_CONFIG_HOME"]) / "kasmos" / "daemon.toml").write_text(
        "[agent_restart]\nmax_restarts = 1\nbackoff_sec = 0.1\n"
    )
    assert kas("daemon", "reload").returncode == 0
    (repo / ".kasmos").mkdir(exist_ok=True)
    (repo / ".kasmos" / "config.toml").write_text("[sdk]\nhandshake_timeout_sec = 1\n")
    assert start(kas, "steady", fake_codex).returncode == 0
    wait_status(kas, "steady", "idle")
    events = Events(daemon.runtime)
    try:
        missing = start(kas, "ghost", str(tmp_path / "nowhere" / "codex"))
        assert missing.returncode == 3 and missing.stderr.count("\n") == 1, missing.stderr
        assert "cannot run" in missing.stderr and "No such file" in missing.stderr
        assert "ghost" not in [r["title"] for r in json.loads(kas("instance", "list", "--json").stdout)]
        assert not [p for p in (repo / ".worktrees").iterdir() if p.name.startswith("ghost")]

        bad = scenario(
            tmp_path, "bad", [{"stderr": "Error: approval_policy is no longer supported"}, {"exit": 2}]
        )
        assert start(kas, "quitter", f"{fake_codex} --scenario {bad}").returncode == 0
        crashed = events.wait("agent.crashed", "quitter")[1]["data"]
        assert (
            crashed["exit_code"] == 2 and "approval_policy is no longer supported" in crashed["stderr_tail"]
        )
        assert "1 restarts" in events.wait("agent.gave_up", "quitter")[1]["data"]["reason"]
        assert wait_status(kas, "quitter", "crashed")["last_exit_code"] == 2

        hung = scenario(tmp_path, "hung", [{"hang": True}])
        assert start(kas, "sleeper", f"{fake_codex} --scenario {hung}").returncode == 0
        fatal = events.wait("agent.fatal", "sleeper", timeout=10)[1]["data"]
        assert "no answer to the handshake within 1s" in fatal["text"]
        assert events.wait("agent.crashed", "sleeper")[1]["data"]["signal"] == signal.SIGKILL
        wait_status(kas, "sleeper", "crashed", timeout=20)
        assert "no answer to the handshake" in kas("instance", "capture", "sleeper").stdout
        assert healthy(kas, "steady")  # nothing else disturbed
    finally:
        events.close()


def test_malformed_lines_are_reported_and_skipped(kas, daemon, fake_codex: str, fake_claude_sdk: str) -> None:
    for title, program in (("noisy codex", fake_codex), ("noisy claude", fake_claude_sdk)):
        assert start(kas, title, program).returncode == 0
        wait_status(kas, title, "idle")
        kas("instance", "send", title, "garbage")
        assert retry_until(lambda t=title: "still here" in kas("instance", "capture", t).stdout, 15)
        screen = kas("instance", "capture", title).stdout
        assert "! malformed line from the agent" in screen and "{not json" in screen
        assert "SandboxDebug" not in screen  # non-JSON noise is skipped quietly, as the SDK does
        wait_status(kas, title, "idle")
        assert healthy(kas, title)


def test_hostile_prompt_is_text(kas, daemon, fake_claude_sdk: str, tmp_path: Path) -> None:
    assert start(kas, "quoted", fake_claude_sdk, "--prompt", "$(touch pwned); `touch pwned2`").returncode == 0
    assert retry_until(lambda: "You said: $(touch pwned)" in kas("instance", "capture", "quoted").stdout, 15)
    assert not list(tmp_path.rglob("pwned*")) and not (Path.cwd() / "pwned").exists()


def test_kill9_session_worker_relaunches_with_resume(kas, daemon, fake_codex: str) -> None:
    assert start(kas, "phoenix", fake_codex, "--prompt", "remember me").returncode == 0
    assert retry_until(lambda: "You said: remember me" in kas("instance", "capture", "phoenix").stdout, 15)
    before = wait_status(kas, "phoenix", "idle")
    worker = next(w for w in daemon.status()["workers"] if w["name"] == f"session.{before['id']}")
    agent = psutil.Process(before["pid"])
    os.kill(worker["pid"], signal.SIGKILL)
    assert retry_until(lambda: not agent.is_running() or agent.status() == psutil.STATUS_ZOMBIE, 5)
    assert retry_until(lambda: instance(kas, "phoenix")["pid"] not in (0, before["pid"]), 20)
    after = wait_status(kas, "phoenix", "idle")
    assert after["resume_id"] == before["resume_id"]
    assert healthy(kas, "phoenix")
