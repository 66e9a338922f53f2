"""Pure logic of agents in tmux: launch lines, status detection, restart policy, naming, orphans."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasmos.supervisor.errors import InvalidArgument
from kasmos.workers.git import naming
from kasmos.workers.orphans.scan import classify as classify_orphans
from kasmos.workers.session import detect, launch
from kasmos.workers.session.policy import RestartPolicy, decide
from kasmos.workers.session.tmux import SessionRow


def spec(program: str, **kw: object) -> launch.LaunchSpec:
    base: dict[str, object] = dict(
        instance_id="id1", title="t", project="proj", program=program, worktree="/w", session="kas_t"
    )
    return launch.LaunchSpec(**{**base, **kw})


def argv_of(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[:2] == ["exec", "env"] and words[-2] == "2>>"
    return words[2:-2]


def test_claude_line() -> None:
    built = launch.build(spec("claude", prompt="fix it", skip_permissions=True, model="opus"))
    words = argv_of(built.command)
    assert (
        "KASMOS_MANAGED=1" in words and "KASMOS_INSTANCE_ID=id1" in words and "KASMOS_PROJECT=proj" in words
    )
    assert "CLAUDE_CODE_NO_FLICKER=0" in words
    assert words[-5:] == ["claude", "--dangerously-skip-permissions", "--model", "opus", "fix it"]
    assert shlex.split(built.command)[-1] == "/w/.kasmos/logs/kas_t.log"
    resumed = argv_of(launch.build(spec("claude", prompt="fix it"), resume=True).command)
    assert resumed[-2:] == ["claude", "--continue"]


def test_codex_always_no_daemon() -> None:
    words = argv_of(launch.build(spec("/opt/bin/codex", prompt="go", skip_permissions=True)).command)
    assert words[-4:] == ["/opt/bin/codex", "--no-daemon", "--dangerously-bypass-approvals-and-sandbox", "go"]
    assert "RUST_LOG=warn" in words and "OTEL_SDK_DISABLED=true" in words
    resumed = argv_of(launch.build(spec("codex"), resume=True).command)
    assert resumed[-4:] == ["codex", "--no-daemon", "resume", "--last"]


def test_opencode_gemini_amp_other() -> None:
    assert argv_of(launch.build(spec("opencode", prompt="p")).command)[-3:] == ["opencode", "--prompt", "p"]
    assert argv_of(launch.build(spec("gemini", prompt="p", skip_permissions=True)).command)[-4:] == [
        "gemini", "--yolo", "-i", "p",
    ]  # fmt: skip
    amp = launch.build(spec("amp", prompt="p", skip_permissions=True))
    assert argv_of(amp.command)[-2:] == ["amp", "--dangerously-allow-all"] and amp.type_prompt == "p"
    other = launch.build(spec("python3 agent.py --x 'a b'", prompt="p"))
    assert argv_of(other.command)[-4:] == ["python3", "agent.py", "--x", "a b"] and other.type_prompt == "p"
    assert launch.program_kind("/usr/local/bin/claude --model x") == "claude"


def test_long_prompt_goes_through_a_file() -> None:
    prompt = "x" * 9000
    built = launch.build(spec("claude", prompt=prompt))
    assert built.prompt_file == ("/w/.kasmos/prompt-kas_t.md", prompt)
    assert argv_of(built.command)[-1] == "@.kasmos/prompt-kas_t.md"
    codex = launch.build(spec("codex", prompt=prompt))
    assert '"$(cat /w/.kasmos/prompt-kas_t.md)"' in codex.command


@given(st.text(min_size=1, max_size=60))
def test_hostile_prompt_is_one_argument(prompt: str) -> None:
    if "\x00" in prompt:
        return
    words = argv_of(launch.build(spec("claude", prompt=prompt)).command)
    assert words[-1] == prompt and words[-2] == "claude"


CLAUDE_IDLE = "Welcome\n────\n❯ \n────\n  ? for shortcuts\n"
CLAUDE_BUSY = "✢ Skedaddling… (3s · esc to interrupt)\n"
CLAUDE_ASK = "Do you want to proceed?\n❯ 1. Yes\n  2. Yes, and always allow\n  3. No\n"
CODEX_IDLE = "› Ask Codex to do anything\n\n  ? for shortcuts\n"
CODEX_BUSY = "• Working (3s • esc to interrupt)\n"
CODEX_ASK = "Would you like to run the following command?\n› 1. Yes, proceed (y)\n"


@pytest.mark.parametrize(
    ("kind", "screen", "reading"),
    [
        ("claude", CLAUDE_IDLE, "idle"),
        ("claude", CLAUDE_BUSY, "busy"),
        ("claude", CLAUDE_ASK, "waiting"),
        ("claude", "Do you trust the files in this folder?\n", "trust"),
        ("codex", CODEX_IDLE, "idle"),
        ("codex", CODEX_BUSY, "busy"),
        ("codex", CODEX_ASK, "waiting"),
        ("gemini", "Yes, allow once\n", "waiting"),
        ("gemini", "thinking (esc to cancel)\n", "busy"),
        ("opencode", "┃  Ask anything…\n", "idle"),
        ("other", "$ make\n", "unknown"),
        ("claude", "\x1b[1m" + CLAUDE_BUSY + "\x1b[0m", "busy"),
    ],
)
def test_classify(kind: str, screen: str, reading: str) -> None:
    assert detect.classify(kind, screen) == reading


def test_debouncer_needs_two_readings_and_quiet_for_idle() -> None:
    d = detect.Debouncer("claude", quiet_s=1.0)
    assert d.observe(CLAUDE_IDLE, 0.0) == ("idle", False)
    assert d.observe(CLAUDE_BUSY, 1.0)[0] == "idle"  # one busy reading is not enough (flicker)
    assert d.observe(CLAUDE_BUSY + " ", 1.2)[0] == "busy"
    assert d.observe(CLAUDE_IDLE, 1.4)[0] == "busy"  # idle only once the screen is quiet
    assert d.observe(CLAUDE_IDLE, 2.5)[0] == "idle"
    assert d.observe(CLAUDE_ASK, 3.0)[0] == "idle"
    assert d.observe(CLAUDE_ASK, 3.2)[0] == "waiting"
    assert d.observe("Do you trust the files in this folder?", 4.0) == ("waiting", True)
    generic = detect.Debouncer("other", quiet_s=0.5)
    assert generic.observe("a", 0.0)[0] == "busy"  # no marker: a changing screen is busy
    assert generic.observe("b", 0.1)[0] == "busy"
    assert generic.observe("b", 0.4)[0] == "busy"
    assert generic.observe("b", 0.7)[0] == "idle"  # unchanged for quiet_s


def test_restart_policy() -> None:
    p = RestartPolicy(max_restarts=3, window_s=600, backoff_s=1)
    assert decide(p, 0, [], 0).relaunch is False and decide(p, 0, [], 0).status == "exited"
    first = decide(p, None, [], 100)
    assert first.relaunch and first.delay_s == 1 and first.status == "restarting"
    assert decide(p, 2, [100.0, 101.0], 102).delay_s == 4
    limit = decide(p, 1, [100.0, 200.0, 300.0], 400)
    assert not limit.relaunch and limit.status == "crashed" and "limit 3" in limit.reason
    assert decide(p, 1, [100.0, 200.0, 300.0], 750).relaunch  # the first one left the window
    assert decide(RestartPolicy(mode="always"), 0, [], 0).relaunch
    assert not decide(RestartPolicy(mode="never"), 9, [], 0).relaunch


@pytest.mark.parametrize(
    ("title", "session"),
    [
        ("fix login", "kas_fixlogin"),
        ("v1.2 fix", "kas_v1_2fix"),
        ("a:b", "kas_a_b"),
        ("ünï cødé", "kas_ünïcødé"),
    ],
)
def test_session_names(title: str, session: str) -> None:
    assert naming.session_name(naming.check_title(title)) == session


@pytest.mark.parametrize("title", ["", "   ", "../etc", "a/b", "-rf", "x\x1b[2J", "a" * 101, "..."])
def test_hostile_titles_refused(title: str) -> None:
    if title == "...":
        assert naming.session_name(naming.check_title(title)) == "kas____"
        return
    with pytest.raises(InvalidArgument):
        naming.check_title(title)


def test_worktree_names() -> None:
    assert naming.adhoc_branch("alice/", "Fix Login!") == "alice/fix-login"
    assert naming.adhoc_branch("", "$(rm -rf /)").startswith(("rm-rf", "session/instance-"))
    assert naming.adhoc_worktree_name("alice/fix", 255) == "alice/fix_ff"
    assert naming.task_worktree_name("plan/auth-refactor") == "plan-auth-refactor"
    assert naming.worktree_inside("/r", "a/b_1") == "/r/.worktrees/a/b_1"
    for bad in ("../x", "a/../../x", "", "/abs"):
        with pytest.raises(InvalidArgument):
            naming.worktree_inside("/r", bad)


@given(st.text(max_size=40), st.text(max_size=40))
def test_adhoc_branch_always_valid(prefix: str, title: str) -> None:
    branch = naming.adhoc_branch(prefix, title)
    assert naming.check_ref_problem(branch) is None
    path = naming.worktree_inside("/r", naming.adhoc_worktree_name(branch, 1))
    assert path.startswith("/r/.worktrees/")


def test_orphans_are_unowned_kas_sessions() -> None:
    rows = [SessionRow(n, "$1", 0, 1, 0) for n in ("kas_a", "kas_b", "foreign", "kasx")]
    assert [r.name for r in classify_orphans(rows, {"kas_b"})] == ["kas_a"]
