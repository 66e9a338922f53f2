"""Helpers for fault tests: waiting on conditions, process states, database snapshots."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path


def retry_until(check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.02) -> bool:
    """Poll ``check`` until it is true or ``timeout`` passes (instead of fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def process_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return ""
    return data[data.rfind(b")") + 2 :].split()[0].decode()


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one statement on its own connection and commit; returns its rows."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()
