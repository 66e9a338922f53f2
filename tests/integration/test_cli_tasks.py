"""`kas task …` through the real console script against a real store and git repository."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import git, make_repo


def test_lifecycle_outputs(kas, repo: Path) -> None:
    assert kas("task", "list").stdout == "no tasks found\n"
    r = kas("task", "create", "auth-refactor.md", "--description", "Refactor auth", "--topic", "security")
    assert (r.returncode, r.stdout) == (0, "created: auth-refactor → ready\n")
    assert kas("task", "transition", "auth-refactor", "plan-start").stdout == "auth-refactor → planning\n"
    assert kas("task", "transition", "auth-refactor", "planner_finished").stdout == "auth-refactor → ready\n"
    rows = json.loads(kas("task", "list", "--json").stdout)
    assert [(t["filename"], t["status"], t["execution_phase"], t["lifecycle"]) for t in rows] == [
        ("auth-refactor", "ready", "planned", "planned")
    ]
    assert rows[0]["branch"] == "plan/auth-refactor" and rows[0]["planning_at"]
    assert kas("task", "list", "--status", "planned").stdout.split() == [
        "ready",
        "auth-refactor",
        "plan/auth-refactor",
    ]
    line = kas("task", "list").stdout.rstrip("\n")
    assert line == f"{'ready':<14} {'auth-refactor':<50} plan/auth-refactor"


def test_invalid_transition_names_allowed_events(kas) -> None:
    kas("task", "create", "t1")
    r = kas("task", "transition", "t1", "review-approved")
    assert r.returncode == 4 and r.stdout == ""
    assert r.stderr == (
        'error: invalid transition: "ready" + "review_approved"; '
        "allowed from ready: plan_start, implement_start, mark_done, cancel\n"
    )


def test_set_status_requires_force(kas) -> None:
    kas("task", "create", "t1")
    r = kas("task", "set-status", "t1", "done")
    assert r.returncode == 2
    assert "--force required to override task status (this bypasses the FSM)" in r.stderr
    assert kas("task", "set-status", "t1", "planned", "--force").stdout == "t1 → planned\n"
    [row] = json.loads(kas("task", "list", "--json").stdout)
    assert (row["status"], row["execution_phase"]) == ("ready", "planned")
    kas("task", "set-status", "t1", "cancelled", "--force")
    assert kas("task", "list").stdout == "no tasks found\n"
    assert "cancelled" in kas("task", "list", "--status", "cancelled").stdout


def test_show_register_update_delete(kas, repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "big-plan.md"
    plan.write_text("# Big plan\n\n**Goal:** ship it\n\n## Wave 1\n")
    os.utime(plan, (1_700_000_000, 1_700_000_000))
    assert kas("task", "register", str(plan)).stdout == "registered: big-plan → ready\n"
    record = json.loads(kas("task", "show", "big-plan", "--json").stdout)
    assert (record["description"], record["goal"]) == ("Big plan", "ship it")
    assert record["created_at"] == "2023-11-14T22:13:20.000000000Z"
    assert kas("task", "show", "big-plan.md").stdout == plan.read_text()
    r = kas("task", "update-content", "big-plan", input="# New\n**Goal:** better\n")
    assert r.stdout == "updated content for big-plan\n"
    assert json.loads(kas("task", "show", "big-plan", "--json").stdout)["goal"] == "better"
    assert kas("task", "update-content", "big-plan", input="   ").returncode == 2
    kas("task", "create", "empty")
    assert json.loads(kas("task", "show", "empty", "--json").stdout)["content"] == ""
    r = kas("task", "show", "empty")
    assert (r.returncode, r.stderr.splitlines()[0].split(";")[0]) == (3, "error: no content stored for empty")
    r = kas("task", "delete", "big-plan")
    assert r.returncode == 2 and "pass --yes" in r.stderr
    assert kas("task", "delete", "big-plan", "--yes").stdout == "deleted big-plan\n"
    r = kas("task", "show", "big-plan")
    assert r.returncode == 3 and r.stderr.startswith("error: task not found: big-plan")


def test_duplicate_and_unknown(kas, repo: Path) -> None:
    kas("task", "create", "dup")
    r = kas("task", "create", "dup")
    assert r.returncode == 5 and r.stderr.startswith(f"error: plan already exists: {repo.name}/dup")
    assert kas("task", "transition", "ghost", "cancel").returncode == 3
    assert kas("task", "transition", "dup", "launch").returncode == 2
    assert kas("task", "register", "/nonexistent/x.md").returncode == 3


def test_outside_a_repository(kas, tmp_path: Path) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    for args in (("task", "list"), ("signal", "emit", "plan-start", "x"), ("audit", "list")):
        r = kas(*args, cwd=outside)
        assert r.returncode == 8
        assert r.stderr == "error: kas must be run from within a git repository\n"


def test_worktree_resolves_main_repo_and_project(kas, repo: Path, tmp_path: Path) -> None:
    kas("task", "create", "shared")
    worktree = repo / ".worktrees" / "plan-shared"
    git(repo, "worktree", "add", "-q", "-b", "plan/shared", str(worktree))
    sub = worktree / "deep" / "dir"
    sub.mkdir(parents=True)
    assert "shared" in kas("task", "list", cwd=sub).stdout
    # A different repository with another basename is another project.
    other = make_repo(tmp_path / "other")
    assert kas("task", "list", cwd=other).stdout == "no tasks found\n"


def test_audit_list(kas) -> None:
    kas("task", "create", "a1")
    kas("task", "transition", "a1", "plan-start")
    out = kas("audit", "list").stdout.splitlines()
    assert out[0].split() == ["TIME", "EVENT", "DETAILS"]
    assert "plan_transition" in out[1] and "ready → planning" in out[1]
    events = json.loads(kas("audit", "list", "--event", "plan_created", "--json").stdout)
    assert [e["kind"] for e in events] == ["plan_created"]
    r = kas("audit", "list", "--limit", "0")
    assert r.returncode == 2 and r.stderr.startswith("error: limit must be > 0")
    assert kas("audit", "list", "--event", "nothing").stdout == "no audit entries found\n"
