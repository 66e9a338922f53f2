"""Headless (sdk-mode) agents through the real `kas` and daemon, for both protocols: codex app-server
JSON-RPC and claude stream-json, spoken by the scenario-driven fakes in tests/fakes/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.faults.helpers import retry_until
from tests.integration.agents import Events, instance, wait_status

PROTOCOLS = ["codex", "claude"]


@pytest.fixture(params=PROTOCOLS)
def sdk_program(request, fake_codex: str, fake_claude_sdk: str) -> str:
    return fake_codex if request.param == "codex" else fake_claude_sdk


def start(kas, title: str, program: str, *extra: str) -> str:
    result = kas("instance", "start", title, "--program", program, "--mode", "sdk", *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


def capture(kas, title: str, *args: str) -> str:
    result = kas("instance", "capture", title, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def shows(kas, title: str, text: str, timeout: float = 15) -> bool:
    return retry_until(lambda: text in capture(kas, title), timeout)


def test_turns_streamed_text_approvals_interrupt(kas, daemon, repo: Path, sdk_program: str) -> None:
    events = Events(daemon.runtime)
    try:
        out = start(kas, "headless one", sdk_program, "--prompt", "hello there")
        assert "started: headless one (sdk mode, branch " in out
        record = wait_status(kas, "headless one", "idle")
        assert record["mode"] == "sdk" and record["session"] == "" and record["resume_id"]
        assert shows(kas, "headless one", "Hello from the fake model. You said: hello there")
        worktree = Path(record["worktree"])
        streamed = "".join(e["data"]["text"] for _, e in events.of("agent.text", "headless one"))
        assert "Hello from the fake model" in streamed
        assert events.of("agent.turn_done", "headless one")[0][1]["data"]["status"] == "completed"

        kas("instance", "send", "headless one", "second turn")  # two turns on one process
        assert shows(kas, "headless one", "You said: second turn")
        assert capture(kas, "headless one").count("■ turn completed") >= 2

        assert kas("instance", "send", "headless one", "run: touch approved.txt").returncode == 0
        wait_status(kas, "headless one", "waiting-for-approval")
        approval = events.wait("agent.approval", "headless one")[1]["data"]
        assert "touch approved.txt" in approval["text"]
        assert kas("instance", "approve", "headless one").stdout == "approved: headless one\n"
        assert retry_until(lambda: (worktree / "approved.txt").exists(), 10)
        assert shows(kas, "headless one", "ran it")
        wait_status(kas, "headless one", "idle")

        kas("instance", "send", "headless one", "run: touch denied.txt")
        wait_status(kas, "headless one", "waiting-for-approval")
        assert kas("instance", "deny", "headless one").returncode == 0
        assert shows(kas, "headless one", "✗ denied")
        wait_status(kas, "headless one", "idle")
        assert not (worktree / "denied.txt").exists()
        refused = kas("instance", "approve", "headless one")
        assert refused.returncode == 5 and "not waiting for an approval" in refused.stderr

        kas("instance", "send", "headless one", "stall")
        wait_status(kas, "headless one", "busy")
        assert shows(kas, "headless one", "thinking")
        assert kas("instance", "interrupt", "headless one").stdout == "interrupted: headless one\n"
        assert shows(kas, "headless one", "■ turn interrupted")
        wait_status(kas, "headless one", "idle")
        assert "done stalling" not in capture(kas, "headless one")
        idle = kas("instance", "interrupt", "headless one")
        assert idle.returncode == 5 and "no turn is running" in idle.stderr

        lines = capture(kas, "headless one", "-S", "-").splitlines()
        assert "› hello there" in lines[:5], lines[:5]

        attach = kas("instance", "attach", "headless one")
        assert attach.returncode == 11
        assert "interactive operation requires tmux execution" in attach.stderr
    finally:
        events.close()
    log = worktree / ".kasmos" / "logs" / "kas_headlessone.log"
    assert log.exists()  # stderr of the agent
    before = instance(kas, "headless one")
    assert kas("instance", "restart", "headless one").returncode == 0
    again = wait_status(kas, "headless one", "idle")
    assert again["pid"] not in (0, before["pid"]) and not psutil.pid_exists(before["pid"])
    kas("instance", "send", "headless one", "after the restart")  # a fresh conversation
    assert shows(kas, "headless one", "You said: after the restart")
    assert retry_until(
        lambda: instance(kas, "headless one")["resume_id"] not in ("", before["resume_id"]), 10
    )
    before = instance(kas, "headless one")
    (worktree / "approved.txt").unlink()
    assert kas("instance", "pause", "headless one").returncode == 0
    assert instance(kas, "headless one")["status"] == "paused" and not worktree.exists()
    assert kas("instance", "resume", "headless one").returncode == 0
    resumed = wait_status(kas, "headless one", "idle")
    assert resumed["resume_id"] == before["resume_id"]  # the same conversation goes on
    kas("instance", "send", "headless one", "after the pause")
    assert shows(kas, "headless one", "You said: after the pause")
    assert kas("instance", "kill", "headless one").returncode == 0
    assert not worktree.exists()


def test_skip_permissions_answers_approvals_itself(kas, daemon, sdk_program: str) -> None:
    start(kas, "trusted", sdk_program, "--skip-permissions")
    record = wait_status(kas, "trusted", "idle")
    kas("instance", "send", "trusted", "exec: touch auto.txt")
    assert shows(kas, "trusted", "ran it")
    assert (Path(record["worktree"]) / "auto.txt").exists()
    assert "? approval needed" not in capture(kas, "trusted")


def test_crash_relaunches_with_resume_id(kas, daemon, env, sdk_program: str) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "kasmos" / "daemon.toml"
    config.write_text("[agent_restart]\nbackoff_sec = 0.1\n")
    assert kas("daemon", "reload").returncode == 0
    start(kas, "crashy", sdk_program, "--prompt", "first")
    assert shows(kas, "crashy", "You said: first")  # claude names its session in the first turn
    first = wait_status(kas, "crashy", "idle")
    events = Events(daemon.runtime)
    try:
        psutil.Process(first["pid"])
        kas("instance", "send", "crashy", "crash 3")
        crashed = events.wait("agent.crashed", "crashy")[1]["data"]
        assert crashed["exit_code"] == 3 and crashed["relaunch"] is True
        assert Path(crashed["screen_file"]).read_text().count("crash 3") == 1
        relaunched = events.wait("agent.relaunched", "crashy")[1]["data"]
        assert relaunched["resume_id"] == first["resume_id"]
        again = wait_status(kas, "crashy", "idle")
        assert again["resume_id"] == first["resume_id"] and again["restarts"] == 1
        assert again["pid"] != first["pid"]
        kas("instance", "send", "crashy", "after the crash")
        assert shows(kas, "crashy", "You said: after the crash")
        assert "relaunching in" in capture(kas, "crashy")
    finally:
        events.close()


def test_daemon_kill9_relaunches_with_resume_and_ends_orphans(kas, daemon, env, sdk_program: str) -> None:
    start(kas, "survivor", sdk_program, "--prompt", "before the kill")
    before = wait_status(kas, "survivor", "idle")
    assert shows(kas, "survivor", "You said: before the kill")
    agent = psutil.Process(before["pid"])
    # A leftover agent of this instance from an older daemon (found by its environment), and a decoy
    # with the very same command line but no kasmos environment: only the first may be ended.
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", "app-server"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("KASMOS_")}
    marked = {
        **base,
        "KASMOS_MANAGED": "1",
        "KASMOS_PROJECT": before["project"],
        "KASMOS_INSTANCE_ID": before["id"],
    }
    orphan = subprocess.Popen(sleeper, env=marked, start_new_session=True)
    decoy = subprocess.Popen(sleeper, env=base, start_new_session=True)
    try:
        os.kill(daemon.pid, signal.SIGKILL)
        assert retry_until(lambda: not agent.is_running() or agent.status() == psutil.STATUS_ZOMBIE, 10)
        assert kas("daemon", "start").returncode == 0
        assert retry_until(lambda: instance(kas, "survivor")["pid"] not in (0, before["pid"]), 30)
        after = wait_status(kas, "survivor", "idle")
        assert after["resume_id"] == before["resume_id"]
        assert orphan.wait(10) is not None
        assert decoy.poll() is None
        text = capture(kas, "survivor")
        assert "› before the kill" in text  # the transcript outlived the daemon
        assert f"relaunched with resume id {before['resume_id']}" in text
        kas("instance", "send", "survivor", "after the restart")
        assert shows(kas, "survivor", "You said: after the restart")
    finally:
        for proc in (orphan, decoy):
            proc.kill()
            proc.wait()


def test_other_programs_run_in_tmux_even_when_sdk_is_asked(
    kas, daemon, fake_claude: str, tmp_path: Path
) -> None:
    other = tmp_path / "bin" / "myagent"
    other.write_text(Path(fake_claude).read_text())
    other.chmod(0o755)
    out = start(kas, "plain", str(other))
    assert "(session kas_plain," in out
    assert instance(kas, "plain")["mode"] == "tmux"


def test_role_profiles_choose_program_mode_and_permissions(kas, daemon, repo: Path, fake_codex: str) -> None:
    (repo / ".kasmos").mkdir(exist_ok=True)
    (repo / ".kasmos" / "config.toml").write_text(
        f'[agents.coder]\nprogram = "{fake_codex}"\nexecution_mode = "headless"\n'
        'permission_default = "bypass"\n'
    )
    assert kas("instance", "start", "by role", "--role", "coder").returncode == 0
    record = wait_status(kas, "by role", "idle")
    assert record["mode"] == "sdk" and record["program"] == fake_codex and record["role"] == "coder"
    kas("instance", "send", "by role", "exec: touch role.txt")  # bypass: no approval asked
    assert shows(kas, "by role", "ran it")
    unknown = kas("instance", "start", "nobody", "--role", "ghost")
    assert unknown.returncode == 2 and "no [agents.ghost] profile" in unknown.stderr
    assert "coder" in unknown.stderr and unknown.stderr.count("\n") == 1
    bad_mode = kas("instance", "start", "odd", "--mode", "screen")
    assert bad_mode.returncode == 2 and "unknown execution mode" in bad_mode.stderr
