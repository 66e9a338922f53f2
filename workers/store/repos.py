"""Repositories registered with the daemon, persisted in the ``repos`` table.

The project name of a repository is its directory's basename, and tasks are keyed by project, so two
registered repositories may not share a basename: the second gets a ``conflict`` error naming both. A
registration whose directory no longer exists is replaced silently (the repository moved).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from kasmos.supervisor.errors import Conflict, NotFound
from kasmos.workers.store import timefmt
from kasmos.workers.store.db import Store


class RepoRecord(BaseModel):
    project: str
    path: str
    added_at: str


def _row(store: Store, project: str) -> tuple[str, str, str] | None:
    return store.execute("SELECT project, path, added_at FROM repos WHERE project = ?", (project,)).fetchone()


def lookup(store: Store, root: Path) -> RepoRecord | None:
    with store.read():
        row = _row(store, root.name)
    return RepoRecord(project=row[0], path=row[1], added_at=row[2]) if row else None


def register(store: Store, root: Path) -> tuple[RepoRecord, bool]:
    """Register ``root`` (idempotent). Returns (record, whether it was added now)."""
    path = str(root)
    with store.write():
        row = _row(store, root.name)
        if row is not None and row[1] == path:
            return RepoRecord(project=row[0], path=row[1], added_at=row[2]), False
        if row is not None and Path(row[1]).is_dir():
            raise Conflict(
                f"two repositories are named {root.name!r}: {row[1]} (registered) and {path}",
                hint="the project name must be unique: rename one of the directories, "
                f"or `kas daemon remove {row[1]}`",
            )
        now = timefmt.now()
        store.execute("DELETE FROM repos WHERE project = ? OR path = ?", (root.name, path))
        store.execute("INSERT INTO repos (project, path, added_at) VALUES (?, ?, ?)", (root.name, path, now))
        return RepoRecord(project=root.name, path=path, added_at=now), True


def unregister(store: Store, path_or_project: str) -> RepoRecord:
    with store.write():
        row = store.execute(
            "SELECT project, path, added_at FROM repos WHERE path = ? OR project = ?",
            (path_or_project, Path(path_or_project).name if "/" in path_or_project else path_or_project),
        ).fetchone()
        if row is None:
            raise NotFound(f"repository not registered: {path_or_project}", hint="see `kas daemon status`")
        store.execute("DELETE FROM repos WHERE project = ?", (row[0],))
    return RepoRecord(project=row[0], path=row[1], added_at=row[2])


def list_repos(store: Store) -> list[RepoRecord]:
    with store.read():
        rows = store.execute("SELECT project, path, added_at FROM repos ORDER BY project").fetchall()
    return [RepoRecord(project=r[0], path=r[1], added_at=r[2]) for r in rows]
