"""The store's DDL and its idempotent migrations.

Tables and columns follow the reference kasmos schema (``tasks``, ``topics``, ``subtasks``,
``pr_reviews``, ``signals``, ``audit_events``) so an existing kasmos store opens as is; kasmos adds
``instances`` (durable agent records), ``outbox`` (pending side effects), ``repos`` (repositories
registered with the daemon; the project name is unique) and ``requests`` (the stored replies of
mutating requests that carried an idempotency key, so a retried request is answered, not re-run).
Times are TEXT RFC3339Nano UTC with ``''`` for zero.

Migrations run on open: rename a legacy ``plans`` table, create what is missing, add missing columns
(``PRAGMA table_info``), create indexes, strip ``.md`` from task names. ``PRAGMA user_version`` marks
a store already at :data:`SCHEMA_VERSION` so a normal open costs one pragma read.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 4

_T = "TEXT NOT NULL DEFAULT ''"
_I = "INTEGER NOT NULL DEFAULT 0"

# Column definitions per table, in order; the first entries are the primary key and identity.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "tasks": [
        ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        ("project", "TEXT NOT NULL"),
        ("filename", "TEXT NOT NULL"),
        ("status", "TEXT NOT NULL DEFAULT 'ready'"),
        ("description", _T),
        ("branch", _T),
        ("topic", _T),
        ("created_at", _T),
        ("implemented", _T),
        ("planning_at", _T),
        ("implementing_at", _T),
        ("reviewing_at", _T),
        ("verifying_at", _T),
        ("done_at", _T),
        ("execution_phase", _T),
        ("active_agent_type", _T),
        ("active_wave", _I),
        ("goal", _T),
        ("content", _T),
        ("clickup_task_id", _T),
        ("linear_issue_id", _T),
        ("linear_identifier", _T),
        ("linear_url", _T),
        ("linear_team_key", _T),
        ("linear_project_id", _T),
        ("review_cycle", _I),
        ("latest_review_feedback", _T),
        ("pr_url", _T),
        ("pr_review_decision", _T),
        ("pr_check_status", _T),
        ("pr_create_state", _T),
        ("pr_create_error", _T),
        ("pr_create_attempted_at", _T),
        ("pr_create_attempts", _I),
        ("verified_sha", _T),
        ("verified_base_sha", _T),
        ("verified_at", _T),
        ("verified_by", _T),
        ("stale_verification_reason", _T),
        ("blocked_reason", _T),
        ("blocked_source", _T),
        ("blocked_at", _T),
    ],
    "topics": [
        ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        ("project", "TEXT NOT NULL"),
        ("name", "TEXT NOT NULL"),
        ("created_at", _T),
    ],
    "subtasks": [
        ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        ("project", "TEXT NOT NULL"),
        ("plan_filename", "TEXT NOT NULL"),
        ("task_number", "INTEGER NOT NULL"),
        ("title", _T),
        ("status", "TEXT NOT NULL DEFAULT 'pending'"),
    ],
    "pr_reviews": [
        ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        ("project", "TEXT NOT NULL"),
        ("plan_filename", "TEXT NOT NULL"),
        ("review_id", _I),
        ("review_state", _T),
        ("review_body", _T),
        ("reviewer_login", _T),
        ("reaction_posted", _I),
        ("fixer_dispatched", _I),
        ("created_at", _T),
    ],
    "signals": [
        ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        ("project", _T),
        ("plan_file", _T),
        ("signal_type", _T),
        ("payload", _T),
        ("status", "TEXT NOT NULL DEFAULT 'pending'"),
        ("created_at", _T),
        ("claimed_by", _T),
        ("claimed_at", _T),
        ("processed_at", _T),
        ("result", _T),
    ],
    "audit_events": [
        ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        ("kind", "TEXT NOT NULL"),
        ("timestamp", "TEXT NOT NULL"),
        ("project", _T),
        ("plan_file", _T),
        ("instance_title", _T),
        ("agent_type", _T),
        ("wave_number", _I),
        ("task_number", _I),
        ("message", _T),
        ("detail", _T),
        ("level", "TEXT NOT NULL DEFAULT 'info'"),
    ],
    "instances": [
        ("id", "TEXT PRIMARY KEY"),
        ("title", "TEXT NOT NULL"),
        ("project", "TEXT NOT NULL"),
        ("task_file", _T),
        ("role", _T),
        ("program", _T),
        ("execution_mode", "TEXT NOT NULL DEFAULT 'tmux'"),
        ("worktree_path", _T),
        ("branch", _T),
        ("tmux_session", _T),
        ("tmux_socket", _T),
        ("repo_path", _T),
        ("pid", _I),
        ("pid_started_at", "REAL NOT NULL DEFAULT 0"),
        ("resume_id", _T),
        ("model", _T),
        ("skip_permissions", _I),
        ("status", "TEXT NOT NULL DEFAULT 'created'"),
        ("restart_count", _I),
        ("last_exit_code", "INTEGER"),
        ("created_at", _T),
        ("updated_at", _T),
        ("started_at", _T),
        ("exited_at", _T),
    ],
    "outbox": [
        ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        ("project", "TEXT NOT NULL"),
        ("task_file", _T),
        ("signal_id", _I),
        ("kind", "TEXT NOT NULL"),
        ("idem_key", "TEXT NOT NULL"),
        ("payload", _T),
        ("status", "TEXT NOT NULL DEFAULT 'pending'"),
        ("attempts", _I),
        ("last_error", _T),
        ("created_at", _T),
        ("updated_at", _T),
    ],
    "repos": [
        ("project", "TEXT PRIMARY KEY"),
        ("path", "TEXT NOT NULL UNIQUE"),
        ("added_at", _T),
    ],
    "requests": [
        ("idem", "TEXT PRIMARY KEY"),
        ("op", _T),
        ("result", _T),
        ("created_at", _T),
    ],
}

TABLE_CONSTRAINTS: dict[str, list[str]] = {
    "tasks": ["UNIQUE(project, filename)"],
    "topics": ["UNIQUE(project, name)"],
    "subtasks": [
        "UNIQUE(project, plan_filename, task_number)",
        "FOREIGN KEY(project, plan_filename) REFERENCES tasks(project, filename) ON DELETE CASCADE",
    ],
    "pr_reviews": [
        "UNIQUE(project, plan_filename, review_id)",
        "FOREIGN KEY(project, plan_filename) REFERENCES tasks(project, filename) ON DELETE CASCADE",
    ],
    "instances": ["UNIQUE(project, title)"],
    "outbox": ["UNIQUE(signal_id, kind, idem_key)"],
}

INDEXES: list[str] = [
    "CREATE INDEX IF NOT EXISTS idx_tasks_linear_issue_id ON tasks(project, linear_issue_id)",
    "CREATE INDEX IF NOT EXISTS idx_signals_project_status_created_at "
    "ON signals(project, status, created_at, id)",
    "CREATE INDEX IF NOT EXISTS idx_audit_events_project_timestamp ON audit_events(project, timestamp DESC)",
    "CREATE INDEX IF NOT EXISTS idx_audit_events_plan_file_timestamp "
    "ON audit_events(plan_file, timestamp DESC)",
    "CREATE INDEX IF NOT EXISTS idx_signals_status_project ON signals(status, project)",
    "CREATE INDEX IF NOT EXISTS idx_instances_project_status ON instances(project, status)",
    "CREATE INDEX IF NOT EXISTS idx_outbox_status_id ON outbox(status, id)",
    "CREATE INDEX IF NOT EXISTS idx_outbox_idem_key ON outbox(idem_key)",
]


def create_table_sql(table: str) -> str:
    parts = [f"{name} {decl}" for name, decl in COLUMNS[table]]
    parts.extend(TABLE_CONSTRAINTS.get(table, []))
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(parts) + "\n)"


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _addable(decl: str) -> str:
    """ALTER TABLE ADD COLUMN cannot add PRIMARY KEY / UNIQUE or NOT NULL without a default."""
    if "NOT NULL" in decl and "DEFAULT" not in decl:
        kind = decl.split()[0]
        return f"{kind} NOT NULL DEFAULT {'0' if kind == 'INTEGER' else chr(39) * 2}"
    return decl


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Bring the schema up to date. Call inside a write transaction. Returns what was done."""
    done: list[str] = []
    # Renaming task keys updates parent and child rows in turn: check foreign keys at commit.
    conn.execute("PRAGMA defer_foreign_keys = ON")
    tables = _tables(conn)
    if "plans" in tables and "tasks" not in tables:
        conn.execute("ALTER TABLE plans RENAME TO tasks")
        done.append("renamed plans to tasks")
        tables = _tables(conn)
    for table in COLUMNS:
        if table not in tables:
            conn.execute(create_table_sql(table))
            done.append(f"created {table}")
            continue
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, decl in COLUMNS[table]:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {_addable(decl)}")
                done.append(f"added {table}.{name}")
    for statement in INDEXES:
        conn.execute(statement)
    renamed = conn.execute(
        "UPDATE OR IGNORE tasks SET filename = substr(filename, 1, length(filename) - 3) "
        "WHERE filename LIKE '%.md'"
    ).rowcount
    conn.execute(
        "UPDATE OR IGNORE subtasks SET plan_filename = substr(plan_filename, 1, length(plan_filename) - 3) "
        "WHERE plan_filename LIKE '%.md'"
    )
    if renamed:
        done.append(f"stripped .md from {renamed} task name(s)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return done
