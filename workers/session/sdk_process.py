"""Process plumbing for sdk agents: dying with the session worker, and ending leftovers of a dead one.

An sdk agent is the session worker's child. ``die_with_parent`` (a ``preexec_fn``) sets
``PR_SET_PDEATHSIG`` to SIGKILL, so the agent dies with its worker however the worker ends (kill -9
included); a restarted worker relaunches it with the stored resume id. ``end_orphans`` is the safety
net for whatever still survives (a grandchild, an agent of an older daemon): processes are matched by
their environment (``KASMOS_MANAGED=1``, ``KASMOS_PROJECT``, ``KASMOS_INSTANCE_ID``), never by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from typing import Any

import psutil

from kasmos.workers.session import launch

PR_SET_PDEATHSIG = 1
STOP_WAIT_S = 2.0
_LIBC = ctypes.CDLL(None, use_errno=True)


def die_with_parent(parent: int) -> Any:
    def setup() -> None:  # runs in the child between fork and exec
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return setup


def end_orphans(spec: launch.LaunchSpec) -> list[int]:
    """End leftover agents of this instance (a dead worker's children that survived it), found by
    their environment — ``KASMOS_MANAGED=1`` with this project and instance id — never by name."""
    ended: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if (
            env.get("KASMOS_MANAGED") == "1"
            and env.get("KASMOS_INSTANCE_ID") == spec.instance_id
            and env.get("KASMOS_PROJECT") == spec.project
        ):
            with contextlib.suppress(psutil.Error):
                proc.terminate()
                ended.append(proc)
    _, alive = psutil.wait_procs(ended, timeout=STOP_WAIT_S)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return [p.pid for p in ended]
