"""Signal decisions: transitions, suppression, pre-applied signals, fix cycles, wave signals."""

from __future__ import annotations

from kasmos.workers.store.fsm import ExecutionState
from kasmos.workers.store.fsm import Status as S
from kasmos.workers.store.processor import ProcessorSettings, TaskSnapshot, decide
from kasmos.workers.store.signal_types import SignalType as T

DEFAULT = ProcessorSettings()


def task(status: S, phase: str = "", agent: str = "", wave: int = 0, cycle: int = 0) -> TaskSnapshot:
    return TaskSnapshot("auth", status, ExecutionState(phase, agent, wave), cycle)


def test_plan_start_spawns_planner_with_slot_key() -> None:
    d = decide(T.PLAN_START, task(S.READY), {}, DEFAULT)
    assert d.applied and d.transition and d.transition.after is S.PLANNING
    [effect] = d.effects
    assert (effect.kind, effect.role, effect.title) == ("agent.spawn", "planner", "auth-plan")
    assert effect.idem_key("proj", "auth") == "proj:auth:planner"


def test_invalid_transition_fails_with_reason_and_no_effects() -> None:
    d = decide(T.REVIEW_APPROVED, task(S.READY), {}, DEFAULT)
    assert d.status == "failed" and 'invalid transition: "ready" + "review_approved"' in d.result
    assert not d.effects and d.transition is None


def test_unknown_task_fails() -> None:
    d = decide(T.PLAN_START, None, {}, DEFAULT, task_name="ghost")
    assert (d.status, d.result) == ("failed", "task not found: ghost")


def test_pre_applied_signal_runs_effects_without_second_transition() -> None:
    d = decide(T.IMPLEMENT_FINISHED, task(S.REVIEWING), {"fsm_applied": True}, DEFAULT, pre_applied=True)
    assert d.applied and d.transition is None
    assert [e.role for e in d.effects] == ["reviewer"]


def test_implement_finished_suppressed_during_wave() -> None:
    d = decide(T.IMPLEMENT_FINISHED, task(S.IMPLEMENTING, "wave_running", "coder", 1), {}, DEFAULT)
    assert d.applied and d.transition is None and not d.effects
    assert d.result == "suppressed implement-finished signal"


def test_review_changes_spawns_fixer_and_counts_cycle() -> None:
    d = decide(T.REVIEW_CHANGES_REQUESTED, task(S.REVIEWING, cycle=1), {"body": "fix it"}, DEFAULT)
    assert d.transition and d.transition.after is S.IMPLEMENTING
    assert d.updates["latest_review_feedback"] == "fix it"
    assert d.review_cycle_delta == 1
    assert d.execution == ExecutionState("fixing", "fixer")
    assert [(e.role, e.title) for e in d.effects] == [("fixer", "auth-fix-2")]


def test_review_cycle_limit() -> None:
    limited = ProcessorSettings(max_review_fix_cycles=2)
    d = decide(T.REVIEW_CHANGES_REQUESTED, task(S.REVIEWING, cycle=2), {"body": "x"}, limited)
    assert d.review_cycle_delta == 0 and [e.kind for e in d.effects] == ["review.cycle_limit"]


def test_verify_failed_force_promoted_at_cycle_limit() -> None:
    d = decide(T.VERIFY_FAILED, task(S.VERIFYING, cycle=1), {"body": "meh"}, DEFAULT)
    assert d.transition and d.transition.after is S.DONE
    assert d.effects[0].data == {"origin": "force_promoted"}
    early = decide(T.VERIFY_FAILED, task(S.VERIFYING, cycle=0), {"body": "meh"}, DEFAULT)
    assert early.transition and early.transition.after is S.IMPLEMENTING


def test_review_approved_without_readiness_review_records_verification() -> None:
    s = ProcessorSettings(auto_readiness_review=False)
    d = decide(T.REVIEW_APPROVED, task(S.REVIEWING), {}, s)
    assert [e.kind for e in d.effects] == ["verification.record", "pr.create"]


def test_wave_signals() -> None:
    running = task(S.IMPLEMENTING, "wave_running", "coder", 2)
    ok = decide(T.IMPLEMENT_TASK_FINISHED, running, {"wave_number": 2, "task_number": 3}, DEFAULT)
    assert ok.applied and ok.effects[0].idem_key("p", "auth") == "p:auth:coder:2:3"
    wrong = decide(T.IMPLEMENT_TASK_FINISHED, running, {"wave_number": 1, "task_number": 3}, DEFAULT)
    assert wrong.status == "failed"
    start = decide(T.IMPLEMENT_WAVE, task(S.IMPLEMENTING), {"wave_number": 1}, DEFAULT)
    assert start.execution == ExecutionState("wave_running", "coder", 1)
    assert decide(T.IMPLEMENT_WAVE, running, {"wave_number": 2}, DEFAULT).status == "failed"
    assert decide(T.ELABORATOR_FINISHED, task(S.IMPLEMENTING), {}, DEFAULT).status == "failed"
    arch = decide(T.ELABORATOR_FINISHED, task(S.IMPLEMENTING, "architecting", "elaborator"), {}, DEFAULT)
    assert arch.execution == ExecutionState("wave_running", "coder", 1)
    assert decide(T.ADVANCE_WAVE, running, {}, DEFAULT).status == "failed"
    waiting = task(S.IMPLEMENTING, "wave_waiting", "coder", 2)
    assert decide(T.ADVANCE_WAVE, waiting, {}, DEFAULT).effects[0].wave == 3
    assert decide(T.RETRY_WAVE, waiting, {}, DEFAULT).applied
    draft = decide(T.PLANNER_DRAFT_FINISHED, task(S.PLANNING), {"planner_id": "a"}, DEFAULT)
    assert draft.applied and draft.result.startswith("planner draft recorded")
