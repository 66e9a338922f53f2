"""Wall time of `kas task list --json` against `python -c pass`, `python -c 'import typer'` and a
minimal typer app running one command, all measured in the same run with the same interpreter.
The store holds 50 tasks of the benchmark project.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "x") -> None:
    print(name)
@app.command()
def other() -> None:
    pass
app()
"""


def timed(cmd: list[str], runs: int, cwd: Path, env: dict[str, str]) -> list[float]:
    for _ in range(3):  # warm the page cache
        subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    python = sys.executable
    kas = str(Path(python).parent / "kas")
    with tempfile.TemporaryDirectory(prefix="kas-bench-cli-") as tmp:
        root = Path(tmp)
        repo = root / "bench"
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        env = {**os.environ, "XDG_CONFIG_HOME": str(root / "cfg")}
        script = root / "typer_app.py"
        script.write_text(TYPER_APP)
        from typer.main import get_command

        from kasmos.cli.main import app

        command = get_command(app)
        os.environ["XDG_CONFIG_HOME"] = env["XDG_CONFIG_HOME"]
        cwd = os.getcwd()
        os.chdir(repo)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                for i in range(50):
                    args_ = ["task", "create", f"task-{i:02d}", "--description", "bench"]
                    command.main(args_, standalone_mode=False)
        finally:
            os.chdir(cwd)
        cases = [
            ("python -c pass", [python, "-c", "pass"]),
            ("python -c 'import typer'", [python, "-c", "import typer"]),
            ("minimal typer app, one command", [python, str(script), "hello"]),
            ("kas task list --json (50 tasks)", [kas, "task", "list", "--json"]),
        ]
        results = {name: statistics.median(timed(cmd, args.runs, repo, env)) for name, cmd in cases}
    base = results["python -c pass"]
    typer_import = results["python -c 'import typer'"]
    typer_app = results["minimal typer app, one command"]
    print(f"CLI wall time, median of {args.runs} runs, {python}")
    for name, ms in results.items():
        print(f"  {name:<36} {ms:7.1f} ms   x{ms / base:5.1f} python start")
    ours = results["kas task list --json (50 tasks)"]
    print(
        f"  ratio kas/python-start = {ours / base:.1f}x, kas/import-typer = {ours / typer_import:.2f}x, "
        f"kas/minimal-typer-app = {ours / typer_app:.2f}x"
    )


if __name__ == "__main__":
    main()
