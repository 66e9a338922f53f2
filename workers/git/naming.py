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
