"""Signals → FSM → side effects (reference section 6.3). Pure: no I/O.

:func:`decide` takes one claimed signal and a snapshot of its task and returns a :class:`Decision`:
whether the signal is ``done`` or ``failed`` (with a result text), the transition to apply, the column
updates, and the side effects to write to the outbox. The store applies a decision in the same
transaction that claimed the signal, so a signal is applied exactly once.

Effects name an agent *slot*; their idempotency key is ``project:task:role[:wave:task]`` so an executor
that runs an outbox entry twice never launches the same agent twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from kasmos.supervisor.errors import KasError
from kasmos.workers.store import fsm
from kasmos.workers.store.fsm import Event, ExecutionState, Status
from kasmos.workers.store.signal_types import FSM_SIGNALS, SignalType

T = SignalType


class Effect(BaseModel):
    """One pending side effect, stored as an outbox row."""

    model_config = ConfigDict(frozen=True)

    kind: str
    role: str = ""
    title: str = ""
    wave: int = 0
    task_number: int = 0
    data: dict[str, Any] = {}

    def idem_key(self, project: str, task: str) -> str:
        slot = self.role or self.kind
        key = f"{project}:{task}:{slot}"
        if self.wave or self.task_number:
            key += f":{self.wave}:{self.task_number}"
        return key


class ProcessorSettings(BaseModel):
    """Daemon behaviour switches (daemon.toml, overridden per repo by ``[ui]``)."""

    model_config = ConfigDict(frozen=True)

    auto_advance: bool = True
    auto_review_fix: bool = True
    auto_readiness_review: bool = True
    auto_create_pr: bool = True
    max_review_fix_cycles: int = 0
    readiness_max_verify_cycles: int = 2

    @classmethod
    def of(cls, daemon: Any, ui: Any) -> ProcessorSettings:
        """daemon.toml values, overridden by the repository's ``[ui]`` keys that are set."""
        values = {name: getattr(daemon, name) for name in cls.model_fields}
        for name in cls.model_fields:
            override = getattr(ui, name, None)
            if override is not None:
                values[name] = override
        return cls(**values)


@dataclass(frozen=True)
class TaskSnapshot:
    filename: str
    status: Status
    execution: ExecutionState
    review_cycle: int = 0


@dataclass
class Decision:
    status: str  # "done" | "failed"
    result: str = ""
    transition: fsm.Outcome | None = None
    execution: ExecutionState | None = None  # overrides the transition's execution state
    updates: dict[str, Any] = field(default_factory=dict)
    review_cycle_delta: int = 0
    effects: list[Effect] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return self.status == "done"


def failed(result: str) -> Decision:
    return Decision(status="failed", result=result)


def _spawn(role: str, title: str, **data: Any) -> Effect:
    return Effect(kind="agent.spawn", role=role, title=title, data=data)


def _fix_or_limit(task: TaskSnapshot, feedback: str, settings: ProcessorSettings, decision: Decision) -> None:
    decision.updates["latest_review_feedback"] = feedback
    if not settings.auto_review_fix:
        return
    next_round = task.review_cycle + 1
    if settings.max_review_fix_cycles > 0 and next_round > settings.max_review_fix_cycles:
        decision.effects.append(
            Effect(kind="review.cycle_limit", data={"limit": settings.max_review_fix_cycles})
        )
        return
    decision.review_cycle_delta = 1
    decision.execution = ExecutionState(phase="fixing", agent_type="fixer")
    decision.effects.append(_spawn("fixer", f"{task.filename}-fix-{next_round}", feedback=feedback))


def _fsm_effects(
    event: Event, task: TaskSnapshot, payload: dict[str, Any], settings: ProcessorSettings, d: Decision
) -> None:
    name = task.filename
    feedback = str(payload.get("body", "")) if payload.get("body") is not None else ""
    if event is Event.PLAN_START:
        d.effects.append(_spawn("planner", f"{name}-plan"))
    elif event is Event.PLANNER_FINISHED:
        d.effects.append(Effect(kind="agent.stop", role="planner", title=f"{name}-plan"))
        if settings.auto_advance:
            d.effects.append(Effect(kind="task.auto_implement"))
    elif event is Event.IMPLEMENT_START:
        d.effects.append(Effect(kind="implementation.start"))
    elif event is Event.IMPLEMENT_FINISHED:
        d.execution = ExecutionState(phase="reviewing", agent_type="reviewer")
        d.effects.append(_spawn("reviewer", f"{name}-review-{task.review_cycle + 1}"))
    elif event is Event.REVIEW_APPROVED:
        if settings.auto_readiness_review:
            d.execution = ExecutionState(agent_type="master")
            d.effects.append(_spawn("master", f"{name}-verify-{task.review_cycle + 1}"))
        else:
            d.effects.append(Effect(kind="verification.record", data={"origin": "auto"}))
            if settings.auto_create_pr:
                d.effects.append(Effect(kind="pr.create"))
    elif event is Event.REVIEW_CHANGES_REQUESTED:
        _fix_or_limit(task, feedback, settings, d)
    elif event is Event.VERIFY_APPROVED:
        binding = {k: payload[k] for k in ("origin", "reviewed_sha", "reviewed_base_sha") if payload.get(k)}
        d.effects.append(Effect(kind="verification.record", data=binding))
        if settings.auto_create_pr:
            d.effects.append(Effect(kind="pr.create"))
    elif event is Event.VERIFY_FAILED:
        _fix_or_limit(task, feedback, settings, d)


