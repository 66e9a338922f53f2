"""One protocol contract, run against the fakes always and against the real programs when installed
(agent-protocols §6.1): if a fake drifts from the real program, the same assertion fails on one side."""

from __future__ import annotations

from pathlib import Path

from tests.contract.conftest import Agent


def test_a_turn_streams_text_and_two_turns_share_a_process(drive, agent: Agent) -> None:
    d = drive()
    pid = d.session.pid
    d.session.send("say hi", enter=True)
    done = d.wait_for("agent.turn_done")
    assert done["status"] == "completed" and done["is_error"] is False
    streamed = "".join(e["text"] for e in d.of("agent.text"))
    assert "Hello from the fake model. You said: say hi" in streamed
    assert len(d.of("agent.text")) >= 1
    assert d.session.status == "idle" and d.session.resume_id
    d.session.send("again", enter=True)
    assert d.wait_for("agent.turn_done", 2)["status"] == "completed"
    assert d.session.pid == pid
    text = d.text()
    assert "› say hi" in text and "You said: again" in text and text.count("■ turn completed") == 2


def test_approval_allowed_then_denied(drive, agent: Agent, tmp_path: Path) -> None:
    d = drive()
    worktree = Path(d.session.spec.worktree)
    d.session.send("run: touch approved.txt", enter=True)
    d.wait_status("waiting-for-approval")
    assert "touch approved.txt" in d.of("agent.approval")[0]["text"]
    assert d.session.answer(True) == "approved"
    assert d.wait_for("agent.turn_done")["status"] == "completed"
    assert (worktree / "approved.txt").exists()
    assert "ran it" in d.text()

    d.session.send("run: touch denied.txt", enter=True)
    d.wait_status("waiting-for-approval")
    assert d.session.answer(False) == "denied"
    d.wait_for("agent.turn_done", 2)
    assert not (worktree / "denied.txt").exists()
    results = d.of("agent.tool_result")
    assert results and results[-1]["is_error"] is True
    assert d.session.status == "idle"


def test_skip_permissions_needs_no_approval(drive, agent: Agent) -> None:
    d = drive(skip_permissions=True)
    d.session.send("exec: touch auto.txt", enter=True)
    d.wait_for("agent.turn_done")
    assert (Path(d.session.spec.worktree) / "auto.txt").exists(), d.text()
    assert not d.of("agent.approval")


def test_interrupt_ends_the_turn(drive, agent: Agent) -> None:
    d = drive()
    d.session.send("stall", enter=True)
    d.wait_status("busy")
    d.pump(1.0)  # let the turn get going
    d.session.interrupt()
    done = d.wait_for("agent.turn_done")
    assert done["status"] == "interrupted"
    d.wait_status("idle")
    d.session.send("after", enter=True)
    assert d.wait_for("agent.turn_done", 2)["status"] == "completed"


def test_stdin_eof_ends_the_program(drive, agent: Agent) -> None:
    d = drive()
    d.session.send("bye", enter=True)
    d.wait_for("agent.turn_done")
    proc = d.session.proc
    assert proc is not None and proc.stdin is not None
    proc.stdin.close()
    d.until(lambda: bool(d.of("agent.exited") or d.of("agent.crashed")), 20, "the exit")
    assert proc.returncode == 0  # the last turn succeeded: both exit 0
