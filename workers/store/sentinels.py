"""Legacy filesystem sentinels (reference section 5.5): ``<dir>/.kasmos/signals/<name>``.

Names: ``planner-finished-<task>``, ``implement-finished-<task>``, ``review-approved-<task>``,
``review-changes-<task>`` (the trimmed body is the feedback), ``implement-task-finished-w<N>-t<M>-<task>``,
``implement-wave-<N>-<task>``, ``elaborator-finished-<task>``. Dot-files and directories are ignored.

Bridging moves a file into ``processing/`` first (atomic rename, so two bridges never take the same
file), inserts a pending signal row, then deletes the file. A file that cannot become a signal
(unknown name, unknown task, symlink, oversized body) is dead-lettered into ``failed/`` with a
``<name>.reason`` file. At start, files left in ``processing/`` by a crash are moved back.
Nothing is written outside ``.kasmos/signals/``.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from kasmos.supervisor.errors import KasError
from kasmos.supervisor.paths import Repo
from kasmos.workers.store import names
from kasmos.workers.store.db import Store
from kasmos.workers.store.models import Task
from kasmos.workers.store.owner import owner_alive, process_start_ticks
from kasmos.workers.store.signal_types import SignalType, normalize_payload
from kasmos.workers.store.signals import insert_signal

MAX_BODY_BYTES = 256 * 1024

_PREFIXES: tuple[tuple[str, SignalType], ...] = (
    ("planner-finished-", SignalType.PLANNER_FINISHED),
    ("implement-finished-", SignalType.IMPLEMENT_FINISHED),
    ("review-approved-", SignalType.REVIEW_APPROVED),
    ("review-changes-", SignalType.REVIEW_CHANGES_REQUESTED),
    ("elaborator-finished-", SignalType.ELABORATOR_FINISHED),
)
_TASK_FINISHED = re.compile(r"^implement-task-finished-w(\d+)-t(\d+)-(.+)$", re.DOTALL)
_WAVE = re.compile(r"^implement-wave-(\d+)-(.+)$", re.DOTALL)


@dataclass(frozen=True)
class Sentinel:
    signal_type: SignalType
    task: str
    payload: str


class SentinelError(ValueError):
    pass


def parse(filename: str, body: str) -> Sentinel:
    """Map a sentinel file name and body to a signal. Raises SentinelError with the reason."""
    name = os.path.basename(filename)
    match = _TASK_FINISHED.match(name)
    if match:
        wave, task_no, task = int(match.group(1)), int(match.group(2)), match.group(3)
        if wave < 1 or task_no < 1:
            raise SentinelError("wave and task numbers must be ≥ 1")
        payload = json.dumps({"wave_number": wave, "task_number": task_no})
        return Sentinel(SignalType.IMPLEMENT_TASK_FINISHED, _task(task), payload)
    match = _WAVE.match(name)
    if match:
        wave = int(match.group(1))
        if wave < 1:
            raise SentinelError("wave number must be ≥ 1")
        return Sentinel(SignalType.IMPLEMENT_WAVE, _task(match.group(2)), json.dumps({"wave_number": wave}))
    for prefix, kind in _PREFIXES:
        if name.startswith(prefix):
            text = "" if kind is SignalType.ELABORATOR_FINISHED else body.strip()
            try:
                payload = normalize_payload(kind, text)
            except KasError as exc:
                raise SentinelError(exc.message) from None
            return Sentinel(kind, _task(name[len(prefix) :]), payload)
    raise SentinelError(f"unrecognised sentinel name {name!r}")


def _task(text: str) -> str:
    clean = names.strip_md(text)
    why = names.problem(clean)
    if why:
        raise SentinelError(f"invalid task name {clean!r}: {why}")
    return clean


def signal_dirs(repo: Repo) -> list[Path]:
    """The repo's ``.kasmos/signals`` and every ``.worktrees/*/.kasmos/signals`` that exists."""
    dirs = [repo.signals_dir]
    if repo.worktrees_dir.is_dir():
        for child in sorted(repo.worktrees_dir.iterdir()):
            candidate = child / ".kasmos" / "signals"
            if child.is_dir() and not child.is_symlink() and candidate.is_dir():
                dirs.append(candidate)
    return dirs


