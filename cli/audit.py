"""`kas audit list`: the project's audit log, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from kasmos.cli import context
from kasmos.cli.render import print_json, table

app = typer.Typer(help="Read the audit log.", no_args_is_help=True)


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="At most this many entries (capped at 500).")] = 50,
    event: Annotated[
        str | None, typer.Option("--event", help="Only this kind, e.g. plan_transition.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List audit entries: TIME EVENT DETAILS."""
    rows = context.repo_call("audit.list", context.repo(), limit=limit, kind=event)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no audit entries found")
        return
    lines = []
    for row in rows:
        details = row["message"] if not row["detail"] else f"{row['message']} | {row['detail']}"
        task = f"{row['plan_file']}: " if row["plan_file"] else ""
        lines.append([row["timestamp"], row["kind"], task + details])
    typer.echo(table(["TIME", "EVENT", "DETAILS"], lines))
