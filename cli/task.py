"""`kas task …`: list, create, register, show, transition, set-status, delete, update-content."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kasmos.cli import context
from kasmos.cli.render import dump_models, print_json

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
    from kasmos.workers.store import tasks

    repo = context.repo()
    with context.store() as store:
        rows = tasks.list_tasks(store, repo.project, status)
    if as_json:
        print_json(dump_models(rows))
        return
    if not rows:
        typer.echo("no tasks found")
        return
    for row in rows:
        typer.echo(f"{row.status:<14} {row.filename:<50} {row.branch}".rstrip())


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
    from kasmos.workers.store import tasks

    repo = context.repo()
    with context.store() as store:
        record = tasks.create_task(
            store, repo.project, tasks.NewTask(name, description, branch, topic, content)
        )
    if as_json:
        print_json(record.model_dump())
    else:
        typer.echo(f"created: {record.filename} → ready")


@app.command()
def register(
    file: Path,
    branch: BranchOption = "",
    topic: TopicOption = "",
    description: Annotated[str, typer.Option(help="Default: the first '# ' heading.")] = "",
) -> None:
    """Register a markdown file as a ready task (its content is stored; the file is not kept)."""
    from kasmos.workers.store import tasks

    repo = context.repo()
    with context.store() as store:
        record = tasks.register_task(
            store, repo.project, file, branch=branch, topic=topic, description=description
        )
    typer.echo(f"registered: {record.filename} → ready")


@app.command()
def show(name: str, as_json: JsonFlag = False) -> None:
    """Print a task's stored markdown (or its whole record with --json)."""
    from kasmos.workers.store import tasks

    repo = context.repo()
    with context.store() as store:
        if as_json:
            record = tasks.get_task(store, repo.project, name)
            content = tasks.task_content(store, repo.project, name, required=False)
            print_json({**record.model_dump(), "content": content})
            return
        content = tasks.task_content(store, repo.project, name)
    sys.stdout.write(content if content.endswith("\n") else content + "\n")


@app.command()
def transition(name: str, event: str) -> None:
    """Apply a lifecycle event (hyphens or underscores; review-changes is an alias)."""
    from kasmos.workers.store import tasks

    repo = context.repo()
    with context.store() as store:
        _, after = tasks.transition(store, repo.project, name, event)
    from kasmos.workers.store.names import strip_md

    typer.echo(f"{strip_md(name)} → {after}")


@app.command("set-status")
def set_status(
    name: str,
    status: str,
    force: Annotated[bool, typer.Option("--force", help="Required: this bypasses the FSM.")] = False,
) -> None:
    """Override a task's status, bypassing the lifecycle (needs --force)."""
    from kasmos.workers.store import tasks
    from kasmos.workers.store.names import strip_md

    repo = context.repo()
    with context.store() as store:
        target = tasks.set_status(store, repo.project, name, status, force=force)
    typer.echo(f"{strip_md(name)} → {target}")


@app.command()
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a task (asks first on a terminal; refuses without --yes otherwise)."""
    from kasmos.supervisor.errors import InvalidArgument
    from kasmos.workers.store import tasks

    repo = context.repo()
    with context.store() as store:
        if not yes:
            record = tasks.get_task(store, repo.project, name)
            if not sys.stdin.isatty():
                raise InvalidArgument(
                    f"refusing to delete {record.filename} without confirmation", hint="pass --yes"
                )
            answer = input(f"delete {record.filename} ({record.status})? [y/N]: ")
            if answer.strip().lower() not in ("y", "yes"):
                typer.echo("cancelled")
                return
        record = tasks.delete_task(store, repo.project, name)
    typer.echo(f"deleted {record.filename}")


@app.command("update-content")
def update_content(
    name: str,
    file: Annotated[Path | None, typer.Option("--file", help="Read from this file instead of stdin.")] = None,
) -> None:
    """Replace a task's markdown from --file or stdin."""
    from kasmos.supervisor.errors import InvalidArgument
    from kasmos.workers.store import tasks
    from kasmos.workers.store.names import strip_md

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
    repo = context.repo()
    with context.store() as store:
        tasks.update_content(store, repo.project, name, content)
    typer.echo(f"updated content for {strip_md(name)}")
