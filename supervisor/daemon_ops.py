"""The supervisor's own ops (``daemon.*``), answered on its loop without any worker.

ping → ``{pid, epoch, version}``; status → pid, uptime, version, workers (state, pid, restarts,
last exit), repositories; reload → re-read daemon.toml (a bad file is refused and the old
configuration kept); restart_worker ``{name}`` → clear a worker's restart history and (re)start it;
stop → reply, then shut down gracefully.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kasmos.supervisor import __version__
from kasmos.supervisor import process_state as ps
from kasmos.supervisor.errors import NotFound
from kasmos.supervisor.ops import Args, NoArgs, OpTable
from kasmos.supervisor.paths import store_path

if TYPE_CHECKING:
    from kasmos.supervisor.daemon import Daemon

OPS: OpTable[Daemon] = OpTable("daemon")


@OPS.op("daemon.ping", NoArgs)
def ping(daemon: Daemon, args: NoArgs) -> dict[str, Any]:
    return {"pid": daemon.pid, "epoch": daemon.epoch, "version": __version__}


@OPS.op("daemon.status", NoArgs)
def status(daemon: Daemon, args: NoArgs) -> dict[str, Any]:
    now = time.monotonic()
    return {
        "pid": daemon.pid,
        "epoch": daemon.epoch,
        "version": __version__,
        "started_at": daemon.started_at,
        "uptime_s": round(now - daemon.started, 3),
        "runtime_dir": str(daemon.runtime.root),
        "store": str(store_path()),
        "config": str(daemon.config_path),
        "stopping": daemon.stopping,
        "workers": [slot.snapshot(now) for slot in daemon.table.slots.values()],
        "repos": [{"project": p, "path": path} for p, path in sorted(daemon.scheduler.repos.items())],
        "signals_processed": daemon.scheduler.processed,
    }


@OPS.op("daemon.reload", NoArgs)
def reload(daemon: Daemon, args: NoArgs) -> dict[str, Any]:
    return daemon.reload()


class WorkerName(Args):
    name: str


@OPS.op("daemon.restart_worker", WorkerName)
def restart_worker(daemon: Daemon, args: WorkerName) -> dict[str, Any]:
    slot = daemon.table.slots.get(args.name)
    if slot is None:
        names = ", ".join(sorted(daemon.table.slots))
        raise NotFound(f"no worker named {args.name!r}", hint=f"workers: {names}")
    now = time.monotonic()
    previous = slot.state.value
    if slot.state in (ps.State.RUNNING, ps.State.STARTING):
        slot.fsm.clear(now)
        daemon.table.kill_now(slot)  # exits, then restarts after the first (cleared) backoff step
    else:
        daemon.table.apply(slot, slot.fsm.clear(now), now)
    return {"name": args.name, "previous": previous, "state": slot.state.value}


@OPS.op("daemon.stop", NoArgs)
def stop(daemon: Daemon, args: NoArgs) -> dict[str, Any]:
    return {"pid": daemon.pid, "stopping": True}