def ensure_dirs(directory: Path) -> None:
    for sub in (directory, directory / "processing", directory / "failed"):
        sub.mkdir(parents=True, exist_ok=True)


_CLAIM_TAG = re.compile(r"^(\d+)-(\d+)~(.+)$", re.DOTALL)


def _claim_name(name: str) -> str:
    pid = os.getpid()
    return f"{pid}-{process_start_ticks(pid)}~{name}"


def _original_name(claimed: str) -> tuple[str, str | None]:
    """(original name, owner id) of a file in ``processing/``; untagged files have no owner."""
    match = _CLAIM_TAG.match(claimed)
    if not match:
        return claimed, None
    return match.group(3), f"kas:{socket.gethostname()}:{match.group(1)}:{match.group(2)}"


def recover_in_flight(directory: Path) -> int:
    """Move files that a crashed bridge left in ``processing/`` back into the signals dir.

    Files claimed by a bridge that is still running are left alone.
    """
    processing = directory / "processing"
    moved = 0
    if not processing.is_dir():
        return 0
    for entry in processing.iterdir():
        if entry.name.startswith(".") or entry.is_dir():
            continue
        original, owner = _original_name(entry.name)
        if owner is not None and owner_alive(owner):
            continue
        try:
            os.replace(entry, directory / original)
            moved += 1
        except OSError:
            continue
    return moved


def pending_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        entry
        for entry in directory.iterdir()
        if not entry.name.startswith(".") and (entry.is_symlink() or entry.is_file())
    )


def _dead_letter(directory: Path, claimed: Path, reason: str) -> None:
    failed = directory / "failed"
    failed.mkdir(exist_ok=True)
    original, _ = _original_name(claimed.name)
    try:
        os.replace(claimed, failed / original)
        (failed / f"{original}.reason").write_text(reason + "\n", encoding="utf-8")
    except OSError:
        return


@dataclass(frozen=True)
class Bridged:
    file: str
    signal_id: int | None
    error: str = ""


def _read_body(claimed: Path) -> str:
    if claimed.is_symlink():
        raise SentinelError("symlinks are not accepted as sentinels")
    size = claimed.stat().st_size
    if size > MAX_BODY_BYTES:
        raise SentinelError(f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return claimed.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SentinelError("body is not UTF-8 text") from None


def bridge_dir(store: Store, project: str, directory: Path) -> list[Bridged]:
    """Turn every sentinel file of ``directory`` into a pending signal row (or dead-letter it)."""
    results: list[Bridged] = []
    files = pending_files(directory)
    if not files:
        return results
    (directory / "processing").mkdir(exist_ok=True)
    for entry in files:
        claimed = directory / "processing" / _claim_name(entry.name)
        try:
            os.rename(entry, claimed)
        except FileNotFoundError:
            continue  # another bridge took it
        except OSError as exc:  # e.g. a name too long to carry the claim tag
            reason = f"cannot claim: {exc.strerror}"
            _dead_letter(directory, entry, reason)
            results.append(Bridged(entry.name, None, reason))
            continue
        try:
            sentinel = parse(entry.name, _read_body(claimed))
            with store.write():
                exists = (
                    Task.select(Task.id)
                    .where((Task.project == project) & (Task.filename == sentinel.task))
                    .exists()
                )
                if not exists:
                    raise SentinelError(f"task not found: {sentinel.task}")
                signal_id = insert_signal(
                    project, sentinel.task, sentinel.signal_type.value, sentinel.payload
                )
        except SentinelError as exc:
            _dead_letter(directory, claimed, str(exc))
            results.append(Bridged(entry.name, None, str(exc)))
            continue
        claimed.unlink(missing_ok=True)
        results.append(Bridged(entry.name, signal_id))
    return results


def bridge_repo(store: Store, repo: Repo, *, recover: bool = True) -> list[Bridged]:
    results: list[Bridged] = []
    for directory in signal_dirs(repo):
        if recover:
            recover_in_flight(directory)
        results.extend(bridge_dir(store, repo.project, directory))
    return results
