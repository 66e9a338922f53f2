"""Launch lines per agent program (reference §8, agent-protocols §5). Pure: no I/O.

The result is one ``sh -c`` string for ``tmux new-session``/``respawn-pane``: every piece is quoted
with :func:`shlex.quote`, the program is ``exec``'d (so the pane's pid is the agent's), stderr is
appended to ``<worktree>/.kasmos/logs/<session>.log`` and the ``KASMOS_*`` variables are set in the
command's environment (the caller also sets them as tmux session environment).

| program  | skip permissions                              | prompt                     | resume          |
|----------|-----------------------------------------------|----------------------------|-----------------|
| claude   | ``--dangerously-skip-permissions``            | positional, long → ``@file`` | ``--continue``  |
| codex    | ``--dangerously-bypass-approvals-and-sandbox`` | positional, long → file    | ``resume --last`` |
| opencode | (opencode.json)                               | ``--prompt``               | ``--continue``  |
| gemini   | ``--yolo``                                     | ``-i``                     | —               |
| amp      | ``--dangerously-allow-all``                    | typed after start          | —               |
| other    | —                                             | typed after start          | —               |

codex always gets ``--no-daemon``. A prompt longer than 8192 bytes is written to
``<worktree>/.kasmos/prompt-<session>.md`` and passed as ``@<relpath>`` (claude) or ``"$(cat file)"``.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from kasmos.supervisor.errors import Unsupported

LONG_PROMPT_BYTES = 8192
KNOWN = ("claude", "codex", "opencode", "gemini", "amp")


class LaunchSpec(BaseModel):
    """Everything a launch needs; sent by the supervisor in ``session.launch``."""

    instance_id: str
    title: str
    project: str
    program: str = Field(min_length=1)
    worktree: str
    session: str
    task: str = ""
    wave: int | None = None
    peers: int | None = None
    prompt: str = ""
    skip_permissions: bool = False
    model: str = ""
    extra_env: dict[str, str] = Field(default_factory=dict)
    execution_mode: Literal["tmux", "sdk"] = "tmux"
    resume_id: str = ""  # sdk: codex thread id / claude session id
    transcript_max_bytes: int = 4 * 1024 * 1024
    transcript_max_turns: int = 2000
    handshake_timeout_s: float = Field(default=45.0, gt=0)


@dataclass
class Launch:
    command: str
    env: dict[str, str]
    kind: str
    log_path: str
    prompt_file: tuple[str, str] | None = None  # (path, text) to write before launching
    type_prompt: str = ""  # to send with send-keys once the program is up


def program_kind(program: str) -> str:
    """``claude``/``codex``/``opencode``/``gemini``/``amp`` by the executable's name, else ``other``."""
    try:
        argv = shlex.split(program)
    except ValueError:
        argv = program.split()
    name = os.path.basename(argv[0]) if argv else ""
    return name if name in KNOWN else "other"


def kasmos_env(spec: LaunchSpec) -> dict[str, str]:
    env = {
        "KASMOS_MANAGED": "1",
        "KASMOS_PROJECT": spec.project,
        "KASMOS_INSTANCE_ID": spec.instance_id,
        "KASMOS_INSTANCE_TITLE": spec.title,
    }
    if spec.task:
        env["KASMOS_TASK"] = spec.task
    if spec.wave is not None:
        env["KASMOS_WAVE"] = str(spec.wave)
    if spec.peers is not None:
        env["KASMOS_PEERS"] = str(spec.peers)
    return env


def harness_env(kind: str) -> dict[str, str]:
    if kind == "codex":
        return {"RUST_LOG": "warn", "OTEL_SDK_DISABLED": "true"}
    if kind == "claude":
        return {"CLAUDE_CODE_NO_FLICKER": "0"}
    return {}


def build(spec: LaunchSpec, resume: bool = False) -> Launch:
    kind = program_kind(spec.program)
    try:
        argv = shlex.split(spec.program)
    except ValueError:
        argv = spec.program.split()
    logs = os.path.join(spec.worktree, ".kasmos", "logs")
    log_path = os.path.join(logs, f"{spec.session}.log")
    prompt = "" if resume else spec.prompt
    long_prompt = len(prompt.encode()) > LONG_PROMPT_BYTES
    prompt_path = os.path.join(spec.worktree, ".kasmos", f"prompt-{spec.session}.md")
    launch = Launch(command="", env={**kasmos_env(spec), **harness_env(kind), **spec.extra_env}, kind=kind,
                    log_path=log_path)  # fmt: skip
    if long_prompt:
        launch.prompt_file = (prompt_path, prompt)
    args = [shlex.quote(a) for a in argv]
    from_file = f'"$(cat {shlex.quote(prompt_path)})"'
    quoted_prompt = from_file if long_prompt else shlex.quote(prompt)
    if kind == "claude":
        if spec.skip_permissions:
            args.append("--dangerously-skip-permissions")
        if spec.model:
            args += ["--model", shlex.quote(spec.model)]
        if resume:
            args.append("--continue")
        if prompt:
            rel = os.path.relpath(prompt_path, spec.worktree)
            args.append(shlex.quote("@" + rel) if long_prompt else quoted_prompt)
    elif kind == "codex":
        args.append("--no-daemon")
        if spec.skip_permissions:
            args.append("--dangerously-bypass-approvals-and-sandbox")
        if spec.model:
            args += ["-m", shlex.quote(spec.model)]
        if resume:
            args += ["resume", "--last"]
        elif prompt:
            args.append(quoted_prompt)
    elif kind == "opencode":
        if spec.model:
            args += ["-m", shlex.quote(spec.model)]
        if resume:
            args.append("--continue")
        if prompt:
            args += ["--prompt", quoted_prompt]
    elif kind == "gemini":
        if spec.skip_permissions:
            args.append("--yolo")
        if spec.model:
            args += ["-m", shlex.quote(spec.model)]
        if prompt:
            args += ["-i", quoted_prompt]
    else:
        if kind == "amp" and spec.skip_permissions:
            args.append("--dangerously-allow-all")
        launch.type_prompt = prompt
        launch.prompt_file = None
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in launch.env.items())
    launch.command = f"exec env {assignments} {' '.join(args)} 2>> {shlex.quote(log_path)}"
    return launch


SDK_PROGRAMS = ("claude", "codex")
INTERACTIVE = "interactive operation requires tmux execution"


def effective_mode(program: str, wanted: str) -> Literal["tmux", "sdk"]:
    """sdk (``headless`` is an alias) exists for claude and codex only; anything else runs in tmux."""
    return "sdk" if wanted in ("sdk", "headless") and program_kind(program) in SDK_PROGRAMS else "tmux"


def require_tmux(record: dict[str, Any]) -> None:
    """Attach (and anything else that needs a terminal) exists for tmux-mode instances only."""
    if record["execution_mode"] != "tmux":
        raise Unsupported(
            f"instance {record['title']} runs in sdk mode: {INTERACTIVE}",
            hint="use `kas instance capture`, `send`, `approve`/`deny` or `interrupt`",
        )


def default_program(path: str | None = None) -> str:
    """``opencode`` if on PATH, else ``claude`` if on PATH, else ``opencode``."""
    for name in ("opencode", "claude"):
        if shutil.which(name, path=path):
            return name
    return "opencode"
