"""`kas signal …`: emit without a daemon, process exactly once, sentinel files in repo and worktrees."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import git


def rows(store_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(store_path) as conn:
        return conn.execute(sql).fetchall()


def test_emit_then_process(kas, repo: Path, store_path: Path) -> None:
    kas("task", "create", "auth")
    r = kas("signal", "emit", "plan-start", "auth.md")
    assert (r.returncode, r.stdout) == (0, "signal emitted: type=plan_start plan=auth\n")
    kas("signal", "emit", "planner_finished", "auth", "--payload", "the plan is ready")
    kas("signal", "emit", "review-approved", "auth")
    listed = json.loads(kas("signal", "list", "--json").stdout)
    assert [s["signal_type"] for s in listed["signals"]] == [
        "plan_start",
        "planner_finished",
        "review_approved",
    ]
    out = kas("signal", "process", "--once").stdout.splitlines()
    assert out == [
        "plan_start auth: ready → planning",
        "planner_finished auth: planning → ready",
        'failed: review_approved auth: invalid transition: "ready" + "review_approved"',
        "processed 3 signal(s)",
    ]
    assert kas("signal", "process", "--once").stdout == "no signals to process\n"
    assert kas("signal", "list").stdout == "no pending signals\n"
    assert rows(store_path, "SELECT status, count(*) FROM signals GROUP BY status") == [
        ("done", 2),
        ("failed", 1),
    ]
    outbox = rows(store_path, "SELECT kind, idem_key, status FROM outbox ORDER BY id")
    assert outbox == [
        ("agent.spawn", f"{repo.name}:auth:planner", "pending"),
        ("agent.stop", f"{repo.name}:auth:planner", "pending"),
        ("task.auto_implement", f"{repo.name}:auth:task.auto_implement", "pending"),
    ]
    failed = json.loads(kas("signal", "list", "--status", "failed", "--json").stdout)["signals"]
    assert failed[0]["result"].startswith("invalid transition")


def test_emit_validation(kas) -> None:
    kas("task", "create", "auth")
    r = kas("signal", "emit", "launch", "auth")
    assert r.returncode == 2 and "valid types:" in r.stderr and len(r.stderr.splitlines()) == 1
    r = kas("signal", "emit", "implement-wave", "auth", "--payload", "{}")
    assert r.returncode == 2 and "wave_number" in r.stderr
    r = kas("signal", "emit", "plan-start", "ghost")
    assert r.returncode == 3 and r.stderr.startswith("error: task not found: ghost")


def test_transition_mirrors_pre_applied_signal(kas, store_path: Path) -> None:
    kas("task", "create", "auth")
    kas("task", "transition", "auth", "plan-start")
    assert rows(store_path, "SELECT signal_type, payload FROM signals") == [
        ("plan_start", '{"fsm_applied":true}')
    ]
    kas("signal", "process", "--once")
    # The effects ran, the transition was not applied a second time.
    assert rows(store_path, "SELECT kind FROM outbox") == [("agent.spawn",)]
    transitions = rows(store_path, "SELECT count(*) FROM audit_events WHERE kind='plan_transition'")
    assert transitions == [(1,)]


def test_daemon_settings_from_config(kas, repo: Path, store_path: Path) -> None:
    (repo / ".kasmos").mkdir()
    (repo / ".kasmos" / "config.toml").write_text("[ui]\nauto_advance = false\n")
    kas("task", "create", "auth")
    kas("task", "set-status", "auth", "planning", "--force")
    kas("signal", "emit", "planner-finished", "auth")
    kas("signal", "process", "--once")
    assert rows(store_path, "SELECT kind FROM outbox") == [("agent.stop",)]
    (repo / ".kasmos" / "config.toml").write_text("[ui]\nauto_advance = 3\n")
    r = kas("signal", "process", "--once")
    assert r.returncode == 9 and "key 'ui.auto_advance'" in r.stderr and len(r.stderr.splitlines()) == 1


def test_sentinels_in_repo_and_worktrees(kas, repo: Path, store_path: Path) -> None:
    kas("task", "create", "auth")
    kas("task", "set-status", "auth", "reviewing", "--force")
    worktree = repo / ".worktrees" / "plan-auth"
    git(repo, "worktree", "add", "-q", "-b", "plan/auth", str(worktree))
    wt_signals = worktree / ".kasmos" / "signals"
    wt_signals.mkdir(parents=True)
    (wt_signals / "review-changes-auth").write_text("please add tests\n")
    main_signals = repo / ".kasmos" / "signals"
    main_signals.mkdir(parents=True)
    (main_signals / "planner-finished-ghost").write_text("")
    (main_signals / "not-a-sentinel").write_text("")
    (main_signals / ".hidden").write_text("")
    listed = kas("signal", "list").stdout
    assert "review-changes-auth" in listed and "planner-finished-ghost" in listed
    out = kas("signal", "process", "--once").stdout
    assert "review_changes_requested auth: reviewing → implementing" in out
    assert "processed 1 signal(s)" in out
    assert sorted(p.name for p in (main_signals / "failed").iterdir()) == [
        "not-a-sentinel",
        "not-a-sentinel.reason",
        "planner-finished-ghost",
        "planner-finished-ghost.reason",
    ]
    assert (
        main_signals / "failed" / "planner-finished-ghost.reason"
    ).read_text() == "task not found: ghost\n"
    assert (main_signals / ".hidden").exists()
    assert not list(wt_signals.glob("review-*")) and not list((wt_signals / "processing").iterdir())
    [(feedback, cycle)] = rows(store_path, "SELECT latest_review_feedback, review_cycle FROM tasks")
    assert (feedback, cycle) == ("please add tests", 1)


def test_crashed_bridge_files_are_recovered(kas, repo: Path) -> None:
    kas("task", "create", "auth")
    kas("task", "set-status", "auth", "implementing", "--force")
    processing = repo / ".kasmos" / "signals" / "processing"
    processing.mkdir(parents=True)
    # Left by a bridge whose process (pid 999999999 cannot exist) died between claim and insert.
    (processing / "999999999-1~implement-finished-auth").write_text("")
    # Left by a reference-kasmos bridge (untagged).
    (processing / "review-approved-auth").write_text("")
    out = kas("signal", "process", "--once").stdout
    assert "implement_finished auth: implementing → reviewing" in out
    assert "review_approved auth: reviewing → verifying" in out


def test_watch_mode_stops_on_sigterm(kas, repo: Path) -> None:
    import signal
    import subprocess
    import time

    from tests.conftest import KAS

    kas("task", "create", "auth")
    proc = subprocess.Popen(
        [str(KAS), "signal", "process", "--interval", "0.1"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        kas("signal", "emit", "plan-start", "auth")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "planning" in kas("task", "list").stdout:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.startswith("watching for signals (ctrl-c to stop)...\n")
    assert "plan_start auth: ready → planning" in out
