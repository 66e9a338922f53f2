"""The orphan-scanner worker: lists ``kas_*`` sessions nobody owns, every ``SCAN_EVERY_S`` and on
request, and publishes ``tmux.orphans`` when the set changes. It never kills anything on its own.

| op           | args      | result                                            |
|--------------|-----------|---------------------------------------------------|
| tmux.list    | —         | [{name, title, windows, attached, created, age_s}] |
| tmux.inspect | session   | {session, path, command, pid, env}                 |
| tmux.kill    | session   | {killed}; orphans only                             |
| tmux.kill_owned | session, id | {killed}; only if the session is that instance's |
"""

from __future__ import annotations

import sys
import time
from typing import Any

from pydantic import Field

from kasmos.supervisor.ops import Args, NoArgs, OpTable
from kasmos.supervisor.protocol import Event, Request
from kasmos.workers import shell
from kasmos.workers.orphans import scan
from kasmos.workers.session.tmux import Tmux
from kasmos.workers.store import timefmt

SCAN_EVERY_S = 10.0

OPS: OpTable[Tmux] = OpTable("scanner")


@OPS.op("tmux.list", NoArgs)
def tmux_list(tmux: Tmux, args: NoArgs) -> list[dict[str, Any]]:
    return scan.scan(tmux)


class SessionArgs(Args):
    session: str = Field(min_length=1, max_length=512)


@OPS.op("tmux.inspect", SessionArgs)
def tmux_inspect(tmux: Tmux, args: SessionArgs) -> dict[str, Any]:
    return scan.inspect(tmux, args.session)


@OPS.op("tmux.kill", SessionArgs, mutating=True)
def tmux_kill(tmux: Tmux, args: SessionArgs) -> dict[str, Any]:
    scan.require_orphan(tmux, args.session)
    return {"killed": tmux.kill_session(args.session), "session": args.session}


class OwnedArgs(SessionArgs):
    id: str = Field(min_length=1, max_length=64)


@OPS.op("tmux.kill_owned", OwnedArgs, mutating=True)
def tmux_kill_owned(tmux: Tmux, args: OwnedArgs) -> dict[str, Any]:
    """Kill an instance's own session (its ``KASMOS_INSTANCE_ID`` must match); gone is fine."""
    if not tmux.has_session(args.session):
        return {"killed": False, "session": args.session}
    if tmux.environment(args.session).get("KASMOS_INSTANCE_ID") != args.id:
        return {"killed": False, "session": args.session, "note": "not this instance's session; left alone"}
    return {"killed": tmux.kill_session(args.session), "session": args.session}


class Periodic(shell.Hooks):
    def __init__(self, tmux: Tmux) -> None:
        self.tmux = tmux
        self.due = time.monotonic() + 1.0
        self.known: set[str] | None = None

    def next_due(self) -> float:
        return self.due

    def tick(self, now: float) -> shell.Outgoing:
        self.due = now + SCAN_EVERY_S
        orphans = scan.scan(self.tmux)
        names = {o["name"] for o in orphans}
        if names == self.known:
            return []
        self.known = names
        event = Event(ts=timefmt.now(), kind="tmux.orphans", data={"sessions": sorted(names)})
        return [(None, [event])]


def main(argv: list[str] | None = None) -> int:
    shell.setup_logging()
    endpoint, name, epoch = shell.worker_args(sys.argv[1:] if argv is None else argv)
    tmux = Tmux()

    def handle(requests: list[Request]) -> shell.Outgoing:
        return [(OPS.dispatch(tmux, request), []) for request in requests]

    return shell.serve("scanner", name, endpoint, epoch, OPS.names, handle, Periodic(tmux))


if __name__ == "__main__":
    sys.exit(main())
