"""The daemon through the real `kas` binary: start/stop/status, routing, repos, reload, monitor."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import psutil

from tests.conftest import KAS, make_repo, processes_of
from tests.faults.helpers import retry_until


def test_start_status_stop(kas, repo: Path, daemon) -> None:
    pid = daemon.pid
    assert pid > 0
    status = kas("daemon", "status")
    assert status.returncode == 0, status.stderr
    assert f"daemon running (pid={pid}" in status.stdout
    assert re.search(r"^store\s+RUNNING\s+\d+\s+0\s+-$", status.stdout, re.M), status.stdout
    assert retry_until(lambda: f"  - proj ({repo})" in kas("daemon", "status").stdout, timeout=5)
    info = json.loads(kas("daemon", "status", "--json").stdout)
    assert info["pid"] == pid and info["version"] and info["uptime_s"] >= 0
    assert [w["name"] for w in info["workers"]] == ["store", "git", "scanner"]
    again = kas("daemon", "start")
    assert again.returncode == 5
    assert again.stderr.strip() == (
        f"error: the kasmos daemon is already running (pid={pid}); "
        "stop it with `kas daemon stop` or use the running one"
    )
    stop = kas("daemon", "stop")
    assert (stop.returncode, stop.stdout) == (0, "daemon stopped\n")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert sorted(p.name for p in daemon.runtime.root.iterdir()) == ["daemon.lock", "daemon.log", "workers"]


def test_socket_permissions_and_no_tcp(daemon) -> None:
    root = daemon.runtime.root
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for name in ("ctl", "work", "events"):
        st = (root / f"{name}.sock").stat()
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    for proc in processes_of(daemon.run_dir):
        assert proc.net_connections(kind="inet") == [], proc.info["cmdline"]


def test_commands_that_need_the_daemon_say_so(kas, repo: Path) -> None:
    line = "error: the kasmos daemon is not running ({}) needs it); start it with `kas daemon start`\n"
    for args, op in [
        (("daemon", "status"), "daemon.status"),
        (("daemon", "reload"), "daemon.reload"),
        (("daemon", "restart-worker", "store"), "daemon.restart_worker"),
    ]:
        result = kas(*args)
        assert (result.returncode, result.stderr) == (7, line.format(op).replace(") needs", " needs")), args
    monitor = kas("monitor")
    assert monitor.returncode == 7 and "kas daemon start" in monitor.stderr
    stop = kas("daemon", "stop")
    assert stop.returncode == 7 and stop.stderr.count("\n") == 1


def _read_outputs(kas) -> list[str]:
    commands = [
        ("task", "list"),
        ("task", "list", "--json"),
        ("task", "list", "--status", "planning"),
        ("task", "show", "alpha"),
        ("task", "show", "alpha", "--json"),
        ("task", "show", "missing"),
        ("signal", "list", "--json"),
        ("signal", "list", "--status", "done"),
        ("audit", "list", "--json"),
        ("task", "transition", "alpha", "bogus_event"),
    ]
    return [repr((r.returncode, r.stdout, r.stderr)) for r in (kas(*c) for c in commands)]


def test_same_output_with_and_without_daemon(kas, repo: Path, env) -> None:
    assert kas("task", "create", "alpha", "--content", "# Alpha\n\nbody\n").returncode == 0
    assert kas("task", "create", "beta", "--topic", "t").returncode == 0
    assert kas("task", "set-status", "beta", "planning", "--force").returncode == 0
    direct = _read_outputs(kas)
    assert kas("daemon", "start").returncode == 0
    try:
        through = _read_outputs(kas)
        assert through == direct
        # Writes print the same lines too.
        assert kas("task", "create", "gamma").stdout == "created: gamma → ready\n"
        assert kas("task", "transition", "gamma", "plan-start").stdout == "gamma → planning\n"
        bad = kas("task", "create", "gamma")
        assert (bad.returncode, bad.stderr) == (
            5,
            "error: plan already exists: proj/gamma; pick another name\n",
        )
    finally:
        assert kas("daemon", "stop").returncode == 0


def test_emitted_signal_is_processed_at_once_and_published(kas, repo: Path, daemon) -> None:
    assert kas("task", "create", "fast").returncode == 0
    events = repo.parent / "events.jsonl"
    with events.open("w") as out:
        monitor = subprocess.Popen(
            [str(KAS), "monitor", "--json", "--kind", "task.", "--kind", "outbox."],
            cwd=repo,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        retry_until(lambda: daemon.call("daemon.status")["uptime_s"] > 0, timeout=5)
        # A subscriber joins asynchronously: emit until the monitor has seen a transition.
        assert kas("signal", "emit", "plan-start", "fast").returncode == 0
        assert retry_until(lambda: "planning" in kas("task", "list").stdout, timeout=5)
        assert kas("signal", "emit", "planner-finished", "fast").returncode == 0

        def seen() -> list[dict]:
            return [json.loads(line) for line in events.read_text().splitlines() if line.startswith("{")]

        assert retry_until(
            lambda: any(e["kind"] == "task.transition" and e["data"].get("to") == "ready" for e in seen()),
            timeout=5,
        ), events.read_text()
        assert retry_until(lambda: any(e["kind"] == "outbox.executed" for e in seen()), timeout=5)
        assert all(e["project"] == "proj" and e["task"] == "fast" for e in seen())
    finally:
        monitor.send_signal(signal.SIGINT)
        assert monitor.wait(timeout=5) == 0


def test_signals_written_while_down_and_sentinels_are_picked_up_at_start(kas, repo: Path, env) -> None:
    for name in ("one", "two", "three"):
        assert kas("task", "create", name).returncode == 0
    assert kas("task", "set-status", "two", "planning", "--force").returncode == 0
    assert kas("task", "set-status", "three", "implementing", "--force").returncode == 0
    assert kas("signal", "emit", "plan-start", "one").returncode == 0
    signals_dir = repo / ".kasmos" / "signals"
    signals_dir.mkdir(parents=True, exist_ok=True)
    (signals_dir / "planner-finished-two").write_text("")
    (signals_dir / "garbage-sentinel").write_text("x")
    assert kas("daemon", "start").returncode == 0

    def statuses() -> dict[str, str]:
        rows = json.loads(kas("task", "list", "--json").stdout)
        return {row["filename"]: row["status"] for row in rows}

    try:
        assert retry_until(lambda: statuses() == {"one": "planning", "two": "ready", "three": "implementing"})
        assert retry_until(lambda: (signals_dir / "failed" / "garbage-sentinel").exists(), timeout=5)
        # A sentinel written while it runs is picked up on the next tick.
        (signals_dir / "implement-finished-three").write_text("")
        assert retry_until(lambda: statuses()["three"] == "reviewing", timeout=10), statuses()
    finally:
        assert kas("daemon", "stop").returncode == 0


def test_repos_register_persist_and_refuse_duplicate_basenames(
    kas, repo: Path, tmp_path: Path, daemon
) -> None:
    other = make_repo(tmp_path / "elsewhere" / "lib")
    added = kas("daemon", "add", str(other))
    assert (added.returncode, added.stdout) == (0, "registered repo: lib\n")
    assert kas("task", "list").returncode == 0  # running a command registers the current repo
    status = kas("daemon", "status").stdout
    assert f"  - lib ({other})" in status and f"  - proj ({repo})" in status
    twin = make_repo(tmp_path / "twin" / "proj")
    dup = kas("daemon", "add", str(twin))
    assert dup.returncode == 5
    assert dup.stderr == (
        f"error: two repositories are named 'proj': {repo} (registered) and {twin}; the project name must "
        f"be unique: rename one of the directories, or `kas daemon remove {repo}`\n"
    )
    in_twin = kas("task", "list", cwd=twin)
    assert in_twin.returncode == 5 and "two repositories are named 'proj'" in in_twin.stderr
    # Registrations persist in the store across a restart.
    assert kas("daemon", "stop").returncode == 0
    assert kas("daemon", "start").returncode == 0
    assert f"  - lib ({other})" in kas("daemon", "status").stdout
    removed = kas("daemon", "remove", str(other))
    assert (removed.returncode, removed.stdout) == (0, "unregistered repo: lib\n")
    missing = kas("daemon", "remove", str(other))
    assert missing.returncode == 3
    not_repo = kas("daemon", "add", str(tmp_path))
    assert not_repo.returncode == 2 and "not a git repository" in not_repo.stderr


def test_reload_keeps_running_and_refuses_a_bad_file(kas, repo: Path, tmp_path: Path, env, daemon) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "kasmos" / "daemon.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("poll_interval_sec = 'often'\n")
    bad = kas("daemon", "reload")
    assert bad.returncode == 9 and bad.stderr.startswith("error: ") and "poll_interval_sec" in bad.stderr
    other = make_repo(tmp_path / "more")
    config.write_text(f"repos = [{json.dumps(str(other))}]\n")
    good = kas("daemon", "reload")
    assert (good.returncode, good.stdout) == (0, "daemon reloaded\n")
    assert retry_until(lambda: f"  - more ({other})" in kas("daemon", "status").stdout, timeout=5)
    pid = daemon.pid
    os.kill(pid, signal.SIGHUP)  # SIGHUP is a reload too
    assert retry_until(lambda: "configuration reloaded" in daemon.log(), timeout=5)
    assert daemon.pid == pid


def test_install_writes_a_systemd_user_unit(kas, env) -> None:
    shown = kas("daemon", "install", "--print")
    assert shown.returncode == 0
    assert re.search(r"^ExecStart=/\S+/kas daemon start --foreground$", shown.stdout, re.M)
    assert "Restart=on-failure" in shown.stdout
    unit = Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "kasmos.service"
    assert not unit.exists()
    written = kas("daemon", "install")
    assert written.returncode == 0 and unit.read_text() == shown.stdout
    assert "systemctl --user enable --now kasmos.service" in written.stdout


def test_restart_worker_and_unknown_worker(kas, daemon) -> None:
    first = daemon.worker()["pid"]
    result = kas("daemon", "restart-worker", "store")
    assert (result.returncode, result.stdout) == (0, "worker store: RUNNING → restarting\n")
    assert retry_until(lambda: daemon.worker()["state"] == "RUNNING" and daemon.worker()["pid"] != first, 10)
    unknown = kas("daemon", "restart-worker", "nope")
    assert unknown.returncode == 3 and "no worker named 'nope'" in unknown.stderr


def test_signal_process_refuses_while_the_daemon_runs(kas, daemon) -> None:
    result = kas("signal", "process", "--once")
    assert result.returncode == 5
    assert f"the kasmos daemon (pid={daemon.pid}) is processing signals" in result.stderr


def test_foreground_daemon_stops_on_sigint_and_leaves_nothing(kas, repo: Path, env) -> None:
    log = repo.parent / "fg.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(KAS), "daemon", "start", "--foreground"], cwd=repo, stderr=out, stdout=out
        )
    try:
        assert retry_until(lambda: kas("daemon", "status").returncode == 0, timeout=10), log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        text = log.read_text()
        assert "RUNNING → STOPPING" in text and "kasmos daemon stopped" in text
    finally:
        if proc.poll() is None:
            proc.kill()
