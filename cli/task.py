"""`kas task …`: list, create, register, show, transition, set-status, delete, update-content."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kasmos.cli import context
from kasmos.cli.render import print_json

app = typer.Typer(help="Manage tasks in the global store.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
BranchOption = Annotated[str, typer.Option(help="Branch (default plan/<name>).")]
TopicOption = Annotated[str, typer.Option(help="Topic to group tasks.")]


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option("--status", help="Only this status (or 'planned').")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the project's tasks by name (cancelled ones only with --status cancelled)."""
    rows = context.repo_call("task.list", context.repo(), status=status)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no tasks found")
        return
    for row in rows:
        typer.echo(f"{row['status']:<14} {row['filename']:<50} {row['branch']}".rstrip())


@app.command()
def create(
    name: str,
    description: Annotated[str, typer.Option(help="One-line description.")] = "",
    branch: BranchOption = "",
    topic: TopicOption = "",
    content: Annotated[str, typer.Option(help="Markdown content.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create a ready task."""
    record = context.repo_call(
        "task.create",
        context.repo(),
        name=name,
        description=description,
        branch=branch,
        topic=topic,
        content=content,
    )
    if as_json:
        print_json(record)
    else:
        typer.echo(f"created: {record['filename']} → ready")


@app.command()
def register(
    file: Path,
    branch: BranchOption = "",
    topic: TopicOption = "",
    description: Annotated[str, typer.Option(help="Default: the first '# ' heading.")] = "",
) -> None:
    """Register a markdown file as a ready task (its content is stored; the file is not kept)."""
    from dataclasses import asdict

    from kasmos.workers.store import tasks

    repo = context.repo()
    new = tasks.registration(file, branch=branch, topic=topic, description=description)
    record = context.repo_call("task.create", repo, **asdict(new))
    typer.echo(f"registered: {record['filename']} → ready")


@app.command()
def show(name: str, as_json: JsonFlag = False) -> None:
    """Print a task's stored markdown (or its whole record with --json)."""
    result = context.repo_call("task.show", context.repo(), name=name, record=as_json)
    if as_json:
        print_json(result)
        return
    content = result["content"]
    sys.stdout.write(content if content.endswith("\n") else content + "\n")


@app.command()
def transition(name: str, event: str) -> None:
    """Apply a lifecycle event (hyphens or underscores; review-changes is an alias)."""
    result = context.repo_call("task.transition", context.repo(), name=name, event=event)
    typer.echo(f"{result['task']} → {result['to']}")


@app.command("set-status")
def set_status(
    name: str,
    status: str,
    force: Annotated[bool, typer.Option("--force", help="Required: this bypasses the FSM.")] = False,
) -> None:
    """Override a task's status, bypassing the lifecycle (needs --force)."""
    result = context.repo_call("task.set_status", context.repo(), name=name, status=status, force=force)
    typer.echo(f"{result['task']} → {result['to']}")


@app.command()
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a task (asks first on a terminal; refuses without --yes otherwise)."""
    from kasmos.supervisor.errors import InvalidArgument

    repo = context.repo()
    if not yes:
        record = context.repo_call("task.show", repo, name=name, record=True)
        if not sys.stdin.isatty():
            raise InvalidArgument(
                f"refusing to delete {record['filename']} without confirmation", hint="pass --yes"
            )
        answer = input(f"delete {record['filename']} ({record['status']})? [y/N]: ")
        if answer.strip().lower() not in ("y", "yes"):
            typer.echo("cancelled")
            return
    record = context.repo_call("task.delete", repo, name=name)
    typer.echo(f"deleted {record['filename']}")


@app.command("update-content")
def update_content(
    name: str,
    file: Annotated[Path | None, typer.Option("--file", help="Read from this file instead of stdin.")] = None,
) -> None:
    """Replace a task's markdown from --file or stdin."""
    from kasmos.supervisor.errors import InvalidArgument
    from kasmos.workers.store import tasks

    if file is not None:
        content, _ = tasks.read_text_file(file)
    else:
        if sys.stdin.isatty():
            raise InvalidArgument(
                "refusing to read content from a terminal", hint="pipe it in or pass --file"
            )
        try:
            content = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument("stdin is not UTF-8 text", hint="pipe a markdown file") from None
    result = context.repo_call("task.update_content", context.repo(), name=name, content=content)
    typer.echo(f"updated content for {result['task']}")
