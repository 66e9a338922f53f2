"""What commands share: the repository they run in, the open store, the processor settings."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kasmos.supervisor.paths import Repo, find_repo

if TYPE_CHECKING:
    from kasmos.workers.store.db import Store
    from kasmos.workers.store.processor import ProcessorSettings


def repo() -> Repo:
    """The main repository of the current directory, or NotInRepository."""
    return find_repo()


@contextlib.contextmanager
def store() -> Iterator[Store]:
    from kasmos.supervisor.paths import store_path
    from kasmos.workers.store.db import Store

    opened = Store(store_path()).open()
    try:
        yield opened
    finally:
        opened.close()


def settings(repository: Repo) -> ProcessorSettings:
    """Daemon behaviour from daemon.toml, overridden per repo by ``[ui]`` in .kasmos/config.toml."""
    from kasmos.supervisor.config import load_daemon_config, load_project_config
    from kasmos.supervisor.paths import daemon_config_path
    from kasmos.workers.store.processor import ProcessorSettings

    daemon = load_daemon_config(daemon_config_path())
    return ProcessorSettings.of(daemon, load_project_config(repository.config_file).ui)


def call(op: str, args: dict[str, Any]) -> Any:
    """Run a store op: through the daemon when it runs, else in-process on the store. Same result.

    Every request carries a fresh idempotency key, so the client may retry it safely when the daemon
    answers ``unavailable`` (a worker restarting) or does not answer in time.
    """
    from kasmos.supervisor.client import daemon_running

    if daemon_running():
        import uuid

        from kasmos.supervisor.client import Client

        return Client().call(op, args, idem=uuid.uuid4().hex)
    from kasmos.workers.store.ops import OPS, StoreContext

    with store() as opened:
        result = OPS.call(StoreContext(opened), op, args)
    return json.loads(json.dumps(result))  # exactly what the wire would have carried


def repo_call(op: str, repository: Repo, **args: Any) -> Any:
    return call(op, {"repo": str(repository.root), **args})


def daemon_call(op: str, args: dict[str, Any], what: str, timeout: float = 60.0) -> Any:
    """An op only the daemon can run (launching, steering agents); not retried (not idempotent)."""
    from kasmos.supervisor.client import Client, daemon_running
    from kasmos.supervisor.errors import DaemonNotRunning

    if not daemon_running():
        raise DaemonNotRunning(what)
    return Client(timeout=timeout).call(op, args, retry=False)
