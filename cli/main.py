"""The `kas` (alias `kms`) entry point: the typer app and the one place errors become exit codes.

Every deliberate failure is a KasError: one line on stderr (``error: what; what to do``) and the
exit code of its wire error code. Anything else is a bug: one line naming it, exit 1, and the
traceback only with ``KASMOS_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

# pydantic otherwise scans every installed distribution's entry points for plugins (~17 ms per start).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer

from kasmos.cli import audit, daemon, instance, signal, task, tmux
from kasmos.cli.monitor import monitor

app = typer.Typer(
    name="kas",
    help="kasmos: run a team of AI coding agents against a git repository.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(task.app, name="task")
app.add_typer(task.app, name="t", hidden=True)
app.add_typer(signal.app, name="signal")
app.add_typer(signal.app, name="sig", hidden=True)
app.add_typer(audit.app, name="audit")
app.add_typer(instance.app, name="instance")
app.add_typer(instance.app, name="i", hidden=True)
app.add_typer(tmux.app, name="tmux")
app.add_typer(daemon.app, name="daemon")
app.add_typer(daemon.app, name="d", hidden=True)
app.command()(monitor)


@app.command()
def version() -> None:
    """Print the version."""
    from kasmos.supervisor import __version__

    typer.echo(f"kas version v{__version__}")


@app.command()
def debug() -> None:
    """Print where kasmos keeps things and the effective configuration (JSON)."""
    from kasmos.cli.render import print_json
    from kasmos.supervisor import config, paths

    info: dict[str, object] = {
        "config_dir": str(paths.config_dir()),
        "store": str(paths.store_path()),
        "daemon_config": str(paths.daemon_config_path()),
        "runtime_dir": str(paths.runtime_dir()),
    }
    daemon_raw = config.read_toml(paths.daemon_config_path())
    info["daemon"] = config.load_daemon_config(paths.daemon_config_path()).model_dump()
    unknown = config.unknown_keys(config.DaemonConfig, daemon_raw)
    from kasmos.supervisor.errors import NotInRepository

    try:
        repo: paths.Repo | None = paths.find_repo()
    except NotInRepository:
        repo = None
    if repo is not None:
        project_raw = config.read_toml(repo.config_file)
        info["repo"] = str(repo.root)
        info["project"] = repo.project
        info["project_config_file"] = str(repo.config_file)
        info["project_config"] = config.load_project_config(repo.config_file).model_dump()
        unknown += [f"config.toml: {key}" for key in config.unknown_keys(config.ProjectConfig, project_raw)]
    info["unknown_keys"] = unknown
    print_json(info)


def run() -> None:
    """Console-script entry point."""
    from kasmos.supervisor.errors import KasError

    try:
        app()
    except KasError as exc:
        from kasmos.cli.render import error_line

        error_line(exc.one_line())
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line, keep the traceback for KASMOS_DEBUG
        from kasmos.cli.render import error_line
        from kasmos.workers.store.db import translate

        if exc.__class__.__module__.startswith(("peewee", "sqlite3")):
            from kasmos.supervisor.paths import store_path

            err = translate(exc, store_path())
            error_line(err.one_line())
            sys.exit(err.exit_code)
        if os.environ.get("KASMOS_DEBUG"):
            raise
        error_line(
            f"error: internal error: {type(exc).__name__}: {exc}; rerun with KASMOS_DEBUG=1 and report it"
        )
        sys.exit(1)


if __name__ == "__main__":
    run()
