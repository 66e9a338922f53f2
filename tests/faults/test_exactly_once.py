"""Exactly-once signal processing under contention and kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import KAS
from tests.faults.helpers import process_state, query, retry_until

CLAIM = "UPDATE signals SET status='processing', claimed_by=?, claimed_at=? WHERE id=?"
EMITTER = Path(__file__).parents[1] / "fakes" / "cli_emitter.py"


def _planning_tasks(kas, names: list[str]) -> None:
    for name in names:
        assert kas("task", "create", name).returncode == 0
        assert kas("task", "set-status", name, "planning", "--force").returncode == 0


def _assert_each_applied_once(db: Path, expected: int) -> None:
    statuses = dict(query(db, "SELECT status, count(*) FROM signals GROUP BY status"))
    assert statuses == {"done": expected}, statuses
    per_signal = Counter(r[0] for r in query(db, "SELECT signal_id FROM outbox"))
    assert len(per_signal) == expected and set(per_signal.values()) == {1}
    transitions = query(
        db,
        "SELECT json_extract(detail, '$.signal_id') FROM audit_events WHERE kind = 'plan_transition' "
        "AND json_extract(detail, '$.signal_id') IS NOT NULL",
    )
    assert Counter(r[0] for r in transitions).most_common(1)[0][1] == 1
    assert len(transitions) == expected


@pytest.mark.slow
def test_twenty_emitters_two_claimers(kas, repo: Path, store_path: Path) -> None:
    emitters, per_emitter = 20, 500
    names = [f"task-{i:02d}" for i in range(emitters)]
    _planning_tasks(kas, names)
    # Output goes to files: a pipe nobody reads would fill and block the claimer.
    logs = [(repo.parent / f"claimer{i}.out", repo.parent / f"claimer{i}.err") for i in range(2)]
    claimers = [
        subprocess.Popen(
            [str(KAS), "signal", "process", "--interval", "0.05"],
            cwd=repo,
            stdout=out.open("w"),
            stderr=err.open("w"),
        )
        for out, err in logs
    ]
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, str(EMITTER), str(repo), name, str(per_emitter)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in names
        ]
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        total = emitters * per_emitter
        assert sum(r["ok"] for r in reports) == total, [r for r in reports if r["failed"]]
        assert sum(r["locked"] for r in reports) == 0
        drained = retry_until(
            lambda: query(store_path, "SELECT count(*) FROM signals WHERE status != 'done'") == [(0,)],
            timeout=300,
        )
        assert drained
    finally:
        for proc in claimers:
            proc.send_signal(signal.SIGTERM)
        for proc in claimers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(claimers, logs, strict=True):
        assert proc.returncode == 0 and err.read_text() == "", err.read_text()
    _assert_each_applied_once(store_path, total)
    owners = {r[0] for r in query(store_path, "SELECT DISTINCT claimed_by FROM signals")}
    assert len(owners) == 2, owners  # both claimers took part


def test_sigkill_inside_claim_transaction_loses_and_repeats_nothing(
    kas, repo: Path, store_path: Path
) -> None:
    _planning_tasks(kas, ["auth"])
    kas("task", "set-status", "auth", "reviewing", "--force")
    kas("signal", "emit", "review-changes", "auth", "--payload", "add tests")
    before = query(store_path, "SELECT status, review_cycle, latest_review_feedback FROM tasks")
    proc = subprocess.Popen(
        [str(KAS), "signal", "process", "--once"],
        cwd=repo,
        env={**os.environ, "KASMOS_FAULT": "claim.before_commit"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # The process stops itself after every write of the claim, before COMMIT.
        assert retry_until(lambda: process_state(proc.pid) == "T", timeout=30)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert query(store_path, "SELECT status, claimed_by FROM signals") == [("pending", "")]
    assert query(store_path, "SELECT status, review_cycle, latest_review_feedback FROM tasks") == before
    assert query(store_path, "SELECT count(*) FROM outbox") == [(0,)]
    assert query(store_path, "SELECT count(*) FROM audit_events WHERE kind = 'signal_processed'") == [(0,)]
    out = kas("signal", "process", "--once").stdout
    assert "review_changes_requested auth: reviewing → implementing" in out
    assert query(store_path, "SELECT status, review_cycle, latest_review_feedback FROM tasks") == [
        ("implementing", 1, "add tests")
    ]
    assert query(store_path, "SELECT kind, status FROM outbox") == [("agent.spawn", "pending")]


@pytest.mark.slow
def test_random_sigkills_during_processing(kas, repo: Path, store_path: Path) -> None:
    names = ["k1", "k2", "k3"]
    _planning_tasks(kas, names)
    total = 0
    for name in names:
        proc = subprocess.run(
            [sys.executable, str(EMITTER), str(repo), name, "400"], capture_output=True, text=True
        )
        total += json.loads(proc.stdout)["ok"]
    rng = random.Random(1234)
    kills = 0
    for _ in range(12):
        proc = subprocess.Popen(
            [str(KAS), "signal", "process", "--interval", "0.01"],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(rng.uniform(0.35, 0.8))
        proc.kill()
        proc.wait()
        kills += 1
        # A stale WAL and a killed writer never corrupt the store.
        assert query(store_path, "PRAGMA quick_check") == [("ok",)]
    assert kills == 12
    assert kas("signal", "process", "--once").returncode == 0
    _assert_each_applied_once(store_path, total)


def test_reaper_returns_dead_owners_claims(kas, repo: Path, store_path: Path, opened_store) -> None:
    from kasmos.workers.store import signals, timefmt
    from kasmos.workers.store.owner import current_owner

    _planning_tasks(kas, ["auth"])
    for _ in range(3):
        kas("signal", "emit", "plan-start", "auth")
    old = timefmt.ago(120)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    claims = [
        (f"daemon:{repo.name}:{dead.stdout.strip()}", old, 1),  # reference daemon, gone
        (current_owner(), old, 2),  # alive: this test process
        ("kas:otherhost:1:1", old, 3),  # another machine: only its own host can judge
    ]
    for owner, at, sid in claims:
        query(store_path, CLAIM, (owner, at, sid))
    assert signals.reap_stale_claims(opened_store) == 1
    assert query(store_path, "SELECT id, status FROM signals ORDER BY id") == [
        (1, "pending"),
        (2, "processing"),
        (3, "processing"),
    ]
    # A young claim is left alone even when its owner is dead.
    query(store_path, CLAIM, ("daemon:x:999999999", timefmt.now(), 1))
    assert signals.reap_stale_claims(opened_store) == 0
    assert signals.reap_stale_claims(opened_store, older_than=0) == 1
