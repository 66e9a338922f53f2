"""The tmux control-mode client against a real (private) tmux server."""

from __future__ import annotations

import select

from kasmos.workers.session.tmux import ControlClient, Tmux
from tests.integration.agents import tmux


def test_a_wakeup_with_nothing_to_read_is_not_eof(env) -> None:
    assert tmux("new-session", "-d", "-s", "ctl", "-x", "80", "-y", "10", "sleep 30").returncode == 0
    server = Tmux()
    session_id = server.display("=ctl:", "#{session_id}")
    client = ControlClient(server, session_id)
    try:
        tmux("send-keys", "-t", "=ctl:", "x")  # output arrives: the fd turns readable
        assert select.select([client.fileno()], [], [], 5)[0]
        assert client.command("display-message -p hi") == ["hi"]  # a command reads what was there
        client.pump()  # woken for data someone else consumed: nothing to read, not EOF
        client.pump()
        assert not client.closed
        assert client.command("display-message -p again") == ["again"]
        tmux("kill-session", "-t", "=ctl")
        assert select.select([client.fileno()], [], [], 5)[0]
        for _ in range(50):
            client.pump()
            if client.closed:
                break
            select.select([client.fileno()], [], [], 0.1)
        assert client.closed  # the real end is still noticed
    finally:
        client.close()
