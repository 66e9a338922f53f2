"""sdk-mode transport against its floors, measured in the same run.

1. Transport throughput, in process: the bytes of a recorded codex turn streaming ``--deltas``
   ``item/agentMessage/delta`` notifications go through what the session worker does with them
   (line framing, JSON decoding, the transport, the transcript, event building); floor: splitting the
   same bytes into lines and ``json.loads`` each.
2. End to end, through the daemon: the fake codex streams ``--deltas`` deltas in one turn; time from
   ``kas instance send`` to the ``agent.turn_done`` event at a subscriber; floor: the same fake
   program run directly, its stdout read raw until ``turn/completed``.
3. Turn completion → event latency, p50/p99 over ``--turns`` turns, for codex and claude: the fake
   stamps its ``turn/completed`` / ``result`` line with the wall clock (``emittedAtNs``), the subscriber
   takes the difference on arrival of ``agent.turn_done``; floor: the same stamp read straight from the
   fake's stdout pipe.

usage: .venv/bin/python bench/bench_sdk.py [--deltas 20000] [--turns 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_agents import KAS, Bench, pct

FAKES = Path(__file__).resolve().parent.parent / "tests" / "fakes"


def program(b: Bench, name: str, script: str) -> str:
    path = b.root / "sdk-bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKES / script} "$@"\n')
    path.chmod(0o755)
    return str(path)


def recorded_turn(deltas: int) -> bytes:
    base = {"threadId": "th", "turnId": "tu"}
    lines = [{"method": "turn/started", "params": {"threadId": "th", "turn": {"id": "tu"}}, "emittedAtMs": 1}]
    lines.append({"method": "item/started", "params": {**base, "item": {"type": "agentMessage", "id": "m"}}})
    for i in range(deltas):
        delta = {**base, "itemId": "m", "delta": f"tok{i % 10} "}
        lines.append({"method": "item/agentMessage/delta", "params": delta, "emittedAtMs": 1})
    lines.append(
        {
            "method": "turn/completed",
            "params": {"threadId": "th", "turn": {"id": "tu", "status": "completed"}},
        }
    )
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def in_process(deltas: int) -> None:
    from kasmos.workers.session.codex import CodexTransport
    from kasmos.workers.session.sdk_agent import EVENT_TEXT_MAX
    from kasmos.workers.session.transcript import Transcript
    from kasmos.workers.session.transport import LineReader, decode

    data = recorded_turn(deltas)
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]

    def floor() -> float:
        t0 = time.perf_counter()
        buffer = b""
        for chunk in chunks:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                json.loads(line)
        return time.perf_counter() - t0

    def ours() -> float:
        transport = CodexTransport("/w", False)
        transport.ready, transport.thread_id = True, "th"
        transcript = Transcript("bench", 4 * 1024 * 1024, 2000)
        reader = LineReader()
        t0 = time.perf_counter()
        for chunk in chunks:
            for line in reader.feed(chunk):
                message, _ = decode(line)
                if message is not None:
                    transport.receive(message)
            _, notes = transport.take()
            text = []
            for note in notes:
                transcript.add(note)
                if note.kind == "text":
                    text.append(note.text)
            json.dumps({"text": "".join(text)[:EVENT_TEXT_MAX]})
        return time.perf_counter() - t0

    f = min(floor() for _ in range(5))
    o = min(ours() for _ in range(5))
    mb = len(data) / 1e6
    print(
        f"in-process, {deltas} deltas ({mb:.1f} MB): ours {deltas / o:,.0f} deltas/s ({mb / o:.1f} MB/s); "
        f"floor split+json.loads {deltas / f:,.0f} deltas/s → {o / f:.2f}×"
    )


def codex_raw(fake: str, prompt: str) -> tuple[float, list[dict]]:
    init = {"id": 0, "method": "initialize", "params": {"clientInfo": {"name": "bench"}}}
    start = {"id": 1, "method": "thread/start", "params": {}}
    proc = subprocess.Popen([fake, "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for message in (init, start):
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            proc.stdin.flush()
            for line in proc.stdout:
                body = json.loads(line)
                if body.get("id") == message["id"]:
                    thread = body.get("result", {}).get("thread", {}).get("id")
                    break
        turn = {
            "id": 2,
            "method": "turn/start",
            "params": {"threadId": thread, "input": [{"type": "text", "text": prompt}]},
        }
        t0 = time.monotonic()
        proc.stdin.write(json.dumps(turn).encode() + b"\n")
        proc.stdin.flush()
        for line in proc.stdout:
            body = json.loads(line)
            if body.get("method") == "turn/completed":
                body["read_ns"] = time.time_ns()  # before the process is ended below
                return time.monotonic() - t0, [body]
        raise SystemExit("the fake ended without turn/completed")
    finally:
        proc.stdin.close()
        proc.wait()


def wait_event(
    sock: zmq.Socket[bytes], kind: str, title: str, timeout: float = 60
) -> tuple[float, int, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sock.poll(100):
            body = json.loads(sock.recv_multipart()[-1])
            if body["kind"] == kind and body.get("instance") == title:
                return time.monotonic(), time.time_ns(), body
    raise SystemExit(f"no {kind} for {title}")


def end_to_end(b: Bench, codex: str, deltas: int) -> None:
    b.kas("instance", "start", "stream", "--program", codex, "--mode", "sdk")
    sock = b.subscriber()
    time.sleep(0.3)
    wait_until_idle(b, "stream")
    t0 = time.monotonic()
    b.kas("instance", "send", "stream", f"stream {deltas}")
    t1, _, _ = wait_event(sock, "agent.turn_done", "stream")
    ours = t1 - t0
    floor, _ = codex_raw(codex, f"stream {deltas}")
    print(
        f"end to end, {deltas} deltas through the daemon: {ours * 1000:.0f} ms "
        f"({deltas / ours:,.0f} deltas/s); floor (the fake read raw) {floor * 1000:.0f} ms "
        f"({deltas / floor:,.0f} deltas/s) → {ours / floor:.2f}×"
    )
    sock.close(linger=0)


def wait_until_idle(b: Bench, title: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = next((r for r in b.instances() if r["title"] == title), None)
        if row and row["status"] == "idle":
            return
        time.sleep(0.05)
    raise SystemExit(f"{title} never became idle")


def latency(b: Bench, name: str, fake: str, turns: int) -> None:
    title = f"lat-{name}"
    b.kas("instance", "start", title, "--program", fake, "--mode", "sdk")
    sock = b.subscriber()
    time.sleep(0.3)
    wait_until_idle(b, title)
    ours = []
    for i in range(turns):
        # not b.kas(): the turn may end before that process has exited; the subscriber must be listening
        sender = subprocess.Popen(
            [KAS, "instance", "send", title, f"turn {i}"], cwd=b.repo, env=b.env, stdout=subprocess.DEVNULL
        )
        _, arrived_ns, _ = wait_event(sock, "agent.turn_done", title)
        sender.wait()
        stamp = stamps(b, title)
        ours.append((arrived_ns - stamp) / 1e6)
    sock.close(linger=0)
    floor = []
    for i in range(turns):
        if name == "codex":
            _, got = codex_raw(fake, f"turn {i}")
            floor.append((got[-1]["read_ns"] - got[-1]["emittedAtNs"]) / 1e6)
        else:
            floor.append(claude_raw(fake, f"turn {i}"))
    print(
        f"{name}: turn completion → agent.turn_done event p50 {statistics.median(ours):.2f} ms, "
        f"p99 {pct(ours, 99):.2f} ms; floor (raw pipe read) p50 {statistics.median(floor):.2f} ms, "
        f"p99 {pct(floor, 99):.2f} ms → p50 {statistics.median(ours) / statistics.median(floor):.1f}×"
    )


def stamps(b: Bench, title: str) -> int:
    """The wall clock at which the fake wrote its last turn end (the fakes append it to the file
    named by ``FAKE_AGENT_STAMPS``)."""
    return int(Path(b.env["FAKE_AGENT_STAMPS"]).read_text().split()[-1])


def claude_raw(fake: str, prompt: str) -> float:
    proc = subprocess.Popen(
        [fake, "--output-format", "stream-json", "--input-format", "stream-json", "--verbose"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        message = {"type": "user", "message": {"role": "user", "content": prompt}}
        proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()
        for line in proc.stdout:
            body = json.loads(line)
            if body.get("type") == "result":
                return (time.time_ns() - body["emittedAtNs"]) / 1e6
        raise SystemExit("the fake ended without a result")
    finally:
        proc.stdin.close()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deltas", type=int, default=20000)
    parser.add_argument("--turns", type=int, default=50)
    ns = parser.parse_args()
    in_process(ns.deltas)
    bench = Bench()
    bench.env["FAKE_AGENT_STAMPS"] = str(bench.root / "stamps")
    try:
        codex = program(bench, "codex", "fake_codex.py")
        claude = program(bench, "claude", "fake_claude_sdk.py")
        bench.kas("daemon", "start")
        end_to_end(bench, codex, ns.deltas)
        latency(bench, "codex", codex, ns.turns)
        latency(bench, "claude", claude, ns.turns)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
