"""Output helpers: aligned tables (like Go's tabwriter), JSON, and one-line errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, padding: int = 2) -> str:
    """Columns padded to their widest cell; trailing spaces trimmed from every line."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [cell.ljust(widths[i] + padding) for i, cell in enumerate(row[:-1])]
        parts.append(row[-1])
        lines.append("".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def error_line(line: str) -> None:
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()
