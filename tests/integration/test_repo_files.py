"""Repository contract: layout, README's commands match .ci/run, the code is ruff-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q '.[test]' && .venv/bin/python -m pytest -q"


def test_ci_runs_readme_test_command() -> None:
    assert TEST_COMMAND in (ROOT / "README.md").read_text()
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()


def test_root_layout() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    tops = {line.split("/")[0] for line in tracked.split("\n") if line}
    allowed = {
        "pyproject.toml",
        "supervisor",
        "workers",
        "cli",
        "tests",
        "LICENSE.md",
        "README.md",
        ".ci",
        "bench",
        "docs",
        ".gitignore",
    }
    assert tops <= allowed, tops - allowed
    license_text = (ROOT / "LICENSE.md").read_text()
    for needle in (
        "Business Source License 1.1",
        "kastheco",
        "2030-03-10",
        "Apache License, Version 2.0",
        "2025–2026",
        "non-production use",
    ):
        assert needle in license_text


def test_ruff_clean() -> None:
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
