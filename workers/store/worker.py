"""The store worker: the daemon's only writer of the task store, serving :mod:`ops` on ``work.sock``.

Run by the supervisor as ``python -m kasmos.workers.store.worker --endpoint E --name store --epoch X``.
"""

from __future__ import annotations

import sys

from kasmos.supervisor.errors import KasError
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

    def handle(requests: list[Request]) -> list[tuple[Reply, list[Event]]]:
        """Serve queued requests in ONE transaction (each op in its own savepoint): a burst of emits
        costs one commit, not one each. Replies go out only after the commit."""
        served: list[tuple[Reply, list[Event]]] = []
        try:
            with store.write():
                for request in requests:
                    reply = OPS.dispatch(context, request)
                    events, context.events = context.events, []
                    # An op that failed rolled back to its savepoint: what it announced did not happen.
                    served.append((reply, events if reply.ok else []))
        except KasError as exc:  # the commit itself failed: nothing of the batch happened
            context.events = []
            return [(Reply.failure(request.id, exc), []) for request in requests]
        return served

    try:
        return shell.serve("store", name, endpoint, epoch, OPS.names, handle)
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
