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
