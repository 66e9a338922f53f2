"""git operations on one repository: worktrees, branches, dirty checks, the default branch.

Every call runs ``git`` with an argument list (never a shell) and ``--`` before paths, so a hostile
branch or path is only ever an argument. Failures raise :class:`KasError` subclasses with git's own
first line of stderr. Paths under ``.kasmos/`` (kasmos' logs and prompt files, ignored by the
``.kasmos/.gitignore`` we write) and ``.worktrees/`` (the agents' worktrees) never count as dirt.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kasmos.supervisor.errors import Conflict, InvalidArgument, KasError, NotFound

GIT_TIMEOUT_S = 120


class GitFailed(KasError):
    pass


def git(cwd: str | Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise GitFailed("git is not installed", hint="install git") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitFailed(f"git {args[0]} took longer than {GIT_TIMEOUT_S}s in {cwd}") from exc
    if check and done.returncode != 0:
        first = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[0]
        raise GitFailed(f"git {args[0]} failed in {cwd}: {first}")
    return done


def head_sha(root: str | Path) -> str:
    done = git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    if done.returncode != 0:
        raise InvalidArgument(
            f"repository {root} has no commits yet",
            hint="make a first commit (git commit --allow-empty -m init), then retry",
        )
    return done.stdout.strip()


def branch_exists(root: str | Path, branch: str) -> bool:
    return git(root, "show-ref", "--verify", "-q", f"refs/heads/{branch}", check=False).returncode == 0


def worktrees(root: str | Path) -> dict[str, str]:
    """Checked-out branches → worktree path (``git worktree list --porcelain``)."""
    out: dict[str, str] = {}
    path = ""
    for line in git(root, "worktree", "list", "--porcelain").stdout.splitlines():
        if line.startswith("worktree "):
            path = line[len("worktree ") :]
        elif line.startswith("branch refs/heads/"):
            out[line[len("branch refs/heads/") :]] = path
    return out


def add_worktree(
    root: str | Path, path: str, branch: str, create: bool, reuse: bool = False
) -> dict[str, str]:
    """Check ``branch`` out at ``path``: a new branch off HEAD when ``create``, else the existing one.
    With ``reuse``, a worktree already at ``path`` with ``branch`` checked out is accepted as is."""
    base = head_sha(root)
    if reuse and os.path.isdir(path) and worktrees(root).get(branch) == path:
        ignore_kasmos_dir(path)
        return {"path": path, "branch": branch, "base": base, "created_branch": "false", "reused": "true"}
    if os.path.lexists(path):
        raise Conflict(
            f"worktree path {path} already exists",
            hint="remove it (git worktree remove) or choose another title",
        )
    exists = branch_exists(root, branch)
    if exists:
        elsewhere = worktrees(root).get(branch)
        if elsewhere:
            raise Conflict(
                f"branch {branch} is already checked out at {elsewhere}",
                hint="pause the instance using it, or choose another branch",
            )
    elif not create:
        raise NotFound(f"branch {branch} does not exist", hint="check `git branch --list`")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if exists:
        git(root, "worktree", "add", "--", path, branch)
    else:
        git(root, "worktree", "add", "-b", branch, "--", path, base)
    ignore_kasmos_dir(path)
    return {
        "path": path,
        "branch": branch,
        "base": base,
        "created_branch": str(not exists).lower(),
        "reused": "false",
    }


def ignore_kasmos_dir(worktree: str | Path) -> None:
    """``<worktree>/.kasmos/.gitignore`` = ``*``: logs and prompt files never make a worktree dirty."""
    kasmos = Path(worktree) / ".kasmos"
    (kasmos / "logs").mkdir(parents=True, exist_ok=True)
    ignore = kasmos / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")


def remove_worktree(root: str | Path, path: str) -> bool:
    """Remove the worktree at ``path`` (the branch stays); a path git no longer knows is pruned."""
    removed = False
    if os.path.isdir(path):
        git(root, "worktree", "remove", "--force", "--", path)
        removed = True
    git(root, "worktree", "prune")
    return removed


def dirty(path: str | Path) -> list[str]:
    """``git status --porcelain`` lines of a worktree, without kasmos' own ``.kasmos/`` files."""
    if not os.path.isdir(path):
        return []
    lines = git(path, "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    return [line for line in lines if not line[3:].startswith((".kasmos/", ".worktrees/"))]


def current_branch(path: str | Path) -> str:
    done = git(path, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    return done.stdout.strip()


def toplevel(path: str | Path) -> str:
    return git(path, "rev-parse", "--show-toplevel").stdout.strip()


def main_root(path: str | Path) -> str:
    """The main repository root of a path inside it or inside one of its worktrees."""
    common = git(path, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip()
    return str(Path(common).parent) if Path(common).name == ".git" else toplevel(path)


def default_branch(root: str | Path) -> str:
    """``origin/HEAD``, else ``main``, else ``master``, else the current branch."""
    done = git(root, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD", check=False)
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip().removeprefix("origin/")
    for name in ("main", "master"):
        if branch_exists(root, name):
            return name
    return current_branch(root)


def describe_dirt(lines: list[str], limit: int = 5) -> str:
    paths = [line[3:] for line in lines]
    shown = ", ".join(paths[:limit])
    return shown + (f" (+{len(paths) - limit} more)" if len(paths) > limit else "")
