"""Opening the task store: pragmas, read-only detection, migrations, error translation.

SQLite in WAL mode, ``synchronous=NORMAL``, ``busy_timeout=30000``, foreign keys on; every write
transaction is ``BEGIN IMMEDIATE`` (peewee ``lock_type``), so a read-then-write never fails with
"database is locked" under contention. A store file without write permission bits is opened with
``mode=ro`` even by root, so ``chmod a-w taskstore.db`` really protects it.

SQLite errors leave this module as :class:`KasError` with one clear line: read-only, locked,
corrupt, disk full, cannot open.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import peewee

from kasmos.supervisor.errors import KasError, ReadOnly, Unavailable
from kasmos.workers.store import models, schema

BUSY_TIMEOUT_S = 30.0


def _is_read_only(path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return not (st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) or not os.access(path, os.W_OK)


def translate(exc: BaseException, path: Path) -> KasError:
    """Turn a SQLite/peewee error into one clear KasError line."""
    text = str(exc)
    low = text.lower()
    if "readonly" in low or "read-only" in low:
        return ReadOnly(
            f"task store {path} is read-only ({text})",
            hint=f"make it writable (chmod u+w {path}) or use a writable XDG_CONFIG_HOME",
        )
    if "locked" in low or "busy" in low:
        return Unavailable(
            f"task store {path} stayed locked for {BUSY_TIMEOUT_S:.0f}s ({text})",
            hint="another process holds a write lock; retry, or find it with `fuser` on the file",
        )
    if "malformed" in low or "not a database" in low or "encrypted" in low:
        return Unavailable(
            f"task store {path} is corrupt or not a SQLite database ({text})",
            hint="move it aside and restore a backup; kas will create a new empty store",
        )
    if "full" in low:
        return Unavailable(f"task store {path}: disk is full ({text})", hint="free some disk space and retry")
    if "unable to open" in low or "disk i/o" in low:
        return Unavailable(
            f"cannot open task store {path} ({text})", hint="check that its directory exists and is writable"
        )
    return Unavailable(f"task store {path}: {text}", hint="check the file and retry")


class Store:
    """One open task store. Models are bound to it while it is open (one store per process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_only = _is_read_only(path)
        if not self.read_only:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = f"file:{path}?mode=ro" if self.read_only else str(path)
        pragmas: dict[str, object] = {
            "synchronous": "normal",
            "foreign_keys": 1,
            "busy_timeout": int(BUSY_TIMEOUT_S * 1000),
        }
        if not self.read_only:  # setting WAL writes; a read-only open reads whatever mode the file has
            pragmas = {"journal_mode": "wal", **pragmas}
        self.db = peewee.SqliteDatabase(
            target,
            uri=self.read_only,
            timeout=BUSY_TIMEOUT_S,
            lock_type="IMMEDIATE",
            pragmas=pragmas,
            autoconnect=False,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def open(self) -> Store:
        with self.errors():
            self.db.connect(reuse_if_open=True)
            models.database.initialize(self.db)
            self._migrate()
        return self

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        conn: sqlite3.Connection = self.db.connection()
        if schema.current_version(conn) >= schema.SCHEMA_VERSION:
            return
        if self.read_only:
            raise ReadOnly(
                f"task store {self.path} is read-only and needs a schema upgrade",
                hint=f"make it writable once (chmod u+w {self.path}) so kas can migrate it",
            )
        with self.db.atomic():
            if schema.current_version(conn) < schema.SCHEMA_VERSION:
                schema.migrate(conn)

    # -- transactions --------------------------------------------------------------------------

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except KasError:
            raise
        except (peewee.DatabaseError, sqlite3.Error) as exc:
            raise translate(exc, self.path) from None

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """A BEGIN IMMEDIATE transaction with SQLite errors translated."""
        with self.errors(), self.db.atomic():
            yield

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self.errors():
            yield

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """Run constant SQL on the open connection (inside the current transaction, if any)."""
        return self.db.connection().execute(sql, params)
