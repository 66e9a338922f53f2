"""Task names (the ``filename`` column). Pure: no I/O.

A task name is what users type and agents echo back: a trailing ``.md`` is stripped everywhere.
Names are stored verbatim and never reach a shell or a path unquoted, so shell metacharacters and
unicode are fine. Refused, with a clear error: empty names, control characters (newline, tab, NUL),
path separators and ``.``/``..`` (a name is also a sentinel file's suffix), and names over 200
characters (a sentinel file name must fit in 255 bytes).
"""

from __future__ import annotations

import unicodedata

from kasmos.supervisor.errors import InvalidArgument

MAX_NAME_CHARS = 200
MAX_NAME_BYTES = 200


def strip_md(name: str) -> str:
    return name[:-3] if name.endswith(".md") else name


def problem(name: str) -> str | None:
    if not name.strip():
        return "it is empty"
    if name != name.strip():
        return "it has leading or trailing whitespace"
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return f"it contains the control character {char!r}"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if name in (".", "..") or name.startswith("."):
        return "it starts with '.'"
    if len(name) > MAX_NAME_CHARS or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_CHARS} characters ({MAX_NAME_BYTES} bytes)"
    return None


def normalize(name: str) -> str:
    """Strip ``.md`` and validate; raise InvalidArgument naming the rule broken."""
    clean = strip_md(name)
    why = problem(clean)
    if why:
        raise InvalidArgument(
            f"invalid task name {clean!r}: {why}",
            hint="use letters, digits, '-', '_' (for example auth-refactor)",
        )
    return clean
