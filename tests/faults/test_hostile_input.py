"""Hostile names, read-only and corrupt stores, garbage input: clear errors, nothing executed,
nothing written outside `.kasmos/` and the store, no data lost."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from tests.faults.helpers import query

HOSTILE = [
    "; rm -rf ~",
    "$(id)",
    "`touch pwned`",
    "../../etc",
    "a\nb",
    "x" * 300,
    "日本語のタスク",
    "-rf",
    "--help",
]


def tree(root: Path, skip: tuple[str, ...]) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if str(rel / d) not in skip and d != ".git"]
        found.update(str(rel / f) for f in filenames)
    return found


def test_hostile_task_names(kas, repo: Path, tmp_path: Path) -> None:
    canary = tmp_path / "home" / "canary"
    canary.write_text("still here")
    skip = ("home/.config", "proj/.kasmos")
    before = tree(tmp_path, skip)
    stored = []
    for name in HOSTILE:
        r = kas("task", "create", "--", name)
        if r.returncode == 0:
            stored.append(name)
            assert r.stdout == f"created: {name} → ready\n"
        else:
            assert r.returncode == 2, r.stderr
            assert r.stderr.startswith("error: invalid task name") and r.stderr.count("\n") == 1
    assert stored == ["; rm -rf ~", "$(id)", "`touch pwned`", "日本語のタスク", "-rf", "--help"]
    listed = [t["filename"] for t in json.loads(kas("task", "list", "--json").stdout)]
    assert sorted(listed) == sorted(stored)
    for name in stored:
        assert kas("signal", "emit", "plan-start", "--", name).returncode == 0
        assert kas("task", "transition", "--", name, "cancel").returncode == 0
    out = kas("signal", "process", "--once").stdout
    assert "processed 6 signal(s)" in out  # cancel has no gateway signal
    # Branches are sanitised into valid refs.
    for record in json.loads(kas("task", "list", "--status", "cancelled", "--json").stdout):
        assert record["branch"].startswith("plan/") and " " not in record["branch"]
    assert kas("task", "create", "ok", "--branch", "../../etc").returncode == 2
    assert canary.read_text() == "still here"
    assert tree(tmp_path, skip) == before
    assert not (repo / "pwned").exists() and not Path("pwned").exists()


def test_hostile_sentinel_files(kas, repo: Path, tmp_path: Path) -> None:
    kas("task", "create", "$(id)")
    assert kas("task", "set-status", "$(id)", "planning", "--force").returncode == 0
    signals = repo / ".kasmos" / "signals"
    signals.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("top secret")
    (signals / "planner-finished-$(id)").write_text("; rm -rf ~")
    (signals / "review-changes-leak").symlink_to(secret)
    (signals / "review-approved-..").write_text("")
    (signals / ("planner-finished-" + "y" * 230)).write_text("")
    (signals / "implement-wave-99999999999999999999-x").write_text("")
    (signals / "review-changes-big").write_bytes(b"x" * (300 * 1024))
    (signals / "review-changes-bin").write_bytes(b"\xff\xfe\x00")
    before = tree(tmp_path, ("proj/.kasmos", "home/.config"))
    out = kas("signal", "process", "--once").stdout
    assert "planner_finished $(id): planning → ready" in out
    failed = signals / "failed"
    reasons = {p.name: p.read_text() for p in failed.glob("*.reason")}
    assert reasons["review-changes-leak.reason"] == "symlinks are not accepted as sentinels\n"
    assert "invalid task name" in reasons["review-approved-...reason"]
    assert reasons["planner-finished-" + "y" * 230 + ".reason"] == "cannot claim: File name too long\n"
    assert len(reasons) == 6 and not list(signals.glob("*-*"))
    assert secret.read_text() == "top secret"
    assert "top secret" not in json.dumps(query_all(repo))
    assert tree(tmp_path, ("proj/.kasmos", "home/.config")) == before


def query_all(repo: Path) -> list:
    db = Path(os.environ["XDG_CONFIG_HOME"]) / "kasmos" / "taskstore.db"
    return query(db, "SELECT payload FROM signals") + query(db, "SELECT latest_review_feedback FROM tasks")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_only_store(kas, store_path: Path) -> None:
    kas("task", "create", "keep")
    kas("signal", "emit", "plan-start", "keep")
    os.chmod(store_path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        before = digest(store_path)
        for args in (
            ("task", "create", "new"),
            ("signal", "emit", "plan-start", "keep"),
            ("task", "transition", "keep", "cancel"),
            ("signal", "process", "--once"),
        ):
            r = kas(*args)
            assert r.returncode == 6, (args, r.stderr)
            assert r.stderr.startswith(f"error: task store {store_path} is read-only")
            assert r.stderr.count("\n") == 1 and "chmod u+w" in r.stderr
        # Reading still works.
        assert "keep" in kas("task", "list").stdout
        assert digest(store_path) == before
    finally:
        os.chmod(store_path, 0o600)
    assert query(store_path, "PRAGMA integrity_check") == [("ok",)]
    assert query(store_path, "SELECT filename, status FROM tasks") == [("keep", "ready")]
    assert query(store_path, "SELECT count(*) FROM signals WHERE status = 'pending'") == [(1,)]


@pytest.mark.parametrize("garbage", [b"this is not a database at all" * 100, os.urandom(8192)])
def test_corrupt_store_file(kas, store_path: Path, garbage: bytes) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_bytes(garbage)
    r = kas("task", "list")
    assert r.returncode == 7
    assert r.stderr.startswith(f"error: task store {store_path} is corrupt or not a SQLite database")
    assert r.stderr.count("\n") == 1
    assert store_path.read_bytes() == garbage


def test_store_dir_unwritable(kas, env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the config dir should be")
    r = kas("task", "list", extra_env={"XDG_CONFIG_HOME": str(blocker)})
    assert r.returncode != 0 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr


def test_garbage_payloads_and_args(kas) -> None:
    kas("task", "create", "t")
    for args in (
        ("signal", "emit", "implement-task-finished", "t", "--payload", '{"wave_number": "1"}'),
        ("signal", "emit", "verify-approved", "t", "--payload", '{"reviewed_sha": "HEAD"}'),
        ("signal", "emit", "elaborator-finished", "t", "--payload", "x"),
        ("signal", "emit", "plan-start", "t", "--payload", "\x01\x02 binary-ish"),
        ("signal", "list", "--status", "weird"),
        ("task", "list", "--status", "weird"),
        ("task", "set-status", "t", "weird", "--force"),
    ):
        r = kas(*args)
        if args[2] == "plan-start":
            assert r.returncode == 0  # arbitrary text is wrapped as a JSON body
            continue
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
