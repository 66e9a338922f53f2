"""`kas instance …` (alias `i`): agent instances, in tmux or headless (sdk mode).

Launching, sending, pausing and resuming need the daemon (its session workers own the agents);
``list``, ``status`` and ``attach`` read the store directly when it is not running. ``attach`` execs
tmux itself, so the terminal belongs to tmux from then on; sdk-mode agents have no terminal to attach.
A ``--role`` picks ``[agents.<role>]`` from ``.kasmos/config.toml`` (program, model, execution_mode,
permission_default); flags override it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Annotated, Any

import typer

from kasmos.cli import context
from kasmos.cli.render import print_json, table

app = typer.Typer(help="Run and steer agent instances (tmux or sdk).", no_args_is_help=True)

Title = Annotated[str, typer.Argument(help="Instance title (exact, or a unique part of it).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _flow(verb: str, op: str, **args: Any) -> Any:
    return context.daemon_call(op, {"repo": str(context.repo().root), **args}, what=f"`kas instance {verb}`")


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only instances with this status.")] = None,
    as_json: AsJson = False,
) -> None:
    """List instances: TITLE STATUS MODE BRANCH PROGRAM TASK."""
    rows = context.repo_call("instance.list", context.repo(), status=status)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no instances")
        return
    typer.echo(
        table(
            ["TITLE", "STATUS", "MODE", "BRANCH", "PROGRAM", "TASK"],
            [[r["title"], r["status"], r["mode"], r["branch"], r["program"], r["task"]] for r in rows],
        )
    )


def _launch_settings(
    config: Any, role: str | None, program: str | None, mode: str | None, model: str | None, skip: bool
) -> dict[str, Any]:
    """Program, mode, model and permissions from the flags, then the role's profile, then defaults.
    A disabled profile, or one without a program, falls back to ``default_program`` in tmux."""
    from kasmos.supervisor.errors import InvalidArgument
    from kasmos.workers.session.launch import default_program

    profile = None
    if role:
        profile = config.agents.get(role)
        if profile is None:
            known = ", ".join(sorted(config.agents)) or "none"
            raise InvalidArgument(f"no [agents.{role}] profile in .kasmos/config.toml (profiles: {known})")
        if not profile.enabled or not profile.program:
            profile = None
    chosen = program or (profile.program if profile else "") or config.default_program or default_program()
    return {
        "program": chosen,
        "execution_mode": mode or (profile.execution_mode if profile else "tmux"),
        "model": model or (profile.model if profile else ""),
        "skip_permissions": skip or bool(profile and profile.permission_default == "bypass"),
        "role": role or "",
    }


@app.command()
def start(
    title: Annotated[str, typer.Argument(help="Title; the tmux session is kas_<title>.")],
    program: Annotated[str | None, typer.Option(help="Program to run (default: default_program).")] = None,
    task: Annotated[str | None, typer.Option(help="Work on this task (its plan/<slug> worktree).")] = None,
    branch: Annotated[str | None, typer.Option(help="Use this existing branch as is.")] = None,
    prompt: Annotated[str | None, typer.Option(help="Initial prompt.")] = None,
    skip_permissions: Annotated[
        bool, typer.Option("--skip-permissions", help="Run the agent without permission prompts.")
    ] = False,
    role: Annotated[str | None, typer.Option(help="Use the [agents.<role>] profile of the project.")] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode", help="tmux, or sdk (alias headless; claude and codex only, others run in tmux)."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model for the agent.")] = None,
    as_json: AsJson = False,
) -> None:
    """Start an agent in its own worktree (in a tmux session, or headless in sdk mode)."""
    from kasmos.supervisor.config import load_project_config
    from kasmos.supervisor.errors import InvalidArgument

    if mode is not None and mode not in ("tmux", "sdk", "headless"):
        raise InvalidArgument(f"unknown execution mode {mode!r}", hint="use tmux, sdk or headless")
    repository = context.repo()
    config = load_project_config(repository.config_file)
    settings = _launch_settings(config, role, program, mode, model, skip_permissions)
    result = _flow(
        "start", "instance.start", title=title, task=task or "", branch=branch or "",
        branch_prefix=config.branch_prefix, prompt=prompt or "", **settings,
    )  # fmt: skip
    if as_json:
        print_json(result)
        return
    where = f"session {result['session']}" if result["mode"] == "tmux" else "sdk mode"
    typer.echo(f"started: {result['title']} ({where}, branch {result['branch']})")
    typer.echo(f"worktree: {result['worktree']}")


@app.command()
def send(
    title: Title,
    text: Annotated[str, typer.Argument(help="Text to type into the agent.")],
    no_enter: Annotated[bool, typer.Option("--no-enter", help="Do not press Enter after the text.")] = False,
) -> None:
    """Type text into the agent's pane (then Enter)."""
    result = _flow("send", "instance.send", title=title, text=text, enter=not no_enter)
    typer.echo(f"sent to {result['title']}")


