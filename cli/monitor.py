"""`kas monitor`: stream the daemon's events (transitions, signals, workers, outbox) until ctrl-c."""

from __future__ import annotations

import json
import signal
from typing import Annotated

import typer


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the stream like ctrl-c


def monitor(
    project: Annotated[str | None, typer.Option("--project", help="Only this project.")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Only this task.")] = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only kinds starting with this (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print events live as the daemon publishes them (needs a running daemon)."""
    from kasmos.supervisor.client import daemon_running, subscribe
    from kasmos.supervisor.errors import DaemonNotRunning

    if not daemon_running():
        raise DaemonNotRunning("kas monitor")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for event in subscribe(topics=kind):
            if project and event.project != project:
                continue
            if task and event.task != task:
                continue
            if as_json:
                typer.echo(event.model_dump_json(exclude_none=True))
                continue
            where = "/".join(p for p in (event.project, event.task or "") if p)
            data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":")) if event.data else ""
            typer.echo(f"{event.ts}  {event.kind:<18} {where:<30} {data}".rstrip())
    except KeyboardInterrupt:
        return
