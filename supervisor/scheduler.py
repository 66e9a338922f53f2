"""Turning signals into transitions, and outbox entries into effects, through the store worker.

The scheduler never touches the store itself: it sends internal requests to the store worker and
continues from their replies (callbacks on the supervisor's loop, so nothing blocks).

- ``kick(project)`` drains a project: ``signal.process`` (one transaction per signal, up to 64 per
  request) until nothing is pending; a kick that arrives while a drain runs makes it go round once
  more, so a signal emitted through the daemon is processed at once, without polling.
- After a batch that wrote side effects, and at boot, ``outbox.pending`` is read and every entry
  executed (``outbox.execute`` is idempotent in the store: a replay never repeats an effect).
- ``tick()`` (every poll interval) bridges sentinel files of all registered repositories, kicks
  every project that has pending signals (written while the daemon was down, or by other tools) and
  executes outbox entries still pending (left by a store worker that died mid-way).
- ``boot()``: reclaim claims of dead owners, replay the outbox, bridge sentinels (recovering files a
  dead bridge left in ``processing/``), then drain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kasmos.supervisor.protocol import Reply
from kasmos.workers.store.processor import ProcessorSettings

log = logging.getLogger("kasmos.scheduler")

Send = Callable[[str, dict[str, Any], Callable[[Reply], None]], bool]

BATCH = 64


class Scheduler:
    def __init__(self, send: Send, settings: Callable[[str], ProcessorSettings]) -> None:
        self.send = send
        self.settings = settings
        self.repos: dict[str, str] = {}  # project → path
        self._draining: set[str] = set()
        self._again: set[str] = set()
        self._outbox_running = False
        self._outbox_again = False
        self._refreshing = False
        self._refresh_again = False
        self.booted = False
        self.processed = 0

    # -- draining signals --------------------------------------------------------------------------

    def kick(self, project: str) -> None:
        if project in self._draining:
            self._again.add(project)
            return
        self._draining.add(project)
        self._process(project)

    def _process(self, project: str) -> None:
        args = {"project": project, "settings": self.settings(project).model_dump(), "max": BATCH}
        self.send("signal.process", args, lambda reply: self._processed(project, reply))

    def _processed(self, project: str, reply: Reply) -> None:
        if not reply.ok:
            log.warning("processing %s failed: %s", project, reply.error.message if reply.error else "?")
            self._draining.discard(project)
            self._again.discard(project)
            return
        done = reply.result["processed"]
        self.processed += len(done)
        if any(item["effects"] for item in done):
            self.run_outbox()
        if reply.result["more"] or project in self._again:
            self._again.discard(project)
            self._process(project)
        else:
            self._draining.discard(project)

    @property
    def idle(self) -> bool:
        return not self._draining and not self._outbox_running

    # -- outbox ------------------------------------------------------------------------------------

    def run_outbox(self) -> None:
        if self._outbox_running:
            self._outbox_again = True
            return
        self._outbox_running = True
        self.send("outbox.pending", {"limit": 500}, self._pending)

    def _pending(self, reply: Reply) -> None:
        items = reply.result if reply.ok else []
        if not items:
            self._outbox_done()
            return
        remaining = {item["id"] for item in items}

        def executed(entry_id: int, answer: Reply) -> None:
            if not answer.ok and answer.error is not None:
                log.warning("outbox entry %d: %s", entry_id, answer.error.message)
            remaining.discard(entry_id)
            if not remaining:
                self._outbox_running = False
                if not failed:
                    self.run_outbox()  # there may be more than one page

        failed = False

        def executed_or_stop(entry_id: int, answer: Reply) -> None:
            nonlocal failed
            if not answer.ok and answer.error is not None and answer.error.retryable:
                failed = True  # the store went away: the boot of its successor replays the outbox
            executed(entry_id, answer)

        for item in items:
            entry_id = item["id"]
            self.send("outbox.execute", {"id": entry_id}, lambda r, i=entry_id: executed_or_stop(i, r))

    def _outbox_done(self) -> None:
        self._outbox_running = False
        if self._outbox_again:
            self._outbox_again = False
            self.run_outbox()

    # -- periodic work and boot --------------------------------------------------------------------

    def set_repos(self, repos: list[dict[str, Any]]) -> None:
        self.repos = {r["project"]: r["path"] for r in repos}

    def refresh_repos(self, then: Callable[[], None] | None = None) -> None:
        """Re-read the registered repositories. Calls while a read is in flight coalesce into one more
        read after it (a burst of requests from a new repository costs two reads, not one each)."""
        if self._refreshing and then is None:
            self._refresh_again = True
            return
        self._refreshing = True

        def got(reply: Reply) -> None:
            self._refreshing = False
            if reply.ok:
                self.set_repos(reply.result)
            if then:
                then()
            if self._refresh_again:
                self._refresh_again = False
                self.refresh_repos()

        self.send("repo.list", {}, got)

    def tick(self) -> None:
        self.send("signal.bridge", {"repos": list(self.repos.values())}, self._bridged)
        self.run_outbox()  # self-healing: entries a crashed store worker left pending

    def _bridged(self, reply: Reply) -> None:
        if not reply.ok and reply.error is not None:
            log.warning("bridging sentinels failed: %s", reply.error.message)
        self.send("signal.pending_projects", {}, self._kick_pending)

    def _kick_pending(self, reply: Reply) -> None:
        for project in reply.result if reply.ok else []:
            self.kick(project)

    def reap(self) -> None:
        self.send("signal.reap", {}, lambda reply: None)

    def boot(self, done: Callable[[], None]) -> None:
        """Reclaim dead claims → replay outbox → bridge (recovering) → drain; ``done`` after the bridge."""

        def reclaimed(reply: Reply) -> None:
            if reply.ok and reply.result["reclaimed"]:
                log.info("reclaimed %d signal claim(s) of a dead daemon", reply.result["reclaimed"])
            self.run_outbox()
            self.refresh_repos(bridge)

        def bridge() -> None:
            self.send("signal.bridge", {"repos": list(self.repos.values()), "recover": True}, bridged)

        def bridged(reply: Reply) -> None:
            self.booted = True
            done()
            self._bridged(reply)

        self.send("signal.reap", {"older_than": 0}, reclaimed)

    def project_path(self, project: str) -> Path | None:
        path = self.repos.get(project)
        return Path(path) if path else None


class SettingsCache:
    """Processor settings per project: daemon.toml overridden by the repository's ``[ui]`` keys, re-read
    when its ``.kasmos/config.toml`` changes. A broken project config is logged and ignored."""

    def __init__(self, daemon_config: Callable[[], Any], repo_path: Callable[[str], Path | None]) -> None:
        self.daemon_config = daemon_config
        self.repo_path = repo_path
        self._cache: dict[str, tuple[int, ProcessorSettings]] = {}

    def clear(self) -> None:
        self._cache.clear()

    def get(self, project: str) -> ProcessorSettings:
        from kasmos.supervisor.config import load_project_config
        from kasmos.supervisor.errors import KasError

        path = self.repo_path(project)
        config_file = path / ".kasmos" / "config.toml" if path else None
        try:
            mtime = config_file.stat().st_mtime_ns if config_file else 0
        except OSError:
            mtime = 0
        cached = self._cache.get(project)
        if cached and cached[0] == mtime:
            return cached[1]
        ui = None
        if config_file and mtime:
            try:
                ui = load_project_config(config_file).ui
            except KasError as exc:
                log.error("%s; using daemon.toml settings for %s", exc.one_line(), project)
        settings = ProcessorSettings.of(self.daemon_config(), ui)
        self._cache[project] = (mtime, settings)
        return settings