@app.command()
def capture(
    title: Title,
    start: Annotated[
        str | None, typer.Option("-S", "--start", help="First line (negative: history).")
    ] = None,
    end: Annotated[str | None, typer.Option("-E", "--end", help="Last line.")] = None,
) -> None:
    """Print the agent's pane."""
    result = _flow("capture", "instance.capture", title=title, start=start, end=end)
    typer.echo(result["text"], nl=False)


@app.command()
def interrupt(title: Title) -> None:
    """Interrupt the agent's running turn (sdk: the protocol's interrupt; tmux: Escape / Ctrl-C)."""
    result = _flow("interrupt", "instance.interrupt", title=title)
    typer.echo(f"interrupted: {result['title']}")


@app.command()
def approve(title: Title) -> None:
    """Answer the agent's approval question with yes."""
    result = _flow("approve", "instance.answer", title=title, approve=True)
    typer.echo(f"approved: {result['title']}")


@app.command()
def deny(title: Title) -> None:
    """Answer the agent's approval question with no."""
    result = _flow("deny", "instance.answer", title=title, approve=False)
    typer.echo(f"denied: {result['title']}")


@app.command()
def pause(title: Title) -> None:
    """Stop the agent and remove its worktree; the branch stays. Refuses uncommitted changes."""
    result = _flow("pause", "instance.pause", title=title)
    typer.echo(f"paused: {result['title']}")


def _copy_to_clipboard(text: str) -> str | None:
    for tool in (["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "-ib"], ["pbcopy"]):
        if shutil.which(tool[0]):
            try:
                subprocess.run(tool, input=text.encode(), timeout=5, check=True, capture_output=True)
            except (subprocess.SubprocessError, OSError):
                continue
            return tool[0]
    return None


@app.command()
def checkout(title: Title) -> None:
    """Pause the instance and print its branch, ready to check out (copied to the clipboard)."""
    result = _flow("checkout", "instance.pause", title=title)
    branch = result["branch"]
    typer.echo(f"paused: {result['title']}")
    typer.echo(f"branch: {branch}")
    typer.echo(f"check it out with: git checkout {branch}")
    tool = _copy_to_clipboard(branch)
    if tool:
        typer.echo(f"(branch name copied to the clipboard with {tool})")


@app.command()
def resume(title: Title) -> None:
    """Recreate the worktree on the same branch and relaunch the agent."""
    result = _flow("resume", "instance.resume", title=title)
    typer.echo(f"resumed: {result['title']}")


@app.command()
def restart(title: Title) -> None:
    """Stop the agent and launch it again in the same worktree."""
    result = _flow("restart", "instance.restart", title=title)
    typer.echo(f"restarted: {result['title']}")


@app.command()
def kill(
    title: Title,
    force: Annotated[
        bool, typer.Option("--force", help="Even with uncommitted changes (they are lost).")
    ] = False,
) -> None:
    """Stop the agent and remove its worktree; the branch stays."""
    result = _flow("kill", "instance.kill", title=title, force=force)
    typer.echo(f"killed: {result['title']} (branch {result['branch']} preserved)")


@app.command()
def status(as_json: AsJson = False) -> None:
    """Count instances per status."""
    rows = context.repo_call("instance.list", context.repo())
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    if as_json:
        print_json(counts)
        return
    if not counts:
        typer.echo("no instances found")
        return
    typer.echo(table(["STATE", "COUNT"], sorted(counts.items())))


@app.command()
def attach(title: Title) -> None:
    """Attach this terminal to the agent's tmux session (switch-client inside tmux)."""
    from kasmos.supervisor.errors import Conflict
    from kasmos.workers.session.launch import require_tmux
    from kasmos.workers.session.tmux import socket_args

    record = context.repo_call("instance.get", context.repo(), title=title)
    require_tmux(record)
    if not record["tmux_session"] or record["status"] in ("paused", "killed"):
        raise Conflict(f"instance {record['title']} is {record['status']}", hint="resume it first")
    base = ["tmux", *socket_args(record["tmux_socket"] or None)]
    verb = "switch-client" if os.environ.get("TMUX") else "attach-session"
    command = [*base, verb, "-t", f"={record['tmux_session']}"]
    tmux = shutil.which("tmux")
    if tmux is None:
        from kasmos.supervisor.errors import KasError

        raise KasError("tmux is not installed", hint="install tmux")
    os.execv(tmux, command)
