"""Config parsing (defaults, one-line errors) and timestamp formatting."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasmos.supervisor.config import (
    DaemonConfig,
    ProjectConfig,
    load_daemon_config,
    load_project_config,
    unknown_keys,
)
from kasmos.supervisor.errors import InvalidConfig
from kasmos.workers.store import timefmt


def test_missing_files_mean_defaults(tmp_path: Path) -> None:
    daemon = load_daemon_config(tmp_path / "none.toml")
    assert daemon == DaemonConfig()
    assert (daemon.poll_interval_sec, daemon.auto_advance, daemon.readiness_max_verify_cycles) == (2, True, 2)
    assert daemon.pr_creator.max_attempts == 5 and daemon.pr_monitor.reactions == ["eyes"]
    project = load_project_config(tmp_path / "none.toml")
    assert project.sdk.transcript_max_bytes == 4 * 1024 * 1024
    assert project.orchestration.blueprint_skip_threshold == 2
    assert project.branch_prefix.endswith("/")


def test_reference_values_and_aliases(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[agents.coder]\nprogram = "claude"\nexecution_mode = "headless"\ntier = "default"\n'
        'permission_default = "sometimes"\n[sdk]\ntranscript_max_turns = -5\n'
        "[ui]\nauto_advance = false\n"
    )
    cfg = load_project_config(path)
    coder = cfg.agents["coder"]
    assert (coder.execution_mode, coder.tier, coder.permission_default) == ("sdk", "flex", "prompt")
    assert cfg.sdk.transcript_max_turns == 0
    assert cfg.ui.auto_advance is False
    daemon = tmp_path / "daemon.toml"
    daemon.write_text("readiness_self_fix_max_lines = 0\nreadiness_max_verify_cycles = -1\n")
    loaded = load_daemon_config(daemon)
    assert (loaded.readiness_self_fix_max_lines, loaded.readiness_max_verify_cycles) == (80, 2)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("poll_interval_sec = \n", "line 1"),
        ('auto_advance = "yes"\n', "key 'auto_advance'"),
        ("[pr_monitor]\npoll_interval_sec = -1\n", "key 'pr_monitor.poll_interval_sec'"),
        ("repos = [1, 2]\n", "key 'repos.0'"),
    ],
)
def test_malformed_daemon_config_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text(text)
    with pytest.raises(InvalidConfig) as info:
        load_daemon_config(path)
    line = info.value.one_line()
    assert str(path) in line and needle in line and "\n" not in line


def test_bad_planner_names(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[orchestration]\nplanners = ["a", "../b"]\n')
    with pytest.raises(InvalidConfig, match="planners"):
        load_project_config(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"x = '\xff'\n")
    with pytest.raises(InvalidConfig, match="UTF-8"):
        load_project_config(path)


def test_unknown_keys_are_listed() -> None:
    assert unknown_keys(ProjectConfig, {"auto_yes": True, "autoyes": 1, "ui": {"colour": 1}}) == [
        "autoyes",
        "ui.colour",
    ]


def test_timestamps_sort_and_round_trip() -> None:
    a = timefmt.format_ns(1_700_000_000_000_000_000)
    b = timefmt.format_ns(1_700_000_000_100_000_000)
    assert a == "2023-11-14T22:13:20.000000000Z" and a < b
    parsed = timefmt.parse(b)
    assert parsed is not None and parsed.microsecond == 100000
    assert timefmt.parse("2025-03-10T12:00:00Z") is not None
    assert timefmt.parse("2025-03-10T12:00:00.123456789+02:00") is not None
    assert timefmt.parse("") is None and timefmt.parse("garbage") is None
