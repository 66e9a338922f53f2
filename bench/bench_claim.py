"""Claim-and-apply rate of the store vs. the floor: raw sqlite3 doing the same statements in one
BEGIN IMMEDIATE transaction per signal, in the same run, on the same kind of file. Goal: ≥ 0.5×.

The floor runs exactly what one claim writes: claim the oldest pending row (UPDATE … RETURNING),
read the task, update its lifecycle columns, insert one outbox row and two audit rows, mark the
signal done, commit.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path


def seed(db: Path, signals: int) -> None:
    from kasmos.workers.store import timefmt
    from kasmos.workers.store.db import Store

    with Store(db) as store, store.write():
        store.execute(
            "INSERT INTO tasks (project, filename, status, created_at) "
            "VALUES ('bench', 'task', 'planning', ?)",
            (timefmt.now(),),
        )
        now = timefmt.now()
        store.db.connection().executemany(
            "INSERT INTO signals (project, plan_file, signal_type, status, created_at) "
            "VALUES ('bench', 'task', 'plan_start', 'pending', ?)",
            [(now,)] * signals,
        )


def run_kasmos(db: Path) -> tuple[int, float]:
    from kasmos.workers.store.db import Store
    from kasmos.workers.store.processor import ProcessorSettings
    from kasmos.workers.store.signals import process_next

    settings = ProcessorSettings()
    with Store(db) as store:
        start = time.perf_counter()
        n = 0
        while process_next(store, "bench", settings, "bench:owner") is not None:
            n += 1
        return n, time.perf_counter() - start


def run_floor(db: Path) -> tuple[int, float]:
    from kasmos.workers.store import timefmt

    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    n = 0
    start = time.perf_counter()
    while True:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "UPDATE signals SET status='processing', claimed_by=?, claimed_at=? "
            "WHERE id=(SELECT id FROM signals WHERE project=? AND status='pending' "
            "ORDER BY created_at, id LIMIT 1) AND status='pending' "
            "RETURNING id, plan_file, signal_type, payload",
            ("floor", timefmt.now(), "bench"),
        ).fetchone()
        if row is None:
            conn.execute("COMMIT")
            break
        sid, task = row[0], row[1]
        conn.execute(
            "SELECT id, status, execution_phase, active_agent_type, active_wave, review_cycle "
            "FROM tasks WHERE project=? AND filename=?",
            ("bench", task),
        ).fetchone()
        now = timefmt.now()
        conn.execute(
            "UPDATE tasks SET status=?, execution_phase='', active_agent_type='', active_wave=0, "
            "planning_at=? WHERE project=? AND filename=?",
            ("planning", now, "bench", task),
        )
        conn.execute(
            "INSERT INTO outbox (project, task_file, signal_id, kind, idem_key, payload, created_at, "
            "updated_at) VALUES (?, ?, ?, 'agent.spawn', 'bench:task:planner', '{}', ?, ?)",
            ("bench", task, sid, now, now),
        )
        for kind in ("plan_transition", "signal_processed"):
            conn.execute(
                "INSERT INTO audit_events (kind, timestamp, project, plan_file, message, detail) "
                "VALUES (?, ?, 'bench', ?, 'm', '{}')",
                (kind, now, task),
            )
        conn.execute("UPDATE signals SET status='done', result='', processed_at=? WHERE id=?", (now, sid))
        conn.execute("COMMIT")
        n += 1
    elapsed = time.perf_counter() - start
    conn.close()
    return n, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signals", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"floor": [], "kasmos": []}
    with tempfile.TemporaryDirectory(prefix="kas-bench-") as tmp:
        for rep in range(args.reps):
            for name, runner in (("floor", run_floor), ("kasmos", run_kasmos)):
                db = Path(tmp) / f"{name}-{rep}.db"
                seed(db, args.signals)
                n, elapsed = runner(db)
                assert n == args.signals, (name, n)
                rates[name].append(n / elapsed)
                os.sync()
    floor, ours = statistics.median(rates["floor"]), statistics.median(rates["kasmos"])
    version = sys.version.split()[0]
    print(f"claim-and-apply, {args.signals} signals x {args.reps} reps (median), python {version}")
    print(
        f"  floor  raw sqlite3 BEGIN IMMEDIATE, same statements : {floor:8.0f} signals/s "
        f"({1000 / floor:.3f} ms each)"
    )
    print(
        f"  kasmos process_next (peewee, processor, outbox)    : {ours:8.0f} signals/s "
        f"({1000 / ours:.3f} ms each)"
    )
    print(f"  ratio kasmos/floor = {ours / floor:.2f}x  (goal >= 0.5x)")


if __name__ == "__main__":
    main()
