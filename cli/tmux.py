"""`kas tmux list|adopt|kill`: ``kas_*`` tmux sessions that no instance owns (orphans).

``list`` and ``kill`` work without the daemon; ``adopt`` needs it (a session worker takes the session
over). Sessions without the ``kas_`` prefix are never listed or touched.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kasmos.cli import context
from kasmos.cli.render import print_json, table

app = typer.Typer(help="Orphan kas_ tmux sessions.", no_args_is_help=True)


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _scanner(op: str, **args: Any) -> Any:
    from kasmos.supervisor.client import daemon_running

    if daemon_running():
        return context.daemon_call(op, args, what=f"`kas {op.replace('.', ' ')}`")
    from kasmos.workers.orphans.worker import OPS
    from kasmos.workers.session.tmux import Tmux

    return OPS.call(Tmux(), op, args)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List orphan sessions: NAME TITLE WINDOWS ATTACHED AGE."""
    rows = _scanner("tmux.list")
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no orphan tmux sessions found")
        return
    typer.echo(
        table(
            ["NAME", "TITLE", "WINDOWS", "ATTACHED", "AGE"],
            [[r["name"], r["title"], r["windows"], r["attached"], _age(r["age_s"])] for r in rows],
        )
    )


@app.command()
def adopt(
    session: Annotated[str, typer.Argument(help="The orphan session, e.g. kas_fix-login.")],
    title: Annotated[str, typer.Argument(help="Title of the new instance.")],
) -> None:
    """Make an orphan session an instance (worktree, branch, program read from the session)."""
    result = context.daemon_call(
        "tmux.adopt", {"repo": str(context.repo().root), "session": session, "title": title},
        what="`kas tmux adopt`",
    )  # fmt: skip
    typer.echo(f"adopted: {session} as {result['title']} (branch {result['branch']})")


@app.command()
def kill(session: Annotated[str, typer.Argument(help="The orphan session to kill.")]) -> None:
    """Kill an orphan session (never one an instance owns)."""
    _scanner("tmux.kill", session=session)
    typer.echo(f"killed: {session}")
