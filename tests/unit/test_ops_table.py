"""The op table: validation next to the handler, errors as wire replies, idempotency hook."""

from __future__ import annotations

import pytest

from kasmos.supervisor.errors import ErrorCode, NotFound
from kasmos.supervisor.ops import Args, NoArgs, OpTable
from kasmos.supervisor.protocol import Request


class Greet(Args):
    name: str
    times: int = 1


def make_table() -> tuple[OpTable[list[str]], list[tuple[str, str]]]:
    once_calls: list[tuple[str, str]] = []

    def once(ctx, idem, op, thunk):
        once_calls.append((idem, op))
        return thunk()

    table: OpTable[list[str]] = OpTable("test", once=once)

    @table.op("greet.say", Greet)
    def say(ctx: list[str], args: Greet) -> str:
        ctx.append(args.name)
        return f"hi {args.name}" * args.times

    @table.op("greet.write", Greet, mutating=True)
    def write(ctx: list[str], args: Greet) -> str:
        return args.name

    @table.op("greet.missing", NoArgs)
    def missing(ctx: list[str], args: NoArgs) -> None:
        raise NotFound("no such greeting", hint="try another")

    @table.op("greet.bug", NoArgs)
    def bug(ctx: list[str], args: NoArgs) -> None:
        raise ValueError("oops")

    return table, once_calls


def test_dispatch_success_echoes_the_request_id() -> None:
    table, _ = make_table()
    ctx: list[str] = []
    reply = table.dispatch(ctx, Request(id="r1", op="greet.say", args={"name": "ann"}))
    assert (reply.id, reply.ok, reply.result, ctx) == ("r1", True, "hi ann", ["ann"])


@pytest.mark.parametrize(
    ("op", "args", "fragment"),
    [
        ("greet.nope", {}, "unknown op 'greet.nope'"),
        ("greet.say", {}, "greet.say: name: Field required"),
        ("greet.say", {"name": "x", "extra": 1}, "greet.say: extra: Extra inputs are not permitted"),
        ("greet.say", {"name": "x", "times": "many"}, "greet.say: times:"),
    ],
)
def test_bad_requests_are_invalid_argument_replies(op: str, args: dict, fragment: str) -> None:
    table, _ = make_table()
    reply = table.dispatch([], Request(id="r2", op=op, args=args))
    assert not reply.ok and reply.error is not None
    assert reply.error.code is ErrorCode.INVALID_ARGUMENT and fragment in reply.error.message
    assert reply.id == "r2" and not reply.error.retryable


def test_handler_errors_keep_their_code_and_bugs_become_internal() -> None:
    table, _ = make_table()
    missing = table.dispatch([], Request(id="a", op="greet.missing"))
    assert missing.error is not None and missing.error.code is ErrorCode.NOT_FOUND
    assert missing.error.details == {"hint": "try another"}
    bug = table.dispatch([], Request(id="b", op="greet.bug"))
    assert (
        bug.error is not None
        and bug.error.code is ErrorCode.INTERNAL
        and "ValueError: oops" in bug.error.message
    )


def test_once_hook_only_for_mutating_ops_with_a_key() -> None:
    table, once_calls = make_table()
    table.call([], "greet.say", {"name": "a"}, idem="k1")
    table.call([], "greet.write", {"name": "a"})
    assert table.call([], "greet.write", {"name": "b"}, idem="k2") == "b"
    assert once_calls == [("k2", "greet.write")]


def test_an_op_registered_twice_is_a_programming_error() -> None:
    table, _ = make_table()
    with pytest.raises(ValueError, match="registered twice"):
        table.op("greet.say", Greet)(lambda ctx, args: None)
