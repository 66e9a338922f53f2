"""Fault points for kill -9 tests: ``KASMOS_FAULT=<point>`` makes the process stop itself (SIGSTOP)
when it reaches ``<point>``, so a test can SIGKILL it at exactly that instant. Unset, a fault point
costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

_ARMED = os.environ.get("KASMOS_FAULT", "")


def point(name: str) -> None:
    if _ARMED and name == _ARMED:
        os.kill(os.getpid(), signal.SIGSTOP)


def crash_point(name: str) -> None:
    """``KASMOS_FAULT=crash:<point>``: exit at once with status 3 (a worker that crashes at start)."""
    if f"crash:{name}" == _ARMED:
        os._exit(3)
