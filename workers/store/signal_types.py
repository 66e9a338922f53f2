"""Gateway signal types and payload rules (reference section 5.1). Pure: no I/O.

Wire values are the 14 canonical types below. Input is canonicalised by trimming and turning ``-``
into ``_``; aliases map onto canonical types. Payloads are normalised per type:

- FSM types, advance_wave, retry_wave: empty → ``''``; valid JSON kept; plain text → ``{"body": text}``
- verify_approved / verify_failed: as above; JSON may carry ``reviewed_sha`` / ``reviewed_base_sha``
  (40 lowercase hex) and ``origin`` ∈ {master, operator, force_promoted, auto}
- implement_task_finished: JSON with whole numbers ``wave_number`` and ``task_number``
- implement_wave: JSON with a whole number ``wave_number``
- planner_draft_finished: JSON with a non-empty ``planner_id`` (trimmed, re-marshalled)
- elaborator_finished: must be empty

The pre-applied marker payload is exactly ``{"fsm_applied":true}``.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from kasmos.supervisor.errors import InvalidArgument
from kasmos.workers.store.fsm import Event, lookup


class SignalType(StrEnum):
    PLAN_START = "plan_start"
    PLANNER_FINISHED = "planner_finished"
    PLANNER_DRAFT_FINISHED = "planner_draft_finished"
    IMPLEMENT_START = "implement_start"
    IMPLEMENT_FINISHED = "implement_finished"
    REVIEW_APPROVED = "review_approved"
    REVIEW_CHANGES_REQUESTED = "review_changes_requested"
    IMPLEMENT_TASK_FINISHED = "implement_task_finished"
    IMPLEMENT_WAVE = "implement_wave"
    ELABORATOR_FINISHED = "elaborator_finished"
    VERIFY_APPROVED = "verify_approved"
    VERIFY_FAILED = "verify_failed"
    ADVANCE_WAVE = "advance_wave"
    RETRY_WAVE = "retry_wave"


T = SignalType

ALIASES: dict[str, SignalType] = {
    "review_changes": T.REVIEW_CHANGES_REQUESTED,
    "architect_finished": T.ELABORATOR_FINISHED,
    "readiness_approved": T.VERIFY_APPROVED,
    "master_approved": T.VERIFY_APPROVED,
    "readiness_changes_requested": T.VERIFY_FAILED,
    "readiness_changes": T.VERIFY_FAILED,
}

# Signal types that are FSM events of the same name.
FSM_SIGNALS: dict[SignalType, Event] = {
    T.PLAN_START: Event.PLAN_START,
    T.PLANNER_FINISHED: Event.PLANNER_FINISHED,
    T.IMPLEMENT_START: Event.IMPLEMENT_START,
    T.IMPLEMENT_FINISHED: Event.IMPLEMENT_FINISHED,
    T.REVIEW_APPROVED: Event.REVIEW_APPROVED,
    T.REVIEW_CHANGES_REQUESTED: Event.REVIEW_CHANGES_REQUESTED,
    T.VERIFY_APPROVED: Event.VERIFY_APPROVED,
    T.VERIFY_FAILED: Event.VERIFY_FAILED,
}

# FSM events that `kas task transition` mirrors as a pre-applied gateway signal.
EVENT_SIGNALS: dict[Event, SignalType] = {event: sig for sig, event in FSM_SIGNALS.items()}

PRE_APPLIED_PAYLOAD = '{"fsm_applied":true}'

_SHA = re.compile(r"^[0-9a-f]{40}$")
_ORIGINS = frozenset({"master", "operator", "force_promoted", "auto"})
MAX_PAYLOAD_BYTES = 1024 * 1024


def parse_signal_type(text: str) -> SignalType:
    return lookup(SignalType, text, ALIASES, "signal type", "types")


def _json_object(payload: str, kind: SignalType) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"{kind} payload must be a JSON object: {exc.msg} at column {exc.colno}",
            hint="pass --payload '{...}'",
        ) from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{kind} payload must be a JSON object", hint="pass --payload '{...}'")
    return value


def _whole_number(obj: dict[str, Any], key: str, kind: SignalType) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or value < 1:
        raise InvalidArgument(
            f"{kind} payload needs a whole number {key} ≥ 1 (got {value!r})",
            hint=f"pass --payload '{{\"{key}\": 1, ...}}'",
        )
    return int(value)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def normalize_payload(kind: SignalType, payload: str | None) -> str:
    """Validate and normalise a payload for ``kind``; raise InvalidArgument with the rule broken."""
    text = (payload or "").strip()
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_PAYLOAD_BYTES:
        raise InvalidArgument(f"payload is larger than {MAX_PAYLOAD_BYTES} bytes", hint="shorten it")
    if "\x00" in text:
        raise InvalidArgument("payload contains a NUL byte", hint="remove it")
    if kind is T.ELABORATOR_FINISHED:
        if text:
            raise InvalidArgument(f"{kind} takes no payload", hint="omit --payload")
        return ""
    if kind is T.IMPLEMENT_TASK_FINISHED:
        obj = _json_object(text, kind)
        _whole_number(obj, "wave_number", kind)
        _whole_number(obj, "task_number", kind)
        return text
    if kind is T.IMPLEMENT_WAVE:
        obj = _json_object(text, kind)
        _whole_number(obj, "wave_number", kind)
        return text
    if kind is T.PLANNER_DRAFT_FINISHED:
        obj = _json_object(text, kind)
        planner_id = obj.get("planner_id")
        if not isinstance(planner_id, str) or not planner_id.strip():
            raise InvalidArgument(
                f"{kind} payload needs a non-empty planner_id",
                hint='pass --payload \'{"planner_id": "..."}\'',
            )
        obj["planner_id"] = planner_id.strip()
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    if not text:
        return ""
    if not _is_json(text):
        return json.dumps({"body": text}, ensure_ascii=False)
    if kind in (T.VERIFY_APPROVED, T.VERIFY_FAILED):
        value = json.loads(text)
        if isinstance(value, dict):
            for key in ("reviewed_sha", "reviewed_base_sha"):
                sha = value.get(key)
                if sha not in (None, "") and (not isinstance(sha, str) or not _SHA.match(sha)):
                    raise InvalidArgument(
                        f"{kind} payload {key} must be 40 lowercase hex characters (got {sha!r})",
                        hint="pass the full commit id",
                    )
            origin = value.get("origin")
            if origin not in (None, "") and origin not in _ORIGINS:
                raise InvalidArgument(
                    f"{kind} payload origin must be one of {', '.join(sorted(_ORIGINS))} (got {origin!r})",
                    hint="fix the origin",
                )
    return text


def decode_payload(payload: str) -> dict[str, Any]:
    """Decode a stored payload for processing: empty → {}; a JSON object as is; otherwise a body."""
    text = payload.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"body": text}
    return value if isinstance(value, dict) else {"body": value}


def is_pre_applied(decoded: dict[str, Any]) -> bool:
    return decoded.get("fsm_applied") is True
