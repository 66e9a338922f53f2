"""The readable transcript of an sdk agent: notes in, lines out, bounded. Pure except the log file.

Rendering (one note → lines)::

    › <prompt>                          a user turn (starts a new turn for the limits)
    <assistant text, streamed>
    ⚙ $ ls -la                          a tool call;  ↳ <output> / ✗ <output> its result
    ? approval needed: run … — kas instance approve|deny <title>
    ✓ approved / ✗ denied / … withdrawn
    ■ turn completed (1.2 s) / ■ turn interrupted / ■ turn failed: <why>
    ! <error> (retrying)                ~ <notice>

Limits (``[sdk] transcript_max_bytes`` and ``transcript_max_turns``; 0 = no limit): the oldest turns
go first, then the oldest lines. Every finished line is also appended to a file under
``<worktree>/.kasmos/logs/``, and a new transcript (after a relaunch) starts from that file's tail.
``capture`` takes tmux-like ``-S``/``-E``: 0 is the first line of the last ``SCREEN_LINES`` lines,
negative numbers reach back into history, ``-`` is the very start (``-S``) or end (``-E``).
"""

from __future__ import annotations

import contextlib
from collections import deque
from pathlib import Path

from kasmos.workers.session.transport import Note

SCREEN_LINES = 50
MAX_LINE_CHARS = 4000


def render(note: Note, title: str) -> list[str] | None:
    """Whole lines for a note; None for streamed text (handled by the transcript)."""
    kind, text, data = note.kind, note.text, note.data
    if kind in ("text", "text_done"):
        return None
    if kind == "prompt":
        return [f"› {line}" for line in text.splitlines() or [""]]
    if kind == "tool":
        return [f"⚙ {text}"]
    if kind == "tool_result":
        mark = "✗" if data.get("is_error") else "↳"
        lines = text.rstrip("\n").splitlines() or [f"({data.get('status') or 'done'})"]
        shown = lines[:20] + ([f"  … {len(lines) - 20} more lines"] if len(lines) > 20 else [])
        return [f"{mark} {shown[0]}", *(f"  {line}" for line in shown[1:])]
    if kind == "approval":
        return [f"? approval needed: {text} — kas instance approve|deny {title}"]
    if kind == "approval_done":
        return [f"{'✓' if text.startswith(('approved', 'auto-approved')) else '✗'} {text}"]
    if kind == "turn_done":
        seconds = f" ({data['duration_ms'] / 1000:.1f} s)" if isinstance(data.get("duration_ms"), int) else ""
        why = f": {text}" if text else ""
        return [f"■ turn {data.get('status', 'completed')}{seconds}{why}"]
    if kind in ("error", "fatal"):
        return [f"! {text}{' (retrying)' if data.get('will_retry') else ''}"]
    if kind in ("notice", "session"):
        return [f"~ {text}"] if text else []
    return []


class Transcript:
    def __init__(self, title: str, max_bytes: int, max_turns: int, path: Path | None = None) -> None:
        self.title = title
        self.max_bytes = max(0, max_bytes)
        self.max_turns = max(0, max_turns)
        self.turns: deque[list[str]] = deque([[]])
        self.size = 0
        self.partial = ""
        self.path = path
        self._item: object = None
        if path is not None and path.exists():
            with contextlib.suppress(OSError):
                self._load(path)

    def _load(self, path: Path) -> None:
        budget = self.max_bytes or 1024 * 1024
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - budget))
            tail = handle.read().decode("utf-8", "replace").splitlines()
        for line in tail[1:] if len(tail) > 1 else tail:
            self._keep(line, persist=False)

    # -- adding ------------------------------------------------------------------------------------

    def add(self, note: Note) -> None:
        if note.kind == "text":
            if note.data.get("item") != self._item:
                self._end_text()
                self._item = note.data.get("item")
            self._stream(note.text)
            return
        if note.kind == "text_done":
            if note.data.get("item") != self._item and note.text:
                self._end_text()
                self._stream(note.text)
            self._end_text()
            return
        lines = render(note, self.title)
        if not lines:
            return
        self._end_text()
        if note.kind == "prompt":
            self._new_turn()
        for line in lines:
            self._keep(line)

    def _stream(self, text: str) -> None:
        *done, self.partial = (self.partial + text).split("\n")
        for line in done:
            self._keep(line)
        if len(self.partial) > MAX_LINE_CHARS:
            self._keep(self.partial)
            self.partial = ""

    def _end_text(self) -> None:
        if self.partial:
            self._keep(self.partial)
        self.partial = ""
        self._item = None

    def _new_turn(self) -> None:
        if self.turns[-1]:
            self.turns.append([])
        while self.max_turns and len(self.turns) > self.max_turns:
            self.size -= sum(len(line.encode()) + 1 for line in self.turns.popleft())

    def _keep(self, line: str, persist: bool = True) -> None:
        line = line[:MAX_LINE_CHARS]
        self.turns[-1].append(line)
        self.size += len(line.encode()) + 1
        while self.max_bytes and self.size > self.max_bytes and self.lines_count() > 1:
            oldest = self.turns[0]
            self.size -= len(oldest.pop(0).encode()) + 1
            if not oldest and len(self.turns) > 1:
                self.turns.popleft()
        if persist and self.path is not None:
            with contextlib.suppress(OSError), self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    # -- reading -----------------------------------------------------------------------------------

    def lines_count(self) -> int:
        return sum(len(turn) for turn in self.turns)

    def lines(self) -> list[str]:
        every = [line for turn in self.turns for line in turn]
        return every + ([self.partial] if self.partial else [])

    def tail(self, count: int) -> str:
        return "\n".join(self.lines()[-count:]) + "\n"

    def capture(self, start: str | None = None, end: str | None = None) -> str:
        lines = self.lines()
        top = max(0, len(lines) - SCREEN_LINES)  # line 0 of the "screen"

        def index(value: str | None, default: int, dash: int) -> int:
            if value is None:
                return default
            if value == "-":
                return dash
            return min(max(0, top + int(value)), len(lines))

        first = index(start, top, 0)
        last = index(end, len(lines) - 1, len(lines) - 1)
        chosen = lines[first : last + 1]
        return "\n".join(chosen) + ("\n" if chosen else "")
