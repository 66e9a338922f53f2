"""Wire protocol codec: round trips, and garbage that only ever yields ProtocolError."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasmos.supervisor import protocol as p
from kasmos.supervisor.errors import ErrorCode, KasError, NotFound, Unavailable


def test_request_reply_round_trip() -> None:
    request = p.Request(id="r1", op="task.list", args={"status": "ready"}, deadline_ms=5000, idem="k")
    decoded = p.decode_request(p.encode_request(request))
    assert decoded == request and decoded.group == "task"
    ok = p.decode_reply(p.encode_reply(p.Reply.success("r1", [{"filename": "a"}])))
    assert ok.raise_for_error() == [{"filename": "a"}]
    failed = p.decode_reply(
        p.encode_reply(p.Reply.failure("r1", NotFound("task not found: x", hint="see list")))
    )
    assert (
        failed.error is not None and failed.error.code is ErrorCode.NOT_FOUND and not failed.error.retryable
    )
    with pytest.raises(KasError) as info:
        failed.raise_for_error()
    assert (info.value.code, info.value.message, info.value.hint) == (
        ErrorCode.NOT_FOUND,
        "task not found: x",
        "see list",
    )
    retry = p.Reply.failure("r2", Unavailable("store worker restarting"))
    assert retry.error is not None and retry.error.retryable


def test_worker_messages() -> None:
    ready = p.Ready(service="store", name="store", pid=42, ops=["task.list"])
    assert p.decode_worker(p.encode_worker("READY", ready)) == ("READY", ready)
    assert p.decode_worker(p.encode_worker("HB")) == ("HB", None)
    event = p.Event(
        ts="2026-01-01T00:00:00.000000000Z", kind="task.transition", project="x", data={"to": "done"}
    )
    topic, body = p.encode_event(event)
    assert topic == b"task.transition" and json.loads(body)["data"] == {"to": "done"}


def test_unknown_fields_ignored() -> None:
    body = json.dumps({"v": 1, "id": "a", "op": "daemon.status", "future": True}).encode()
    assert p.decode_request([b"", b"KAS1", b"REQ", body]).op == "daemon.status"


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([], ErrorCode.INVALID_ARGUMENT),
        ([b"x", b"KAS1", b"REQ", b"{}"], ErrorCode.INVALID_ARGUMENT),
        ([b"", b"KAS9", b"REQ", b"{}"], ErrorCode.VERSION_MISMATCH),
        ([b"", b"KAS1", b"NOPE", b"{}"], ErrorCode.INVALID_ARGUMENT),
        ([b"", b"KAS1", b"REQ"], ErrorCode.INVALID_ARGUMENT),
        ([b"", b"KAS1", b"REQ", b"\xff\xfe"], ErrorCode.INVALID_ARGUMENT),
        ([b"", b"KAS1", b"REQ", b"[1, 2]"], ErrorCode.INVALID_ARGUMENT),
        ([b"", b"KAS1", b"REQ", b'{"id": "a", "op": "no-dot"}'], ErrorCode.INVALID_ARGUMENT),
        ([b"", b"KAS1", b"REQ", b" " * (p.MAX_ENVELOPE_BYTES + 1)], ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_garbage_requests(frames: list[bytes], code: ErrorCode) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_request(frames)
    assert info.value.code is code


def test_wrong_version_keeps_request_id() -> None:
    body = json.dumps({"v": 7, "id": "abc", "op": "task.list"}).encode()
    with pytest.raises(p.ProtocolError) as info:
        p.decode_request([b"", b"KAS1", b"REQ", body])
    assert info.value.code is ErrorCode.VERSION_MISMATCH and info.value.request_id == "abc"
    bad_shape = json.dumps({"id": "abd", "op": "task.list", "args": []}).encode()
    with pytest.raises(p.ProtocolError) as shape:
        p.decode_request([b"", b"KAS1", b"REQ", bad_shape])
    assert shape.value.request_id == "abd" and "args" in shape.value.message


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=6))
def test_random_frames_only_raise_protocol_errors(frames: list[bytes]) -> None:
    for decode in (p.decode_request, p.decode_reply, p.decode_worker):
        with contextlib.suppress(p.ProtocolError):
            decode(frames)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["v", "id", "op", "args", "deadline_ms", "idem", "ok", "kind", "pid"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=2)),
    )
)
def test_random_envelopes_only_raise_protocol_errors(body: dict) -> None:
    frame = json.dumps(body).encode()
    for frames in (
        [b"", b"KAS1", b"REQ", frame],
        [b"", b"KASW1", b"READY", frame],
        [b"", b"KASW1", b"EVT", frame],
    ):
        with contextlib.suppress(p.ProtocolError):
            (p.decode_request if frames[1] == b"KAS1" else p.decode_worker)(frames)
