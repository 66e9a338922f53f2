"""The session worker: one per agent instance, serving ``session.*`` ops for it on ``work.sock``.

Run by the supervisor as ``python -m kasmos.workers.session.worker --endpoint E --name session.<id>
--epoch X``; the supervisor then sends ``session.launch`` with the instance's launch spec, the mode
(``new``, ``recover``, ``adopt``) and the restart policy. In tmux mode the worker's death never
touches the agent: it lives in the tmux server, and the next worker re-adopts it with ``mode=recover``.
In sdk mode (``spec.execution_mode``) the agent is this worker's child and dies with it; the next
worker relaunches it with its resume id.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from kasmos.supervisor.errors import Conflict, Unavailable
from kasmos.supervisor.ops import Args, NoArgs, OpTable
from kasmos.supervisor.protocol import Request
from kasmos.workers import shell
from kasmos.workers.session.agent import AgentSession
from kasmos.workers.session.launch import LaunchSpec
from kasmos.workers.session.policy import RestartPolicy
from kasmos.workers.session.sdk_agent import SdkSession


@dataclass
class SessionContext:
    agent: AgentSession | SdkSession | None = None

    def live(self) -> AgentSession | SdkSession:
        if self.agent is None:
            raise Unavailable("this session worker has not launched its agent yet", hint="retry")
        return self.agent


OPS: OpTable[SessionContext] = OpTable("session")


class LaunchArgs(Args):
    spec: LaunchSpec
    mode: Literal["new", "recover", "adopt"] = "new"
    resume: bool = False
    policy: RestartPolicy = Field(default_factory=RestartPolicy)


@OPS.op("session.launch", LaunchArgs)
def session_launch(ctx: SessionContext, args: LaunchArgs) -> dict[str, Any]:
    if ctx.agent is not None:
        if ctx.agent.spec.instance_id != args.spec.instance_id:
            raise Conflict("this session worker already serves another instance")
        return ctx.agent.describe(note="already running")
    sdk = args.spec.execution_mode == "sdk"
    agent = SdkSession(args.spec, args.policy) if sdk else AgentSession(args.spec, args.policy)
    try:
        result = agent.launch(args.mode, args.resume)
    except Exception:
        agent.close()
        raise
    ctx.agent = agent
    return result


class SendArgs(Args):
    text: str = Field(max_length=1_000_000)
    enter: bool = True


@OPS.op("session.send", SendArgs)
def session_send(ctx: SessionContext, args: SendArgs) -> dict[str, Any]:
    ctx.live().send(args.text, args.enter)
    return {"sent": len(args.text)}


class CaptureArgs(Args):
    start: str | None = Field(default=None, pattern=r"^(-?\d+|-)$")
    end: str | None = Field(default=None, pattern=r"^(-?\d+|-)$")


@OPS.op("session.capture", CaptureArgs)
def session_capture(ctx: SessionContext, args: CaptureArgs) -> dict[str, Any]:
    return {"text": ctx.live().capture(args.start, args.end)}


class AnswerArgs(Args):
    approve: bool


@OPS.op("session.answer", AnswerArgs)
def session_answer(ctx: SessionContext, args: AnswerArgs) -> dict[str, Any]:
    return {"answer": ctx.live().answer(args.approve)}


@OPS.op("session.interrupt", NoArgs)
def session_interrupt(ctx: SessionContext, args: NoArgs) -> dict[str, Any]:
    ctx.live().interrupt()
    return {"interrupted": True}


@OPS.op("session.stop", NoArgs)
def session_stop(ctx: SessionContext, args: NoArgs) -> dict[str, Any]:
    return ctx.live().stop()


class AgentHooks(shell.Hooks):
    def __init__(self, context: SessionContext) -> None:
        self.context = context

    def fds(self) -> list[int]:
        return self.context.agent.fds() if self.context.agent else []

    def on_fd(self, fd: int) -> shell.Outgoing:
        agent = self.context.agent
        if agent is None:
            return []
        agent.on_fd(fd)
        return [(None, agent.take_events())]

    def next_due(self) -> float:
        return self.context.agent.next_due() if self.context.agent else float("inf")

    def tick(self, now: float) -> shell.Outgoing:
        agent = self.context.agent
        if agent is None:
            return []
        agent.tick(now)
        return [(None, agent.take_events())]


def main(argv: list[str] | None = None) -> int:
    shell.setup_logging()
    endpoint, name, epoch = shell.worker_args(sys.argv[1:] if argv is None else argv)
    context = SessionContext()

    def handle(requests: list[Request]) -> shell.Outgoing:
        out: shell.Outgoing = []
        for request in requests:
            reply = OPS.dispatch(context, request)
            out.append((reply, context.agent.take_events() if context.agent else []))
        return out

    try:
        return shell.serve("session", name, endpoint, epoch, OPS.names, handle, AgentHooks(context))
    finally:
        if context.agent is not None:
            context.agent.close()


if __name__ == "__main__":
    sys.exit(main())
