"""What an agent is doing, read from its pane text (agent-protocols §5). Pure: no I/O.

:func:`classify` reads one ANSI-free capture: ``waiting`` (an approval question on screen), ``trust``
(a folder-trust dialog, answered with Enter automatically), ``busy`` (the program's busy marker) or
``idle`` (its prompt). Programs without a reliable marker fall back to change detection: a screen
that changed since the last look is busy. :class:`Debouncer` turns the raw readings into a status a
person can trust: entering ``busy`` or ``waiting`` needs two matching readings in a row, and ``idle``
needs the screen unchanged for ``quiet_s``, because spinners and footers flicker between redraws.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[@-Z\\-_]")

APPROVAL = {
    "claude": ("Do you want to proceed?", "No, and tell Claude what to do differently", "Allow tool"),
    "codex": ("Would you like to run the following command?", "Yes, proceed (y)"),
    "gemini": ("Yes, allow once",),
    "opencode": ("Permission required",),
}
BUSY = {
    "claude": ("esc to interrupt",),
    "codex": ("esc to interrupt", "• Working"),
    "gemini": ("esc to cancel",),
    "opencode": ("esc interrupt",),
}
IDLE = {
    "claude": ("❯", "? for shortcuts"),
    "codex": ("›", "? for shortcuts"),
    "opencode": ("Ask anything",),
}
TRUST = ("Do you trust the files in this folder?",)
GENERIC_APPROVAL = (*tuple(p for patterns in APPROVAL.values() for p in patterns), "Approve?")
GENERIC_BUSY = ("esc to interrupt", "esc to cancel")

# Keys that answer an approval question: (approve, deny).
ANSWERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "claude": (("1",), ("Escape",)),
    "codex": (("y",), ("Escape",)),
    "gemini": (("1",), ("Escape",)),
    "opencode": (("Enter",), ("Right", "Right", "Enter")),
    "amp": (("y",), ("n",)),
    "other": (("y", "Enter"), ("n", "Enter")),
}


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def tail(text: str, lines: int = 30) -> list[str]:
    rows = [row.rstrip() for row in text.splitlines() if row.strip()]
    return rows[-lines:]


def classify(kind: str, screen: str) -> str:
    """One reading: ``waiting``, ``trust``, ``busy``, ``idle`` or ``unknown`` (decide by change)."""
    rows = tail(strip_ansi(screen))
    text = "\n".join(rows)
    if any(p in text for p in TRUST):
        return "trust"
    if any(p in text for p in APPROVAL.get(kind, GENERIC_APPROVAL)):
        return "waiting"
    if any(p in text for p in BUSY.get(kind, GENERIC_BUSY)):
        return "busy"
    idle = IDLE.get(kind)
    if idle and any(p in row for row in rows[-3:] for p in idle):
        return "idle"
    return "unknown"


def screen_hash(screen: str) -> str:
    return hashlib.blake2b(strip_ansi(screen).encode(), digest_size=12).hexdigest()


@dataclass
class Debouncer:
    kind: str
    quiet_s: float = 1.0
    status: str = "starting"
    _last_reading: str = ""
    _last_hash: str = ""
    _changed_at: float = 0.0

    def observe(self, screen: str, now: float) -> tuple[str, bool]:
        """Feed one capture; returns (status, whether a trust dialog wants Enter)."""
        digest = screen_hash(screen)
        changed = digest != self._last_hash
        if changed:
            self._last_hash = digest
            self._changed_at = now
        reading = classify(self.kind, screen)
        if reading == "trust":
            return self.status, True
        quiet = now - self._changed_at >= self.quiet_s
        if reading == "unknown":
            reading = "idle" if quiet else "busy"
        repeated = reading == self._last_reading
        self._last_reading = reading
        if reading == "idle":
            if quiet or self.status == "starting":
                self._set(reading)
        elif repeated or self.status == "starting":
            self._set(reading)
        return self.status, False

    def _set(self, status: str) -> None:
        self.status = status

    def settle_at(self) -> float:
        """When a reading should be taken again so a quiet screen can become ``idle``."""
        return self._changed_at + self.quiet_s
