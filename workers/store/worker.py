"""The store worker: the daemon's only writer of the task store, serving :mod:`ops` on ``work.sock``.

Run by the supervisor as ``python -m kasmos.workers.store.worker --endpoint E --name store --epoch X``.
"""

from __future__ import annotations

import sys

from kasmos.supervisor.paths import store_path
from kasmos.supervisor.protocol import Event, Reply, Request
from kasmos.workers import shell
from kasmos.workers.store import faults
from kasmos.workers.store.db import Store
from kasmos.workers.store.ops import OPS, StoreContext


def main(argv: list[str] | None = None) -> int:
    shell.setup_logging()
    endpoint, name, epoch = shell.worker_args(sys.argv[1:] if argv is None else argv)
    faults.crash_point("store.start")
    store = Store(store_path()).open()
    context = StoreContext(store)

    def handle(request: Request) -> Reply:
        reply = OPS.dispatch(context, request)
        if not reply.ok:
            context.events.clear()  # the op rolled back: what it announced did not happen
        return reply

    def take_events() -> list[Event]:
        events, context.events = context.events, []
        return events

    try:
        return shell.serve("store", name, endpoint, epoch, OPS.names, handle, take_events)
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
