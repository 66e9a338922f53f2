"""`kas daemon …`: start [--foreground], stop, status [--json], reload, install [--print], add, remove,
restart-worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from kasmos.cli.render import print_json, table

app = typer.Typer(help="Run and control the kasmos daemon.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 20.0

UNIT = """[Unit]
Description=kasmos: supervisor of AI coding agents
After=default.target

[Service]
Type=simple
ExecStart={kas} daemon start --foreground
ExecStop={kas} daemon stop
Restart=on-failure
RestartSec=2
Environment=PATH={path}

[Install]
WantedBy=default.target
"""


def _kas_path() -> str:
    found = shutil.which("kas")
    candidate = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if candidate and candidate.name in ("kas", "kms") and candidate.exists():
        return str(candidate)
    return found or str(Path(sys.executable).parent / "kas")


def _client() -> Any:
    from kasmos.supervisor.client import Client

    return Client()


@app.command()
def start(
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this process, logging to stderr (systemd).")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help="daemon.toml to use.")] = None,
) -> None:
    """Start the daemon (detached unless --foreground); returns once it answers."""
    from kasmos.supervisor.errors import Conflict
    from kasmos.supervisor.runtime import Runtime, lock_is_held, read_pid

    runtime = Runtime.default()
    extra = ["--config", str(config.resolve())] if config else []
    here = _current_repo()
    if here:
        extra += ["--repo", here]
    if foreground:
        from kasmos.supervisor.daemon import main

        raise typer.Exit(main(extra))
    runtime.ensure()
    if lock_is_held(runtime):
        raise Conflict(
            f"the kasmos daemon is already running (pid={read_pid(runtime) or '?'})",
            hint="stop it with `kas daemon stop` or use the running one",
        )
    command = [sys.executable, "-m", "kasmos.supervisor.daemon", "--runtime", str(runtime.root), *extra]
    with open(runtime.log_file, "ab") as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    pid = _wait_started(proc, runtime)
    typer.echo(f"daemon started (pid={pid})")


def _current_repo() -> str:
    """The repository `kas daemon start` runs in (registered at boot), if any."""
    from kasmos.supervisor.errors import NotInRepository
    from kasmos.supervisor.paths import find_repo

    try:
        return str(find_repo().root)
    except NotInRepository:
        return ""


def _wait_started(proc: subprocess.Popen[bytes], runtime: Any) -> int:
    from kasmos.supervisor.client import Client, daemon_running
    from kasmos.supervisor.errors import KasError, Timeout

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise KasError(_last_error(runtime.log_file), code=_code_for(code))
        if daemon_running(runtime):
            try:
                pid = int(Client(runtime, timeout=1.0).call("daemon.ping")["pid"])
            except KasError:
                pid = 0
            if pid == proc.pid:
                return pid
            if pid:  # another start won the race: ours exits with "already running"
                code = proc.wait(timeout=START_TIMEOUT_S)
                raise KasError(_last_error(runtime.log_file), code=_code_for(code))
        time.sleep(0.02)
    raise Timeout(
        f"the daemon (pid={proc.pid}) did not answer within {START_TIMEOUT_S:g}s",
        hint=f"see its log: {runtime.log_file}",
    )


def _last_error(log_file: Path) -> str:
    try:
        lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    for line in reversed(lines[-20:]):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return f"the daemon exited at start; see its log: {log_file}"


def _code_for(exit_code: int) -> Any:
    from kasmos.supervisor.errors import EXIT_CODES, ErrorCode

    for code, number in EXIT_CODES.items():
        if number == exit_code:
            return code
    return ErrorCode.INTERNAL


@app.command()
def stop() -> None:
    """Stop the daemon gracefully (workers in order; agents in tmux keep running), then escalate."""
    import signal

    from kasmos.supervisor.errors import DaemonNotRunning
    from kasmos.supervisor.runtime import Runtime, lock_is_held, read_pid

    runtime = Runtime.default()
    pid = read_pid(runtime)
    if not pid or not lock_is_held(runtime):
        raise DaemonNotRunning("kas daemon stop")
    from kasmos.workers.store.owner import process_alive, process_start_ticks

    ticks = process_start_ticks(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not process_alive(pid, ticks):  # gone (or a zombie), not merely unlocked
            typer.echo("daemon stopped")
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    typer.echo(f"daemon stopped (killed after {STOP_TIMEOUT_S:g}s)")


def _uptime(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """The daemon's pid, uptime, version, workers and registered repositories."""
    info = _client().call("daemon.status", retry=True)
    if as_json:
        print_json(info)
        return
    typer.echo(
        f"daemon running (pid={info['pid']}, up {_uptime(info['uptime_s'])}, version {info['version']})"
    )
    rows = []
    for w in info["workers"]:
        last = "" if w["last_exit"] is None else str(w["last_exit"])
        if w["last_cause"]:
            last = f"{last} ({w['last_cause']})".strip()
        if w["retry_in"] is not None:
            last += f", retry in {w['retry_in']:g}s"
        rows.append([w["name"], w["state"], w["pid"] or "-", w["restarts"], last or "-"])
    typer.echo(table(["WORKER", "STATE", "PID", "RESTARTS", "LAST EXIT"], rows))
    if info["repos"]:
        typer.echo("repos:")
        for repo in info["repos"]:
            typer.echo(f"  - {repo['project']} ({repo['path']})")
    else:
        typer.echo("no repos registered")


@app.command()
def reload() -> None:
    """Re-read daemon.toml without dropping anything (a bad file is refused, the old one kept)."""
    _client().call("daemon.reload")
    typer.echo("daemon reloaded")


@app.command()
def install(
    print_only: Annotated[bool, typer.Option("--print", help="Show the unit without writing it.")] = False,
) -> None:
    """Write the systemd user unit kasmos.service and print the systemctl commands to enable it."""
    unit = UNIT.format(kas=_kas_path(), path=os.environ.get("PATH", "/usr/bin:/bin"))
    if print_only:
        sys.stdout.write(unit)
        return
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    target = base / "systemd" / "user" / "kasmos.service"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(unit)
    typer.echo(f"wrote {target}")
    typer.echo("enable and start it with:")
    typer.echo("  systemctl --user daemon-reload")
    typer.echo("  systemctl --user enable --now kasmos.service")


def _repo_path(path: Path) -> str:
    from kasmos.supervisor.errors import InvalidArgument
    from kasmos.supervisor.paths import find_repo

    if not path.is_dir():
        raise InvalidArgument(f"not a directory: {path}", hint="pass the path of a git repository")
    try:
        return str(find_repo(path).root)
    except Exception:
        raise InvalidArgument(
            f"not a git repository: {path}", hint="pass the path of a git repository"
        ) from None


@app.command()
def add(path: Path) -> None:
    """Register a repository with the daemon (persists in the store)."""
    from kasmos.cli import context

    record = context.call("repo.add", {"path": _repo_path(path)})
    typer.echo(f"registered repo: {record['project']}")


@app.command()
def remove(path: str) -> None:
    """Unregister a repository (by path or project name). Its tasks stay in the store."""
    from kasmos.cli import context

    target = str(Path(path).resolve()) if "/" in path or Path(path).is_dir() else path
    record = context.call("repo.remove", {"path": target})
    typer.echo(f"unregistered repo: {record['project']}")


@app.command("restart-worker")
def restart_worker(name: str) -> None:
    """Clear a worker's restart history (e.g. after FATAL) and start it again."""
    result = _client().call("daemon.restart_worker", {"name": name})
    typer.echo(f"worker {result['name']}: {result['previous']} → restarting")
