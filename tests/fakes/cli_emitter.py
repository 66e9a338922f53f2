"""Emit N signals through the real `kas` command (the same click command the console script runs,
built once and invoked N times in one process to skip N interpreter starts).

Prints one JSON line: {"ok": n, "failed": n, "locked": n, "errors": [...]}.
usage: python cli_emitter.py <repo> <task> <count> [signal-type]
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys

import typer

from kasmos.cli.main import app
from kasmos.supervisor.errors import KasError


def main() -> None:
    repo, task, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    kind = sys.argv[4] if len(sys.argv) > 4 else "plan-start"
    os.chdir(repo)
    command = typer.main.get_command(app)
    ok = failed = locked = 0
    errors: list[str] = []
    for _ in range(count):
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                command.main(["signal", "emit", kind, task], standalone_mode=False)
            text = out.getvalue()
        except KasError as exc:
            text = exc.one_line()
        except Exception as exc:  # anything else (e.g. sqlite3 "database is locked") is counted
            text = f"{type(exc).__name__}: {exc}"
        if text.startswith("signal emitted:"):
            ok += 1
        else:
            failed += 1
            locked += "locked" in text
            if len(errors) < 5:
                errors.append(text[-300:])
    print(json.dumps({"ok": ok, "failed": failed, "locked": locked, "errors": errors}))


if __name__ == "__main__":
    main()
