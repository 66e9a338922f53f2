"""The git worker's op table: worktrees, branches, dirty checks (all paths absolute).

| op                    | args                                   | result                              |
|-----------------------|----------------------------------------|-------------------------------------|
| git.worktree_add      | repo, path, branch, create             | {path, branch, base, created_branch} |
| git.worktree_remove   | repo, path, force                      | {removed}; refuses dirt unless force |
| git.dirty             | path                                   | {dirty: [porcelain lines]}           |
| git.default_branch    | repo                                   | {branch}                            |
| git.inspect           | path                                   | {root, worktree, branch}            |

``path`` of a worktree must lie under ``<repo>/.worktrees/``.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from kasmos.supervisor.errors import Conflict, InvalidArgument
from kasmos.supervisor.ops import Args, OpTable
from kasmos.workers.git import naming
from kasmos.workers.git import repo as gitrepo

OPS: OpTable[None] = OpTable("git")


class RepoArgs(Args):
    repo: str = Field(min_length=1, max_length=4096)


class WorktreeArgs(RepoArgs):
    path: str = Field(min_length=1, max_length=4096)


def _inside(repo: str, path: str) -> str:
    if not os.path.isabs(repo) or not os.path.isabs(path):
        raise InvalidArgument("repository and worktree paths must be absolute")
    base = os.path.join(repo, ".worktrees") + os.sep
    if not os.path.normpath(path).startswith(base):
        raise InvalidArgument(f"worktree path {path} is not under {base}")
    return os.path.normpath(path)


class AddArgs(WorktreeArgs):
    branch: str = Field(min_length=1, max_length=255)
    create: bool = True
    reuse: bool = False


@OPS.op("git.worktree_add", AddArgs, mutating=True)
def worktree_add(ctx: None, args: AddArgs) -> dict[str, Any]:
    naming.check_branch(args.branch)
    return gitrepo.add_worktree(
        args.repo, _inside(args.repo, args.path), args.branch, args.create, args.reuse
    )


class RemoveArgs(WorktreeArgs):
    force: bool = False


@OPS.op("git.worktree_remove", RemoveArgs, mutating=True)
def worktree_remove(ctx: None, args: RemoveArgs) -> dict[str, Any]:
    path = _inside(args.repo, args.path)
    dirt = gitrepo.dirty(path)
    if dirt and not args.force:
        raise Conflict(
            f"worktree has uncommitted changes ({gitrepo.describe_dirt(dirt)})",
            hint="commit or stash first",
            details={"dirty": dirt},
        )
    return {"removed": gitrepo.remove_worktree(args.repo, path)}


class PathArgs(Args):
    path: str = Field(min_length=1, max_length=4096)


@OPS.op("git.dirty", PathArgs)
def git_dirty(ctx: None, args: PathArgs) -> dict[str, Any]:
    return {"dirty": gitrepo.dirty(args.path)}


@OPS.op("git.default_branch", RepoArgs)
def git_default_branch(ctx: None, args: RepoArgs) -> dict[str, Any]:
    return {"branch": gitrepo.default_branch(args.repo)}


@OPS.op("git.inspect", PathArgs)
def git_inspect(ctx: None, args: PathArgs) -> dict[str, Any]:
    if not os.path.isdir(args.path):
        raise InvalidArgument(f"{args.path} is not a directory")
    return {
        "root": gitrepo.main_root(args.path),
        "worktree": gitrepo.toplevel(args.path),
        "branch": gitrepo.current_branch(args.path),
    }


def serial_key(op: str, args: dict[str, Any]) -> str:
    """Ops on one repository run one at a time; different repositories run in parallel."""
    return str(args.get("repo") or args.get("path") or "")
