"""Orphan ``kas_*`` tmux sessions: sessions with kasmos' prefix that no instance record owns.

:func:`classify` is pure. :func:`owned_sessions` reads the store read-only (the store worker stays
the only writer). A foreign session (no ``kas_`` prefix) is never listed, adopted or killed.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from kasmos.supervisor.errors import InvalidArgument, NotFound
from kasmos.supervisor.paths import store_path
from kasmos.workers.session.tmux import SESSION_PREFIX, SessionRow, Tmux

RELEASED = ("killed", "paused")


def classify(rows: list[SessionRow], owned: set[str]) -> list[SessionRow]:
    return [r for r in rows if r.name.startswith(SESSION_PREFIX) and r.name not in owned]


def owned_sessions() -> set[str]:
    path = store_path()
    if not path.exists():
        return set()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute(
            f"SELECT tmux_session FROM instances WHERE tmux_session != '' AND status NOT IN {RELEASED!r}"
        ).fetchall()
    except sqlite3.OperationalError:
        return set()
    finally:
        db.close()
    return {row[0] for row in rows}


def describe(row: SessionRow, humans: dict[str, int], now: float) -> dict[str, Any]:
    return {
        "name": row.name,
        "title": row.name[len(SESSION_PREFIX) :],
        "windows": row.windows,
        "attached": humans.get(row.name, 0),
        "created": row.created,
        "age_s": max(0, int(now - row.created)),
    }


def scan(tmux: Tmux) -> list[dict[str, Any]]:
    rows = classify(tmux.sessions(), owned_sessions())
    humans = tmux.human_clients() if rows else {}
    now = time.time()
    return [describe(row, humans, now) for row in rows]


def require_orphan(tmux: Tmux, session: str) -> SessionRow:
    if not session.startswith(SESSION_PREFIX):
        raise InvalidArgument(
            f"{session!r} is not a kasmos session (no {SESSION_PREFIX} prefix); kasmos never touches it"
        )
    for row in classify(tmux.sessions(), owned_sessions()):
        if row.name == session:
            return row
    if tmux.has_session(session):
        raise InvalidArgument(
            f"tmux session {session} belongs to an instance", hint="see `kas instance list`"
        )
    raise NotFound(f"orphan tmux session not found: {session}", hint="see `kas tmux list`")


def inspect(tmux: Tmux, session: str) -> dict[str, Any]:
    require_orphan(tmux, session)
    fields = tmux.display(
        f"={session}:", "#{pane_current_path}\t#{pane_current_command}\t#{pane_pid}\t#{pane_start_command}"
    ).split("\t")
    env = {k: v for k, v in tmux.environment(session).items() if k.startswith("KASMOS_")}
    return {
        "session": session,
        "path": fields[0],
        "command": fields[1] if len(fields) > 1 else "",
        "pid": int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else 0,
        "start_command": fields[3] if len(fields) > 3 else "",
        "env": env,
    }
