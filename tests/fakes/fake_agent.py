"""A fake interactive agent for tmux-mode tests, drawn like claude's TUI (agent-protocols §5).

It shows the ``❯`` input line with the ``? for shortcuts`` footer when idle, the ``esc to interrupt``
footer while it works, and claude's approval question (``Do you want to proceed?`` / ``❯ 1. Yes`` /
``3. No``) which it answers on ``1`` (yes) or Escape (no). Keys are read raw from the pane's tty.
Commands typed at the prompt (or given as the initial prompt):

- ``work <seconds>``: busy for that long, then ``done``;
- ``ask``: the approval question; then ``approved`` or ``denied``;
- ``crash <code>``: exit with that status; ``exit``: exit 0;
- anything else is echoed as ``got: <text>``.

``--continue`` prints ``resumed previous conversation``. ``FAKE_AGENT_TRUST=1`` shows the folder-trust
dialog first (dismissed by Enter). The first lines name the instance (``KASMOS_INSTANCE_ID``).
"""

from __future__ import annotations

import os
import sys
import termios
import time
import tty


def out(text: str = "") -> None:
    sys.stdout.write(text + "\r\n")
    sys.stdout.flush()


def clear() -> None:
    """Redraw from the top, as a full-screen TUI does: old markers leave the screen."""
    sys.stdout.write("\x1b[2J\x1b[H")
    sys.stdout.flush()


def idle() -> None:
    out("─" * 40)
    sys.stdout.write("❯ ")
    sys.stdout.flush()


def footer_idle() -> None:
    out("")
    out("  ? for shortcuts")


def read_key() -> str:
    return os.read(0, 1).decode(errors="replace")


def read_line() -> str:
    text = ""
    while True:
        key = read_key()
        if key in ("\r", "\n"):
            out("")
            return text
        if key == "\x7f":
            text = text[:-1]
            continue
        if key == "\x1b":
            continue
        text += key
        sys.stdout.write(key)
        sys.stdout.flush()


def handle(line: str) -> None:
    words = line.split()
    if not words:
        return
    if words[0] == "work":
        seconds = float(words[1]) if len(words) > 1 else 1.0
        end = time.monotonic() + seconds
        spin = "✢✳✶✻✽"
        i = 0
        while time.monotonic() < end:
            clear()
            out(f"> {line}")
            out(f"{spin[i % len(spin)]} Skedaddling… ({i}s · esc to interrupt)")
            i += 1
            time.sleep(0.2)
        clear()
        out(f"✻ Worked for {seconds:g}s")
        out("done")
    elif words[0] == "ask":
        clear()
        out("Bash command: rm -rf build")
        out("Do you want to proceed?")
        out("❯ 1. Yes")
        out("  2. Yes, and always allow access to build/")
        out("  3. No, and tell Claude what to do differently (esc)")
        out("Esc to cancel · Tab to amend")
        while True:
            key = read_key()
            if key in ("1", "\r"):
                clear()
                out("approved")
                break
            if key == "\x1b":
                clear()
                out("denied")
                break
    elif words[0] == "crash":
        sys.exit(int(words[1]) if len(words) > 1 else 1)
    elif words[0] == "exit":
        sys.exit(0)
    else:
        out(f"got: {line}")


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    out(f"fake agent (instance {os.environ.get('KASMOS_INSTANCE_ID', '-')})")
    out(f"project {os.environ.get('KASMOS_PROJECT', '-')} managed {os.environ.get('KASMOS_MANAGED', '-')}")
    if "--continue" in argv:
        out("resumed previous conversation")
    fd = 0
    old = termios.tcgetattr(fd) if os.isatty(fd) else None
    if old is not None:
        tty.setcbreak(fd)
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    try:
        if os.environ.get("FAKE_AGENT_TRUST") == "1":
            out("Do you trust the files in this folder?")
            out("❯ 1. Yes, proceed")
            while read_key() not in ("\r", "\n"):
                pass
            clear()
            out("trusted")
        for line in args:
            if line.startswith("@"):
                with open(line[1:]) as handle_:
                    line = handle_.read().strip().splitlines()[0]
            out(f"> {line}")
            handle(line)
        while True:
            idle()
            footer_idle()
            handle(read_line())
    finally:
        if old is not None:
            termios.tcsetattr(fd, termios.TCSANOW, old)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
