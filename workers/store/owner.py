"""Claim owners: who holds a signal claim, and whether that process still lives.

An owner id is ``kas:<host>:<pid>:<starttime>`` where starttime is field 22 of ``/proc/<pid>/stat``
(clock ticks since boot), so a recycled pid is never mistaken for the claimer. Reference-kasmos
owners (``daemon:<project>:<pid>``) are understood by their trailing pid.
"""

from __future__ import annotations

import os
import socket


def _stat_fields(pid: int) -> list[bytes]:
    """Fields 3… of ``/proc/<pid>/stat`` (state first); [] when there is no such process or no /proc.

    The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return []
    return data[data.rfind(b")") + 2 :].split()


def process_start_ticks(pid: int) -> int:
    """Start time of ``pid`` in clock ticks since boot; 0 if unknown."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return 0


def current_owner(role: str = "kas") -> str:
    pid = os.getpid()
    return f"{role}:{socket.gethostname()}:{pid}:{process_start_ticks(pid)}"


def owner_alive(owner: str) -> bool:
    """False when the owner's process is gone (or its pid was recycled); True if it may live.

    An owner on another host, or one we cannot parse, is treated as alive: only age can free it.
    """
    parts = owner.split(":")
    if parts[0] == "kas" and len(parts) >= 4:
        host, pid_text, ticks_text = parts[1], parts[-2], parts[-1]
        if host != socket.gethostname():
            return True
    elif parts and parts[-1].isdigit():
        pid_text, ticks_text = parts[-1], "0"
    else:
        return True
    try:
        pid, ticks = int(pid_text), int(ticks_text)
    except ValueError:
        return True
    return process_alive(pid, ticks)


def process_alive(pid: int, ticks: int = 0) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``ticks`` is given, started at that time."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat_fields(pid)
    if fields[:1] == [b"Z"]:
        return False
    return not (ticks and len(fields) > 19 and int(fields[19]) != ticks)
