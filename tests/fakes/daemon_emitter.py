"""Emit N signals through the daemon's ctl.sock, as `kas signal emit` does, retrying what may be
retried: each signal carries its own idempotency key, so a retry after a worker or daemon crash can
never create a second signal.

Writes one JSON object to <out>: {"ok": n, "codes": {code: n}, "fatal": [...]}.
usage: python daemon_emitter.py <runtime-root> <repo> <task> <count> <key-prefix> <out>
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from kasmos.supervisor.client import Client
from kasmos.supervisor.errors import KasError
from kasmos.supervisor.runtime import Runtime


def main() -> None:
    root, repo, task, count, prefix, out = sys.argv[1:7]
    client = Client(Runtime(Path(root)), timeout=2.0)
    ok = 0
    codes: Counter[str] = Counter()
    fatal: list[str] = []
    for i in range(int(count)):
        deadline = time.monotonic() + 120
        while True:
            try:
                client.call(
                    "signal.emit",
                    {"repo": repo, "type": "plan-start", "task": task},
                    idem=f"{prefix}-{i}",
                    total=30,
                )
                ok += 1
                break
            except KasError as exc:
                codes[exc.code.value] += 1
                if not exc.retryable or time.monotonic() > deadline:
                    fatal.append(exc.one_line())
                    break
                time.sleep(0.05)
    codes.update(client.retryable_errors)
    Path(out).write_text(json.dumps({"ok": ok, "codes": dict(codes), "fatal": fatal[:5]}))


if __name__ == "__main__":
    main()
