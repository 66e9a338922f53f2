"""Branch naming (reference section 7). Pure: no I/O.

``sanitize``: lowercase, whitespace to ``-``, strip ``[^a-z0-9\\-_/.]``, collapse repeated ``-``,
trim ``-`` and ``/``. Task branches are ``plan/<sanitized name>``. ``check_ref_format`` applies git's
ref-name rules so a hostile ``--branch`` never reaches git (or a path) unvetted.
"""

from __future__ import annotations

import hashlib
import re

from kasmos.supervisor.errors import InvalidArgument

_INVALID = re.compile(r"[^a-z0-9\-_/.]")
_DASHES = re.compile(r"-{2,}")
_WHITESPACE = re.compile(r"\s+")


def sanitize(name: str) -> str:
    text = _WHITESPACE.sub("-", name.lower())
    text = _INVALID.sub("", text)
    text = _DASHES.sub("-", text)
    return text.strip("-/")


def task_branch(task_name: str) -> str:
    """The default branch of a task: ``plan/<slug>``; a name with no usable character gets a hash."""
    slug = sanitize(task_name)
    slug = "/".join(part for part in slug.split("/") if part and part.strip(".")).strip("-/.")
    if not slug or check_ref_problem(f"plan/{slug}"):
        digest = hashlib.sha1(task_name.encode("utf-8", errors="surrogatepass")).hexdigest()[:8]
        slug = f"task-{digest}"
    return f"plan/{slug}"


def check_ref_problem(branch: str) -> str | None:
    """Why ``branch`` is not a valid git branch name (git check-ref-format rules), or None."""
    if not branch:
        return "it is empty"
    if branch.startswith("-"):
        return "it starts with '-'"
    if branch.endswith("/") or branch.startswith("/") or "//" in branch:
        return "it has an empty path component"
    if branch.endswith("."):
        return "it ends with '.'"
    if ".." in branch:
        return "it contains '..'"
    if "@{" in branch or branch == "@":
        return "it contains '@{'"
    for char in branch:
        if ord(char) < 0x20 or ord(char) == 0x7F or char in " ~^:?*[\\":
            return f"it contains the character {char!r}"
    for part in branch.split("/"):
        if part.startswith("."):
            return "a component starts with '.'"
        if part.endswith(".lock"):
            return "a component ends with '.lock'"
    if len(branch.encode("utf-8")) > 240:
        return "it is longer than 240 bytes"
    return None


def check_branch(branch: str) -> str:
    problem = check_ref_problem(branch)
    if problem:
        raise InvalidArgument(
            f"invalid branch name {branch!r}: {problem}",
            hint="choose a name git accepts (see git check-ref-format)",
        )
    return branch


# -- instances: titles, tmux sessions, worktree paths (reference sections 7 and 8) --------------------

TITLE_MAX = 100


def check_title(title: str) -> str:
    """A usable instance title: 1–100 printable characters, no ``/``, not starting with ``-``."""
    problem = None
    if not title.strip():
        problem = "it is empty"
    elif len(title) > TITLE_MAX:
        problem = f"it is longer than {TITLE_MAX} characters"
    elif title.startswith("-"):
        problem = "it starts with '-'"
    elif "/" in title or "\\" in title:
        problem = "it contains a slash"
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in title):
        problem = "it contains a control character"
    elif not session_body(title):
        problem = "it has no character usable in a tmux session name"
    if problem:
        raise InvalidArgument(
            f"invalid instance title {title!r}: {problem}",
            hint="use letters, digits, '-', '_' or '.'",
        )
    return title


def session_body(title: str) -> str:
    return _WHITESPACE.sub("", title).replace(".", "_").replace(":", "_")


def session_name(title: str) -> str:
    """``kas_`` + the title with whitespace removed and ``.``/``:`` → ``_`` (tmux forbids both)."""
    return "kas_" + session_body(title)


def adhoc_branch(prefix: str, title: str) -> str:
    """``sanitize(branch_prefix + title)``; a result git refuses falls back to a hashed name."""
    branch = "/".join(p for p in sanitize(prefix + title).split("/") if p and p.strip(".")).strip("-/.")
    if not branch or check_ref_problem(branch):
        digest = hashlib.sha1(title.encode("utf-8", errors="surrogatepass")).hexdigest()[:8]
        branch = f"session/instance-{digest}"
    return branch


def adhoc_worktree_name(branch: str, unix_nanos: int) -> str:
    """``<branch>_<hex unix nanos>`` relative to ``.worktrees/`` (a ``/`` in the branch nests)."""
    return f"{branch}_{unix_nanos:x}"


def task_worktree_name(branch: str) -> str:
    """The shared task worktree: the branch with ``/`` → ``-``."""
    return branch.replace("/", "-")


def worktree_inside(root: str, relative: str) -> str:
    """``<root>/.worktrees/<relative>``, refusing anything that would land outside ``.worktrees/``."""
    import os.path

    base = os.path.join(root, ".worktrees")
    path = os.path.normpath(os.path.join(base, relative))
    if not path.startswith(base + os.sep) or any(p in ("", ".", "..") for p in relative.split("/")):
        raise InvalidArgument(f"worktree name {relative!r} escapes .worktrees/", hint="choose another name")
    return path