def _decide_fsm(
    kind: SignalType, task: TaskSnapshot, payload: dict[str, Any], pre_applied: bool, s: ProcessorSettings
) -> Decision:
    event = FSM_SIGNALS[kind]
    if (
        event is Event.VERIFY_FAILED
        and not pre_applied
        and s.auto_review_fix
        and s.auto_readiness_review
        and task.review_cycle + 1 >= s.readiness_max_verify_cycles
    ):
        event = Event.VERIFY_APPROVED
        payload = {**payload, "origin": "force_promoted"}
    if event is Event.IMPLEMENT_FINISHED and task.execution.phase in ("wave_running", "wave_waiting"):
        return Decision(status="done", result="suppressed implement-finished signal")
    outcome: fsm.Outcome | None = None
    # A pre-applied signal (`kas task transition`) finds its task already moved: only run the effects.
    if not (pre_applied and _lands_on(event, task.status)):
        try:
            outcome = fsm.apply(task.status, event, task.execution)
        except KasError as exc:
            return failed(exc.message)
    d = Decision(status="done", transition=outcome)
    if kind is T.VERIFY_FAILED and event is Event.VERIFY_APPROVED:
        d.result = "verify_failed force-promoted to verify_approved"
    _fsm_effects(event, task, payload, s, d)
    return d


def _lands_on(event: Event, status: Status) -> bool:
    """True when ``event`` can lead to ``status`` (a pre-applied signal's task already sits there)."""
    return any(table.get(event) is status for table in fsm.TRANSITIONS.values())


def decide(
    kind: SignalType,
    task: TaskSnapshot | None,
    payload: dict[str, Any],
    settings: ProcessorSettings,
    *,
    task_name: str = "",
    pre_applied: bool = False,
) -> Decision:
    if task is None:
        return failed(f"task not found: {task_name}")
    if kind in FSM_SIGNALS:
        return _decide_fsm(kind, task, payload, pre_applied, settings)
    phase, wave = task.execution.phase, task.execution.wave
    implementing = task.status is Status.IMPLEMENTING
    if kind is T.IMPLEMENT_WAVE:
        number = int(payload.get("wave_number", 0))
        if not implementing or number < 1 or (phase == "wave_running" and wave == number):
            return failed("processor could not start the requested wave")
        d = Decision(status="done", execution=ExecutionState("wave_running", "coder", number))
        d.effects.append(Effect(kind="wave.start", wave=number))
        return d
    if kind is T.IMPLEMENT_TASK_FINISHED:
        number, task_no = int(payload.get("wave_number", 0)), int(payload.get("task_number", 0))
        if not implementing or phase != "wave_running" or wave != number:
            return failed("no active orchestrator / wrong wave / already-finished task")
        d = Decision(status="done", execution=task.execution)
        d.effects.append(Effect(kind="wave.task_finished", role="coder", wave=number, task_number=task_no))
        return d
    if kind is T.ADVANCE_WAVE:
        if not implementing or phase != "wave_waiting":
            return failed("signal rejected by processor")
        d = Decision(status="done", execution=task.execution)
        d.effects.append(Effect(kind="wave.advance", wave=wave + 1))
        return d
    if kind is T.RETRY_WAVE:
        if not implementing or wave < 1:
            return failed("signal rejected by processor")
        d = Decision(status="done", execution=ExecutionState("wave_running", "coder", wave))
        d.effects.append(Effect(kind="wave.retry", wave=wave))
        return d
    if kind is T.ELABORATOR_FINISHED:
        if phase != "architecting":
            return failed("no active architect pass to resume")
        d = Decision(status="done", execution=ExecutionState("wave_running", "coder", 1))
        d.effects.append(Effect(kind="wave.start", wave=1))
        return d
    if kind is T.PLANNER_DRAFT_FINISHED:
        if task.status is not Status.PLANNING:
            return failed("signal rejected by processor")
        d = Decision(status="done", result="planner draft recorded or waiting for peers")
        d.effects.append(
            Effect(kind="planner.draft_recorded", data={"planner_id": payload.get("planner_id")})
        )
        return d
    return failed("signal rejected by processor")
