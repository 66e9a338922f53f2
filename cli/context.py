"""What commands share: the repository they run in, the open store, the processor settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

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
    project = load_project_config(repository.config_file)
    values = {name: getattr(daemon, name) for name in ProcessorSettings.model_fields}
    for name in ProcessorSettings.model_fields:
        override = getattr(project.ui, name, None)
        if override is not None:
            values[name] = override
    return ProcessorSettings(**values)
