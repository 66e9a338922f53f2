"""Hostile names and awkward repositories for `kas instance start`: clear errors, nothing half made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kasmos.supervisor.errors import KasError
from tests.conftest import git, make_repo
from tests.integration.agents import instance, sessions, tmux, wait_status


def titles(kas) -> list[str]:
    return [r["title"] for r in json.loads(kas("instance", "list", "--json").stdout)]


def test_hostile_titles_never_reach_a_shell(
    kas, daemon, repo: Path, fake_claude: str, tmp_path: Path
) -> None:
    marker = "pwned"  # relative: a title may not contain a slash; searched for everywhere below
    for title in (f"$(touch {marker})", f"x; touch {marker}", f"`rm -rf {marker}`", 'it\'s "quoted"'):
        result = kas("instance", "start", title, "--program", fake_claude, "--prompt", f"$(touch {marker})")
        assert result.returncode == 0, result.stderr
        record = wait_status(kas, title, "idle")
        assert Path(record["worktree"]).resolve().is_relative_to((repo / ".worktrees").resolve())
        assert record["session"] in sessions()
    same_branch = kas("instance", "start", f"`touch {marker}`", "--program", fake_claude)
    assert same_branch.returncode == 5 and "touch-pwned is already checked out" in same_branch.stderr
    assert not list(tmp_path.rglob(marker)) and not (Path.cwd() / marker).exists()
    screen = kas("instance", "capture", "quoted").stdout
    assert f"got: $(touch {marker})" in screen  # the prompt arrived as text, not as a command
    for title in ("../escape", "a/b", "-rf", "\x1b[2Jx", "x" * 101):
        result = kas("instance", "start", "--program", fake_claude, "--", title)
        assert result.returncode == 2, (title, result.stderr)
        assert result.stderr.startswith("error: invalid instance title") and result.stderr.count("\n") == 1
    assert len(titles(kas)) == 4


def test_hostile_and_busy_branches(kas, daemon, repo: Path, fake_claude: str) -> None:
    for branch in ("--upload-pack=evil", "a..b", "x y", "../../etc", "refs/heads/@{1}"):
        result = kas("instance", "start", "b", "--program", fake_claude, "--branch", branch)
        assert result.returncode == 2, (branch, result.stderr)
        assert "invalid branch name" in result.stderr
    busy = kas("instance", "start", "b", "--program", fake_claude, "--branch", "main")
    assert busy.returncode == 5 and "branch main is already checked out at" in busy.stderr
    missing = kas("instance", "start", "b", "--program", fake_claude, "--branch", "no-such-branch")
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    git(repo, "branch", "feature/x")
    ok = kas("instance", "start", "b", "--program", fake_claude, "--branch", "feature/x")
    assert ok.returncode == 0, ok.stderr
    assert instance(kas, "b")["branch"] == "feature/x"
    again = kas("instance", "start", "c", "--program", fake_claude, "--branch", "feature/x")
    assert again.returncode == 5 and "already checked out" in again.stderr
    assert titles(kas) == ["b"] and not list((repo / ".worktrees").glob("feature/x_*"))[1:]


def test_existing_worktree_path_and_foreign_session(kas, daemon, repo: Path, fake_claude: str) -> None:
    (repo / ".worktrees" / "plan-auth").mkdir(parents=True)
    (repo / ".worktrees" / "plan-auth" / "keep.txt").write_text("mine\n")
    clash = kas("instance", "start", "coder", "--program", fake_claude, "--task", "auth")
    assert clash.returncode == 5 and "worktree path" in clash.stderr and "already exists" in clash.stderr
    assert (repo / ".worktrees" / "plan-auth" / "keep.txt").read_text() == "mine\n"
    tmux("new-session", "-d", "-s", "kas_taken", "sleep 1000")
    taken = kas("instance", "start", "taken", "--program", fake_claude)
    assert taken.returncode == 5 and "already exists and is not this instance's" in taken.stderr
    assert "kas_taken" in sessions()  # somebody else's session is left alone
    assert titles(kas) == []
    assert [p for p in (repo / ".worktrees").rglob("*") if p.name.startswith("taken_")] == []
    dup = kas("instance", "start", "one", "--program", fake_claude)
    assert dup.returncode == 0, dup.stderr
    dup = kas("instance", "start", "one", "--program", fake_claude)
    assert dup.returncode == 5 and "instance title already exists: one" in dup.stderr
    assert kas("instance", "start", "one-more", "--program", fake_claude).returncode == 0
    ambiguous = kas("instance", "send", "on", "hi")
    assert ambiguous.returncode == 2 and "ambiguous instance 'on': matches one, one-more" in ambiguous.stderr
    assert kas("instance", "send", "nobody", "hi").returncode == 3


def test_repo_without_commits(kas, daemon, tmp_path: Path, fake_claude: str) -> None:
    empty = make_repo(tmp_path / "empty", commit=False)
    result = kas("instance", "start", "x", "--program", fake_claude, cwd=empty)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: repository {empty} has no commits yet; make a first commit")
    assert kas("instance", "list", cwd=empty).stdout == "no instances\n"


def test_garbage_instance_requests(daemon, repo: Path) -> None:
    cases = [
        {"repo": str(repo), "title": "x", "program": "p", "bogus": 1},
        {"repo": str(repo), "title": "x" * 5000, "program": "p"},
        {"repo": str(repo), "title": "x", "program": ""},
        {"repo": "relative", "title": "x", "program": "p"},
        {"title": "x"},
    ]
    for args in cases:
        with pytest.raises(KasError) as caught:
            daemon.call("instance.start", args, retry=False)
        assert caught.value.code == "invalid_argument", (args, caught.value.message)
    for op, args in (("instance.capture", {"repo": str(repo), "title": "x", "start": "1; kill"}),
                     ("tmux.kill", {"session": ""}), ("instance.send", {"repo": str(repo)})):  # fmt: skip
        with pytest.raises(KasError):
            daemon.call(op, args, retry=False)
    assert daemon.call("daemon.ping")
