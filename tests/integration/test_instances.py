"""Agents in tmux through the real `kas`: real daemon, git, tmux (a private server per test) and a fake
agent program drawn like claude's TUI."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil

from tests.conftest import git
from tests.faults.helpers import retry_until
from tests.integration.agents import Events, instance, pane_pid, sessions, tmux, wait_status


def start(kas, title: str, program: str, *extra: str):
    result = kas("instance", "start", title, "--program", program, *extra)
    assert result.returncode == 0, result.stderr
    return result


def test_start_send_capture_approve_pause_resume_kill(kas, daemon, repo: Path, fake_claude: str) -> None:
    out = start(kas, "fix login", fake_claude, "--prompt", "echo first words").stdout
    assert "started: fix login (session kas_fixlogin, branch " in out
    record = instance(kas, "fix login")
    worktree = Path(record["worktree"])
    assert worktree.parent.parent == repo / ".worktrees" and worktree.name.startswith("fix-login_")
    assert record["session"] == "kas_fixlogin" and "kas_fixlogin" in sessions()
    env = tmux("show-environment", "-t", "=kas_fixlogin").stdout
    assert f"KASMOS_INSTANCE_ID={record['id']}" in env and "KASMOS_MANAGED=1" in env
    assert f"KASMOS_PROJECT={repo.name}" in env
    assert tmux("show-options", "-w", "-t", "=kas_fixlogin:", "remain-on-exit").stdout.split()[-1] == "on"
    wait_status(kas, "fix login", "idle")
    screen = kas("instance", "capture", "login").stdout  # a unique substring is enough
    assert "got: echo first words" in screen and f"instance {record['id']}" in screen

    assert kas("instance", "send", "login", "hello there").stdout == "sent to fix login\n"
    assert retry_until(lambda: "got: hello there" in kas("instance", "capture", "login").stdout, 10)
    lines = kas("instance", "capture", "login", "-S", "0", "-E", "1").stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("fake agent")

    denied = kas("instance", "approve", "login")
    assert denied.returncode == 5 and "not waiting for an approval" in denied.stderr
    kas("instance", "send", "login", "ask")
    wait_status(kas, "fix login", "waiting-for-approval")
    assert kas("instance", "approve", "login").stdout == "approved: fix login\n"
    assert retry_until(lambda: "approved" in kas("instance", "capture", "login").stdout, 10)
    wait_status(kas, "fix login", "idle")
    kas("instance", "send", "login", "ask")
    wait_status(kas, "fix login", "waiting-for-approval")
    assert kas("instance", "deny", "login").returncode == 0
    assert retry_until(lambda: "denied" in kas("instance", "capture", "login").stdout, 10)

    (worktree / "wip.txt").write_text("unsaved\n")
    refused = kas("instance", "pause", "login")
    assert refused.returncode == 5
    assert refused.stderr.strip() == (
        "error: cannot pause instance: worktree has uncommitted changes (wip.txt); commit or stash first"
    )
    assert "kas_fixlogin" in sessions()
    (worktree / "wip.txt").unlink()
    assert kas("instance", "pause", "login").stdout == "paused: fix login\n"
    assert not worktree.exists() and "kas_fixlogin" not in sessions()
    assert record["branch"] in git(repo, "branch", "--list", record["branch"])
    assert instance(kas, "fix login")["status"] == "paused"
    assert "already paused" in kas("instance", "pause", "login").stderr

    assert kas("instance", "resume", "login").stdout == "resumed: fix login\n"
    assert worktree.is_dir() and "kas_fixlogin" in sessions()
    assert retry_until(lambda: "resumed previous conversation" in kas("instance", "capture", "login").stdout)
    status = json.loads(kas("instance", "status", "--json").stdout)
    assert sum(status.values()) == 1

    assert (
        kas("instance", "kill", "login").stdout
        == f"killed: fix login (branch {record['branch']} preserved)\n"
    )
    assert not worktree.exists() and "kas_fixlogin" not in sessions()
    assert instance(kas, "fix login")["status"] == "killed"
    assert record["branch"] in git(repo, "branch", "--list", record["branch"])


def test_agent_kill_9_is_noticed_saved_and_relaunched(kas, daemon, fake_claude: str) -> None:
    start(kas, "crashy", fake_claude)
    first = wait_status(kas, "crashy", "idle")
    events = Events(daemon.runtime)
    try:
        pid = pane_pid("kas_crashy")
        assert pid == first["pid"]
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        seen_at, crashed = events.wait("agent.crashed", "crashy")
        assert seen_at - killed_at < 0.1, f"noticed after {(seen_at - killed_at) * 1000:.0f} ms"
        data = crashed["data"]
        assert data["exit_code"] is None and data["signal"] == 9 and data["relaunch"] is True
        assert "fake agent" in Path(data["screen_file"]).read_text()
        assert Path(data["git_status_file"]).exists()
        events.wait("agent.relaunched", "crashy")
        again = wait_status(kas, "crashy", "idle")
        assert again["restarts"] == 1 and again["pid"] not in (0, pid)
        assert "resumed previous conversation" in kas("instance", "capture", "crashy").stdout
    finally:
        events.close()


def test_restart_limit_marks_crashed(kas, daemon, env, fake_claude: str) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "kasmos" / "daemon.toml"
    config.write_text("[agent_restart]\nmax_restarts = 1\nbackoff_sec = 0.1\n")
    assert kas("daemon", "reload").returncode == 0
    start(kas, "flaky", fake_claude)
    wait_status(kas, "flaky", "idle")
    events = Events(daemon.runtime)
    try:
        kas("instance", "send", "flaky", "crash 3")
        _, first = events.wait("agent.crashed", "flaky")
        assert first["data"]["exit_code"] == 3 and first["data"]["relaunch"] is True, first["data"]
        wait_status(kas, "flaky", "idle", "busy")
        assert retry_until(lambda: "resumed previous" in kas("instance", "capture", "flaky").stdout, 15)
        kas("instance", "send", "flaky", "crash 4")
        _, gave_up = events.wait("agent.gave_up", "flaky")
        assert "1 restarts within 600s" in gave_up["data"]["reason"]
        record = wait_status(kas, "flaky", "crashed")
        assert record["last_exit_code"] == 4
        captured = kas("instance", "capture", "flaky")  # the dead pane stays readable
        assert captured.returncode == 0, captured.stderr
        screen = captured.stdout
        assert "resumed previous conversation" in screen, screen
    finally:
        events.close()


def test_clean_exit_is_not_a_crash(kas, daemon, fake_claude: str) -> None:
    start(kas, "finisher", fake_claude)
    wait_status(kas, "finisher", "idle")
    kas("instance", "send", "finisher", "exit")
    record = wait_status(kas, "finisher", "exited")
    assert record["last_exit_code"] == 0 and record["restarts"] == 0


def test_session_worker_kill_9_reattaches_without_touching_the_agent(kas, daemon, fake_claude: str) -> None:
    start(kas, "steady", fake_claude)
    record = wait_status(kas, "steady", "idle")
    name = f"session.{record['id']}"
    worker_pid = daemon.worker(name)["pid"]
    os.kill(worker_pid, signal.SIGKILL)
    assert retry_until(
        lambda: daemon.worker(name)["state"] == "RUNNING" and daemon.worker(name)["pid"] != worker_pid, 20
    )
    assert pane_pid("kas_steady") == record["pid"]
    time.sleep(0.5)
    assert instance(kas, "steady")["restarts"] == 0
    events = Events(daemon.runtime)
    try:
        os.kill(record["pid"], signal.SIGKILL)  # monitoring is live again
        events.wait("agent.crashed", "steady")
    finally:
        events.close()


def test_daemon_kill_9_with_ten_agents_readopts_all(kas, daemon, fake_claude: str) -> None:
    titles = [f"agent-{i}" for i in range(10)]
    for title in titles:
        start(kas, title, fake_claude)
    before = {t: wait_status(kas, t, "idle")["pid"] for t in titles}
    os.kill(daemon.pid, signal.SIGKILL)
    assert retry_until(lambda: not daemon.runtime.pid_file.exists() or not psutil.pid_exists(daemon.pid), 10)
    assert all(pane_pid(f"kas_{t}") == pid for t, pid in before.items()), "tmux agents outlive the daemon"
    assert kas("daemon", "start").returncode == 0
    live = {}

    def all_adopted() -> bool:
        workers = {w["name"]: w["state"] for w in daemon.status()["workers"]}
        live.update({w: s for w, s in workers.items() if w.startswith("session.")})
        return len(live) == 10 and all(s == "RUNNING" for s in live.values())

    assert retry_until(all_adopted, 30), live
    for title, pid in before.items():
        record = instance(kas, title)
        assert record["pid"] == pid and record["restarts"] == 0 and pane_pid(f"kas_{title}") == pid
    assert "re-adopting 10 live instance(s)" in daemon.log()
    events = Events(daemon.runtime)
    try:
        os.kill(before["agent-3"], signal.SIGKILL)
        events.wait("agent.crashed", "agent-3")
        events.wait("agent.relaunched", "agent-3")
    finally:
        events.close()
    assert kas("daemon", "stop").returncode == 0
    assert all(pane_pid(f"kas_{t}") for t in titles), "stopping the daemon never kills agents"


def test_boot_relaunches_an_instance_whose_session_is_gone(kas, daemon, fake_claude: str) -> None:
    start(kas, "gone", fake_claude)
    wait_status(kas, "gone", "idle")
    assert kas("daemon", "stop").returncode == 0
    tmux("kill-session", "-t", "=kas_gone")
    assert kas("daemon", "start").returncode == 0
    record = wait_status(kas, "gone", "idle")
    assert record["restarts"] == 1 and pane_pid("kas_gone") == record["pid"]
    assert "resumed previous conversation" in kas("instance", "capture", "gone").stdout


def test_orphans_listed_adopted_monitored_and_foreign_untouched(kas, daemon, repo: Path) -> None:
    tmux("new-session", "-d", "-s", "kas_stray", "-c", str(repo), "sleep 1000")
    tmux("new-session", "-d", "-s", "foreign", "sleep 1000")
    listed = json.loads(kas("tmux", "list", "--json").stdout)
    assert [r["name"] for r in listed] == ["kas_stray"] and listed[0]["title"] == "stray"
    table = kas("tmux", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "TITLE", "WINDOWS", "ATTACHED", "AGE"]
    refused = kas("tmux", "kill", "foreign")
    assert refused.returncode == 2 and "never touches it" in refused.stderr
    refused = kas("tmux", "adopt", "foreign", "f")
    assert refused.returncode == 2
    assert kas("tmux", "adopt", "kas_nothing", "n").returncode == 3

    adopted = kas("tmux", "adopt", "kas_stray", "stray")
    assert adopted.returncode == 0, adopted.stderr
    assert adopted.stdout == "adopted: kas_stray as stray (branch main)\n"
    assert kas("tmux", "list").stdout == "no orphan tmux sessions found\n"
    record = instance(kas, "stray")
    assert record["worktree"] == str(repo) and record["program"] == "sleep"
    assert "KASMOS_INSTANCE_ID=" + record["id"] in tmux("show-environment", "-t", "=kas_stray").stdout
    events = Events(daemon.runtime)
    try:
        os.kill(pane_pid("kas_stray"), signal.SIGKILL)
        events.wait("agent.crashed", "stray")
    finally:
        events.close()
    assert "error" in kas("tmux", "kill", "kas_stray").stderr  # owned now, not an orphan
    assert kas("instance", "kill", "stray", "--force").returncode == 0
    assert repo.is_dir() and (repo / "README").exists()  # an adopted directory is never removed
    tmux("new-session", "-d", "-s", "kas_other", "sleep 1000")
    assert kas("tmux", "kill", "kas_other").stdout == "killed: kas_other\n"
    assert "foreign" in sessions()


def test_commands_that_need_the_daemon_say_so(kas, fake_claude: str) -> None:
    result = kas("instance", "start", "x", "--program", fake_claude)
    assert result.returncode == 7
    assert result.stderr.startswith("error: the kasmos daemon is not running (`kas instance start` needs it)")
    assert kas("instance", "list").stdout == "no instances\n"
    assert kas("tmux", "list").stdout == "no orphan tmux sessions found\n"


def test_attach_execs_tmux_without_the_daemon(kas, daemon, repo: Path, fake_claude: str) -> None:
    import pty
    import select

    start(kas, "attached", fake_claude)
    wait_status(kas, "attached", "idle")
    assert kas("daemon", "stop").returncode == 0  # attach needs only the store and tmux
    from tests.conftest import KAS

    pid, fd = pty.fork()
    if pid == 0:  # the child becomes `kas instance attach`, then tmux itself
        os.chdir(repo)
        os.environ["TERM"] = "xterm"
        os.execv(str(KAS), [str(KAS), "instance", "attach", "attach"])
    seen = b""
    deadline = time.monotonic() + 20
    while b"fake agent" not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            seen += os.read(fd, 65536)
    assert b"fake agent" in seen, seen[-500:]
    attached = tmux("list-clients", "-F", "#{client_session}").stdout.split()
    assert attached == ["kas_attached"]
    os.write(fd, b"\x02d")  # C-b d: detach
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pane_pid("kas_attached")  # detaching leaves the agent running
    paused = kas("instance", "attach", "nobody")
    assert paused.returncode == 3 and paused.stderr.startswith("error: instance not found: nobody")
