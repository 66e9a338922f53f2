"""Timestamps as stored: TEXT in RFC3339Nano UTC, ``''`` for the zero time.

We always write nine fractional digits (``2026-11-21T11:21:27.123456789Z``): still RFC3339Nano for
readers, and unlike Go's trimmed form it sorts lexicographically in time order, which the signal
claim's ``ORDER BY created_at`` relies on. Parsing accepts any RFC3339 form; failure is the zero time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

ZERO = ""


def format_ns(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def now() -> str:
    return format_ns(time.time_ns())


def ago(seconds: float) -> str:
    return format_ns(time.time_ns() - int(seconds * 1_000_000_000))


def parse(text: str) -> datetime | None:
    """Parse an RFC3339(Nano) timestamp to an aware UTC datetime; '' or garbage → None."""
    value = text.strip()
    if not value:
        return None
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, sep, rest = value.partition(".")
    if sep:
        digits = rest
        tz = ""
        for i, char in enumerate(rest):
            if not char.isdigit():
                digits, tz = rest[:i], rest[i:]
                break
        value = f"{head}.{digits[:6].ljust(6, '0')}{tz}" if digits else f"{head}{tz}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
