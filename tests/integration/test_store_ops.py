"""Store ops on a real SQLite file: idempotency keys, group commit, repositories, outbox execution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kasmos.supervisor.errors import Conflict, NotFound
from kasmos.supervisor.protocol import Request
from kasmos.workers.store.ops import OPS, StoreContext
from tests.conftest import make_repo
from tests.faults.helpers import query


@pytest.fixture
def ctx(opened_store) -> StoreContext:
    return StoreContext(opened_store)


def _repo(tmp_path: Path, name: str = "proj") -> str:
    return str(make_repo(tmp_path / name))


def test_an_idempotency_key_runs_a_write_once(ctx: StoreContext, tmp_path: Path, store_path: Path) -> None:
    repo = _repo(tmp_path)
    OPS.call(ctx, "task.create", {"repo": repo, "name": "t"})
    args = {"repo": repo, "type": "plan-start", "task": "t"}
    first = OPS.call(ctx, "signal.emit", args, idem="key-1")
    again = OPS.call(ctx, "signal.emit", args, idem="key-1")
    other = OPS.call(ctx, "signal.emit", args, idem="key-2")
    assert first == again and other["id"] != first["id"]
    assert query(store_path, "SELECT count(*) FROM signals")[0][0] == 2
    # A failed write stores nothing under its key: a retry runs it again.
    with pytest.raises(NotFound):
        OPS.call(ctx, "signal.emit", {**args, "task": "ghost"}, idem="key-3")
    assert query(store_path, "SELECT idem FROM requests ORDER BY idem") == [("key-1",), ("key-2",)]


def test_the_first_op_from_a_repository_registers_it(ctx: StoreContext, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    OPS.call(ctx, "task.list", {"repo": repo})
    assert OPS.call(ctx, "repo.list", {}) == [
        {"project": "proj", "path": repo, "added_at": OPS.call(ctx, "repo.list", {})[0]["added_at"]}
    ]
    twin = _repo(tmp_path / "b")
    with pytest.raises(Conflict, match="two repositories are named 'proj'"):
        OPS.call(ctx, "task.list", {"repo": twin})
    # A registration whose directory is gone gives way (the repository moved).
    OPS.call(ctx, "repo.remove", {"path": repo})
    OPS.call(ctx, "repo.add", {"path": repo})
    (Path(repo) / ".git").rename(Path(repo).parent / "moved.git")
    Path(repo, "README").unlink()
    Path(repo).rmdir()
    assert OPS.call(ctx, "repo.add", {"path": twin})["added"] is True
    with pytest.raises(NotFound):
        OPS.call(ctx, "repo.remove", {"path": "/nowhere/else"})


def test_outbox_entries_execute_once(ctx: StoreContext, tmp_path: Path, store_path: Path) -> None:
    repo = _repo(tmp_path)
    OPS.call(ctx, "task.create", {"repo": repo, "name": "t"})
    OPS.call(ctx, "signal.emit", {"repo": repo, "type": "plan-start", "task": "t"})
    done = OPS.call(ctx, "signal.process", {"project": "proj"})
    assert [p["transition"] for p in done["processed"]] == [["ready", "planning"]]
    pending = OPS.call(ctx, "outbox.pending", {})
    assert [p["kind"] for p in pending] == ["agent.spawn"]
    first = OPS.call(ctx, "outbox.execute", {"id": pending[0]["id"]})
    second = OPS.call(ctx, "outbox.execute", {"id": pending[0]["id"]})
    assert (first["status"], first["repeated"], second["repeated"]) == ("done", False, True)
    assert query(store_path, "SELECT attempts, status FROM outbox") == [(1, "done")]
    instances = OPS.call(ctx, "instance.list", {"project": "proj"})
    assert [(i["title"], i["role"], i["status"]) for i in instances] == [
        ("t-plan", "planner", "pending-launch")
    ]
    assert OPS.call(ctx, "outbox.pending", {}) == []


def test_a_batch_of_requests_commits_once_and_failures_roll_back_alone(
    opened_store, tmp_path: Path, store_path: Path
) -> None:
    from kasmos.workers.store import worker

    repo = _repo(tmp_path)
    ctx = StoreContext(opened_store)
    OPS.call(ctx, "task.create", {"repo": repo, "name": "t"})
    handled = []

    def fake_serve(service, name, endpoint, epoch, ops, handle):
        handled.extend(
            handle(
                [
                    Request(id="a", op="signal.emit", args={"repo": repo, "type": "plan-start", "task": "t"}),
                    Request(id="b", op="signal.emit", args={"repo": repo, "type": "plan-start", "task": "x"}),
                    Request(id="c", op="task.create", args={"repo": repo, "name": "u"}),
                ]
            )
        )
        return 0

    original = worker.shell.serve
    worker.shell.serve = fake_serve
    try:
        assert worker.main(["--endpoint", "ipc:///nowhere", "--name", "store", "--epoch", "e"]) == 0
    finally:
        worker.shell.serve = original
    assert [reply.ok for reply, _ in handled] == [True, False, True]
    assert [[e.kind for e in events] for _, events in handled] == [["signal.emitted"], [], ["task.created"]]
    assert query(store_path, "SELECT count(*) FROM signals")[0][0] == 1
    assert json.loads(handled[1][0].model_dump_json())["error"]["code"] == "not_found"
