"""Configuration through the real CLI: defaults, unknown keys, malformed files as one line."""

from __future__ import annotations

import json
from pathlib import Path


def test_debug_shows_paths_and_defaults(kas, repo: Path, env: dict[str, str]) -> None:
    (repo / ".kasmos").mkdir()
    (repo / ".kasmos" / "config.toml").write_text('default_program = "claude"\nautoyes = true\n')
    info = json.loads(kas("debug").stdout)
    assert info["store"] == str(Path(env["XDG_CONFIG_HOME"]) / "kasmos" / "taskstore.db")
    assert info["project"] == repo.name and info["daemon"]["poll_interval_sec"] == 2
    assert info["project_config"]["default_program"] == "claude"
    assert info["unknown_keys"] == ["config.toml: autoyes"]
    assert kas("version").stdout.startswith("kas version v")


def test_malformed_daemon_config_is_one_line(kas, env: dict[str, str]) -> None:
    path = Path(env["XDG_CONFIG_HOME"]) / "kasmos" / "daemon.toml"
    path.parent.mkdir(parents=True)
    path.write_text("repos = [\n")
    r = kas("debug")
    assert r.returncode == 9 and r.stdout == ""
    assert r.stderr.startswith(f"error: invalid config {path}: ") and "line" in r.stderr
    assert r.stderr.count("\n") == 1
    path.write_text("poll_interval_sec = 0\n")
    r = kas("debug")
    assert r.returncode == 9 and "key 'poll_interval_sec'" in r.stderr and r.stderr.count("\n") == 1


def test_signal_process_creates_signal_dirs(kas, repo: Path) -> None:
    assert kas("signal", "process", "--once").stdout == "no signals to process\n"
    for sub in ("", "processing", "failed"):
        assert (repo / ".kasmos" / "signals" / sub).is_dir()
