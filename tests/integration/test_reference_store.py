"""An existing kasmos store (reference DDL, written from the schema tables of the reference doc)
opens as is: migrated idempotently, listed, transitioned and signalled through the real CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

# The reference schema as the Go store creates it, at an older version: the table is still called
# `plans`, several newer columns are missing, and filenames still carry `.md`.
REFERENCE_DDL = """
CREATE TABLE plans (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project TEXT NOT NULL,
  filename TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'ready',
  description TEXT NOT NULL DEFAULT '',
  branch TEXT NOT NULL DEFAULT '',
  topic TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT '',
  implemented TEXT NOT NULL DEFAULT '',
  planning_at TEXT NOT NULL DEFAULT '',
  implementing_at TEXT NOT NULL DEFAULT '',
  reviewing_at TEXT NOT NULL DEFAULT '',
  done_at TEXT NOT NULL DEFAULT '',
  execution_phase TEXT NOT NULL DEFAULT '',
  active_agent_type TEXT NOT NULL DEFAULT '',
  active_wave INTEGER NOT NULL DEFAULT 0,
  goal TEXT NOT NULL DEFAULT '',
  content TEXT NOT NULL DEFAULT '',
  review_cycle INTEGER NOT NULL DEFAULT 0,
  UNIQUE(project, filename)
);
CREATE TABLE topics (
  id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, name TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT '', UNIQUE(project, name)
);
CREATE TABLE subtasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, plan_filename TEXT NOT NULL,
  task_number INTEGER NOT NULL, title TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'pending',
  UNIQUE(project, plan_filename, task_number),
  FOREIGN KEY(project, plan_filename) REFERENCES plans(project, filename) ON DELETE CASCADE
);
CREATE TABLE signals (
  id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL DEFAULT '',
  plan_file TEXT NOT NULL DEFAULT '', signal_type TEXT NOT NULL DEFAULT '',
  payload TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'pending',
  created_at TEXT NOT NULL DEFAULT '', claimed_by TEXT NOT NULL DEFAULT '',
  claimed_at TEXT NOT NULL DEFAULT '',
  processed_at TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_signals_project_status_created_at ON signals(project, status, created_at, id);
CREATE TABLE audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, timestamp TEXT NOT NULL,
  project TEXT NOT NULL DEFAULT '', plan_file TEXT NOT NULL DEFAULT '',
  instance_title TEXT NOT NULL DEFAULT '',
  agent_type TEXT NOT NULL DEFAULT '', wave_number INTEGER NOT NULL DEFAULT 0,
  task_number INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',
  level TEXT NOT NULL DEFAULT 'info'
);
"""


def build_reference_store(path: Path, project: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA journal_mode=wal;" + REFERENCE_DDL)
    conn.executemany(
        "INSERT INTO plans (project, filename, status, branch, created_at, planning_at, content, "
        "execution_phase) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                project,
                "auth-refactor.md",
                "planning",
                "plan/auth-refactor",
                "2025-03-10T12:00:00.5Z",
                "2025-03-10T12:01:00Z",
                "# Auth\n",
                "",
            ),
            (project, "payments.md", "ready", "plan/payments", "2025-03-11T09:00:00Z", "", "", "planned"),
            (project, "old.md", "done", "plan/old", "2025-01-01T00:00:00Z", "", "", ""),
            ("someone-else", "auth-refactor.md", "implementing", "", "", "", "", ""),
        ],
    )
    conn.execute(
        "INSERT INTO subtasks (project, plan_filename, task_number, title) VALUES (?, 'payments.md', 1, 'x')",
        (project,),
    )
    conn.execute(
        "INSERT INTO signals (project, plan_file, signal_type, status, created_at) "
        "VALUES (?, 'payments', 'implement_start', 'pending', '2025-03-11T09:05:00Z')",
        (project,),
    )
    conn.execute(
        "INSERT INTO audit_events (kind, timestamp, project, plan_file, message) "
        "VALUES ('plan_created', '2025-03-10T12:00:00Z', ?, 'auth-refactor', 'created')",
        (project,),
    )
    conn.commit()
    conn.close()


@pytest.fixture
def reference_store(repo: Path, store_path: Path) -> Path:
    build_reference_store(store_path, repo.name)
    return store_path


def test_reference_store_opens_lists_transitions_emits(kas, repo: Path, reference_store: Path) -> None:
    listed = json.loads(kas("task", "list", "--json").stdout)
    assert [(t["filename"], t["status"]) for t in listed] == [
        ("auth-refactor", "planning"),
        ("old", "done"),
        ("payments", "ready"),
    ]
    assert listed[2]["lifecycle"] == "planned"
    assert kas("task", "show", "auth-refactor").stdout == "# Auth\n"
    assert kas("task", "transition", "auth-refactor", "planner-finished").stdout == "auth-refactor → ready\n"
    assert kas("signal", "emit", "plan-start", "payments").returncode == 0
    out = kas("signal", "process", "--once").stdout
    # The reference row (older, pending) is applied first, then ours.
    assert out.splitlines()[:2] == [
        "implement_start payments: ready → implementing",
        'failed: plan_start payments: invalid transition: "implementing" + "plan_start"',
    ]
    audit = kas("audit", "list").stdout
    assert "created" in audit and "planning → ready" in audit

    conn = sqlite3.connect(reference_store)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"tasks", "topics", "subtasks", "signals", "audit_events", "instances", "outbox"} <= tables
    assert "plans" not in tables
    columns = {r[1] for r in conn.execute("PRAGMA table_info(tasks)")}
    assert {
        "verifying_at",
        "blocked_reason",
        "verified_sha",
        "pr_create_attempts",
        "linear_issue_id",
    } <= columns
    # The subtask's foreign key followed the rename and its .md was stripped.
    assert conn.execute("SELECT plan_filename FROM subtasks").fetchall() == [("payments",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    # Another project's row is untouched.
    other = conn.execute("SELECT filename, status FROM tasks WHERE project='someone-else'").fetchall()
    assert other == [("auth-refactor", "implementing")]
    conn.close()


def test_migrations_are_idempotent(reference_store: Path) -> None:
    from kasmos.workers.store import schema

    conn = sqlite3.connect(reference_store)
    first = schema.migrate(conn)
    assert "renamed plans to tasks" in first and "added tasks.verifying_at" in first
    dump = list(conn.iterdump())
    assert [step for step in schema.migrate(conn) if not step.startswith("stripped")] == []
    assert list(conn.iterdump()) == dump
    conn.close()


def test_delete_cascades_subtasks(kas, repo: Path, reference_store: Path) -> None:
    assert kas("task", "delete", "payments", "--yes").returncode == 0
    conn = sqlite3.connect(reference_store)
    assert conn.execute("SELECT count(*) FROM subtasks").fetchone() == (0,)
    conn.close()
