"""The git worker: serves :mod:`ops` with one thread per repository, so operations on one repository
are serialised (git's own locks would otherwise fail them) and different repositories proceed in
parallel. Replies come back as the jobs finish, through a wake-up pipe polled with ``work.sock``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
from concurrent.futures import ThreadPoolExecutor

from kasmos.supervisor.protocol import Reply, Request
from kasmos.workers import shell
from kasmos.workers.git.ops import OPS, serial_key


class RepoLanes(shell.Hooks):
    def __init__(self) -> None:
        self.lanes: dict[str, ThreadPoolExecutor] = {}
        self.done: queue.SimpleQueue[Reply] = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)

    def submit(self, request: Request) -> None:
        key = serial_key(request.op, request.args)
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="git")
        lane.submit(self._run, request)

    def _run(self, request: Request) -> None:
        self.done.put(OPS.dispatch(None, request))
        os.write(self.wake_w, b"x")

    def fds(self) -> list[int]:
        return [self.wake_r]

    def on_fd(self, fd: int) -> shell.Outgoing:
        with contextlib.suppress(BlockingIOError):
            os.read(self.wake_r, 4096)
        out: shell.Outgoing = []
        while not self.done.empty():
            out.append((self.done.get(), []))
        return out

    def close(self) -> None:
        for lane in self.lanes.values():
            lane.shutdown(wait=True, cancel_futures=False)


def main(argv: list[str] | None = None) -> int:
    shell.setup_logging()
    endpoint, name, epoch = shell.worker_args(sys.argv[1:] if argv is None else argv)
    lanes = RepoLanes()

    def handle(requests: list[Request]) -> shell.Outgoing:
        for request in requests:
            lanes.submit(request)
        return []

    try:
        return shell.serve("git", name, endpoint, epoch, OPS.names, handle, lanes)
    finally:
        lanes.close()


if __name__ == "__main__":
    sys.exit(main())
