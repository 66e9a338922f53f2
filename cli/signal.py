"""`kas signal …`: emit (works without a daemon), list, process (apply signals without a daemon)."""

from __future__ import annotations

import signal as os_signal
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from kasmos.cli import context
from kasmos.cli.render import print_json, table

if TYPE_CHECKING:
    from kasmos.workers.store.db import Store
    from kasmos.workers.store.signals import Processed

app = typer.Typer(help="Emit, list and process lifecycle signals.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command()
def emit(
    signal_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="e.g. planner-finished, review-approved")
    ],
    task: str,
    payload: Annotated[str, typer.Option(help="Text or JSON; some types require JSON fields.")] = "",
) -> None:
    """Queue a signal for a task. It is durable once this prints; the daemon (or `kas signal process`)
    applies it."""
    result = context.repo_call("signal.emit", context.repo(), type=signal_type, task=task, payload=payload)
    typer.echo(f"signal emitted: type={result['type']} plan={result['task']}")


@app.command("list")
def list_(
    status: Annotated[
        list[str] | None, typer.Option("--status", help="pending, processing, done, failed (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 200,
    as_json: JsonFlag = False,
) -> None:
    """Signals of this project waiting in the store (default: pending and processing) and sentinel
    files not yet bridged."""
    from kasmos.workers.store import sentinels

    repo = context.repo()
    statuses = list(status) if status else ["pending", "processing"]
    rows = context.repo_call("signal.list", repo, statuses=statuses, limit=limit)
    files = [
        str(path.relative_to(repo.root))
        for d in sentinels.signal_dirs(repo)
        for path in sentinels.pending_files(d)
    ]
    if as_json:
        print_json({"signals": rows, "sentinel_files": files})
        return
    if not rows and not files:
        typer.echo("no pending signals")
        return
    if rows:
        typer.echo(
            table(
                ["ID", "STATUS", "TYPE", "TASK", "CREATED", "RESULT"],
                [
                    [r["id"], r["status"], r["signal_type"], r["plan_file"], r["created_at"], r["result"]]
                    for r in rows
                ],
            )
        )
    for name in files:
        typer.echo(f"{'file':<30}  {name}")


@app.command()
def process(
    once: Annotated[bool, typer.Option("--once", help="Process what is waiting, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes when watching.", min=0.01)] = 5.0,
    as_json: JsonFlag = False,
) -> None:
    """Apply pending signals and sentinel files without a daemon (watches until ctrl-c unless --once)."""
    from kasmos.supervisor.client import daemon_running
    from kasmos.supervisor.errors import Conflict
    from kasmos.supervisor.runtime import Runtime, read_pid
    from kasmos.workers.store import sentinels, signals
    from kasmos.workers.store.owner import current_owner

    repo = context.repo()
    if daemon_running():
        raise Conflict(
            f"the kasmos daemon (pid={read_pid(Runtime.default()) or '?'}) is processing signals",
            hint="`kas signal process` is for when the daemon is stopped; watch it with `kas monitor`",
        )
    settings = context.settings(repo)
    owner = current_owner("kas-cli")
    stop = threading.Event()

    def one_pass(store: Store, recover: bool) -> list[Processed]:
        for item in sentinels.bridge_repo(store, repo, recover=recover):
            if item.error:
                typer.echo(f"dead-lettered {item.file}: {item.error}")
        return signals.drain(store, repo.project, settings, owner)

    def report(done: list[Processed]) -> None:
        for item in done:
            if item.status == "failed":
                typer.echo(f"failed: {item.signal_type} {item.task}: {item.result}")
            elif item.transition:
                typer.echo(f"{item.signal_type} {item.task}: {item.transition[0]} → {item.transition[1]}")

    sentinels.ensure_dirs(repo.signals_dir)
    with context.store() as store:
        signals.reap_stale_claims(store, older_than=0, project=repo.project)
        if once:
            done = one_pass(store, recover=True)
            if as_json:
                print_json([item.__dict__ for item in done])
                return
            report(done)
            typer.echo(f"processed {len(done)} signal(s)" if done else "no signals to process")
            return
        for signum in (os_signal.SIGINT, os_signal.SIGTERM):
            os_signal.signal(signum, lambda *_: stop.set())
        typer.echo("watching for signals (ctrl-c to stop)...")
        recover = True
        last_reap = time.monotonic()
        while not stop.is_set():
            done = one_pass(store, recover)
            recover = False
            report(done)
            if done:
                typer.echo(f"processed {len(done)} signal(s)")
            if time.monotonic() - last_reap > 30:
                signals.reap_stale_claims(store, project=repo.project)
                last_reap = time.monotonic()
            stop.wait(interval)
