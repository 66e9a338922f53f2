"""The scheduler's request choreography, driven with a fake store that answers on demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kasmos.supervisor.errors import Unavailable
from kasmos.supervisor.protocol import Reply
from kasmos.supervisor.scheduler import BATCH, Scheduler
from kasmos.workers.store.processor import ProcessorSettings


class FakeStore:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], Callable[[Reply], None]]] = []

    def send(self, op: str, args: dict[str, Any], callback: Callable[[Reply], None]) -> bool:
        self.sent.append((op, args, callback))
        return True

    def ops(self) -> list[str]:
        return [op for op, _, _ in self.sent]

    def answer(self, op: str, result: Any) -> dict[str, Any]:
        index = next(i for i, (name, _, _) in enumerate(self.sent) if name == op)
        _, args, callback = self.sent.pop(index)
        callback(Reply.success("x", result))
        return args

    def fail(self, op: str) -> None:
        index = next(i for i, (name, _, _) in enumerate(self.sent) if name == op)
        _, _, callback = self.sent.pop(index)
        callback(Reply.failure("x", Unavailable("store worker went away")))


def processed(n: int, effects: int = 0) -> dict[str, Any]:
    return {"processed": [{"effects": effects}] * n, "more": n == BATCH}


def make() -> tuple[Scheduler, FakeStore]:
    store = FakeStore()
    return Scheduler(store.send, lambda project: ProcessorSettings(auto_advance=False)), store


def test_kicks_while_draining_coalesce_into_one_more_pass() -> None:
    scheduler, store = make()
    scheduler.kick("p")
    scheduler.kick("p")
    scheduler.kick("p")
    assert store.ops() == ["signal.process"]
    args = store.answer("signal.process", processed(1))
    assert args["project"] == "p" and args["settings"]["auto_advance"] is False and args["max"] == BATCH
    assert store.ops() == ["signal.process"]  # the kicks that came meanwhile: one more pass
    store.answer("signal.process", processed(0))
    assert store.ops() == [] and scheduler.idle and scheduler.processed == 1


def test_a_full_batch_asks_again_and_effects_run_the_outbox() -> None:
    scheduler, store = make()
    scheduler.kick("p")
    store.answer("signal.process", processed(BATCH, effects=1))
    assert sorted(store.ops()) == ["outbox.pending", "signal.process"]
    store.answer("outbox.pending", [{"id": 7}, {"id": 8}])
    assert store.ops().count("outbox.execute") == 2
    assert store.answer("outbox.execute", {}) == {"id": 7}
    assert "outbox.pending" not in store.ops()  # not before every entry is back
    store.answer("outbox.execute", {})
    assert "outbox.pending" in store.ops()  # next page
    store.answer("outbox.pending", [])
    store.answer("signal.process", processed(0))
    assert store.ops() == [] and scheduler.idle


def test_a_failed_batch_stops_draining_and_a_later_kick_starts_again() -> None:
    scheduler, store = make()
    scheduler.kick("p")
    scheduler.kick("p")
    store.fail("signal.process")
    assert store.ops() == [] and scheduler.idle
    scheduler.kick("p")
    assert store.ops() == ["signal.process"]


def test_outbox_stops_after_the_worker_dies_and_resumes_on_the_next_run() -> None:
    scheduler, store = make()
    scheduler.run_outbox()
    store.answer("outbox.pending", [{"id": 1}, {"id": 2}])
    store.fail("outbox.execute")
    store.fail("outbox.execute")
    assert store.ops() == [] and scheduler.idle
    scheduler.run_outbox()
    assert store.ops() == ["outbox.pending"]


def test_boot_order_reclaim_outbox_bridge_then_drain() -> None:
    scheduler, store = make()
    booted: list[bool] = []
    scheduler.boot(lambda: booted.append(True))
    assert store.ops() == ["signal.reap"]
    assert store.answer("signal.reap", {"reclaimed": 2, "expired_requests": 0}) == {"older_than": 0}
    assert sorted(store.ops()) == ["outbox.pending", "repo.list"]
    store.answer("repo.list", [{"project": "p", "path": "/r/p"}])
    bridge = store.answer("signal.bridge", {})
    assert bridge == {"repos": ["/r/p"], "recover": True} and booted == [True] and scheduler.booted
    store.answer("signal.pending_projects", ["p", "q"])
    assert store.ops().count("signal.process") == 2


def test_repo_refreshes_coalesce_while_one_is_in_flight() -> None:
    scheduler, store = make()
    for _ in range(5):
        scheduler.refresh_repos()
    assert store.ops() == ["repo.list"]
    store.answer("repo.list", [])
    assert store.ops() == ["repo.list"]  # one more read for the calls that came meanwhile
    store.answer("repo.list", [{"project": "p", "path": "/r/p"}])
    assert store.ops() == [] and scheduler.repos == {"p": "/r/p"}
