"""The agent restart policy. Pure: no I/O.

``on-crash`` (default): an agent that dies with a non-zero status or a signal is relaunched in the same
worktree with the program's resume option, after ``backoff_s * 2**n`` seconds (at most
``MAX_DELAY_S``), at most ``max_restarts`` times within ``window_s``; past that it is marked
``crashed``. ``always`` also relaunches an agent that exited with status 0; ``never`` only records
the exit.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MAX_DELAY_S = 60.0


class RestartPolicy(BaseModel):
    mode: Literal["on-crash", "always", "never"] = "on-crash"
    max_restarts: int = Field(default=3, ge=0)
    window_s: float = Field(default=600.0, gt=0)
    backoff_s: float = Field(default=1.0, ge=0)


class Decision(BaseModel):
    relaunch: bool
    delay_s: float = 0.0
    status: str  # the instance status until then: restarting, exited, crashed
    reason: str


def crashed(exit_code: int | None) -> bool:
    """A pane that died from a signal reports no status (None); that is a crash too."""
    return exit_code != 0


def decide(policy: RestartPolicy, exit_code: int | None, restarts: list[float], now: float) -> Decision:
    """What to do about an exit, given the times of the restarts already made."""
    is_crash = crashed(exit_code)
    final = "crashed" if is_crash else "exited"
    if policy.mode == "never" or (policy.mode == "on-crash" and not is_crash):
        return Decision(relaunch=False, status=final, reason=f"restart policy {policy.mode}")
    recent = [t for t in restarts if now - t < policy.window_s]
    if len(recent) >= policy.max_restarts:
        return Decision(
            relaunch=False,
            status="crashed",
            reason=f"{len(recent)} restarts within {policy.window_s:g}s (limit {policy.max_restarts})",
        )
    delay = min(MAX_DELAY_S, policy.backoff_s * (2 ** len(recent)))
    return Decision(relaunch=True, delay_s=delay, status="restarting", reason=f"restart {len(recent) + 1}")
