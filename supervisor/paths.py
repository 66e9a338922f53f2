"""Where kasmos keeps things: the global config dir and store, the runtime dir, repo-local state.

- config dir: ``$XDG_CONFIG_HOME/kasmos`` else ``~/.config/kasmos`` (``./.kasmos`` with no HOME)
- global store: ``<config dir>/taskstore.db``; daemon config: ``<config dir>/daemon.toml``
- runtime dir: ``$XDG_RUNTIME_DIR/kasmos`` else ``/tmp/kasmos-<uid>``
- repo-local state: ``<main repo root>/.kasmos/`` (config.toml, signals/, logs/, cache/)

Repository resolution reads ``.git`` directly (no subprocess): a worktree's ``.git`` is a file
``gitdir: <path>`` whose ``commondir`` points back at the main repository's ``.git``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kasmos.supervisor.errors import NotInRepository


def config_dir() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    if xdg:
        return Path(xdg) / "kasmos"
    home = os.environ.get("HOME", "").strip()
    if home:
        return Path(home) / ".config" / "kasmos"
    return Path.cwd() / ".kasmos"


def store_path() -> Path:
    return config_dir() / "taskstore.db"


def daemon_config_path() -> Path:
    return config_dir() / "daemon.toml"


def runtime_dir() -> Path:
    xdg = os.environ.get("XDG_RUNTIME_DIR", "").strip()
    if xdg:
        return Path(xdg) / "kasmos"
    return Path(f"/tmp/kasmos-{os.getuid()}")


@dataclass(frozen=True)
class Repo:
    """A git repository as kasmos sees it: the main root (never a worktree) and its project name."""

    root: Path

    @property
    def project(self) -> str:
        return self.root.name

    @property
    def state_dir(self) -> Path:
        return self.root / ".kasmos"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "config.toml"

    @property
    def signals_dir(self) -> Path:
        return self.state_dir / "signals"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    @property
    def worktrees_dir(self) -> Path:
        return self.root / ".worktrees"


def _main_root_from_dotgit(dotgit: Path) -> Path | None:
    """Given the ``.git`` entry of a working tree, return the main repository's root."""
    if dotgit.is_dir():
        return dotgit.parent
    if not dotgit.is_file():
        return None
    try:
        text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text[len("gitdir:") :].strip())
    if not gitdir.is_absolute():
        gitdir = (dotgit.parent / gitdir).resolve()
    commondir_file = gitdir / "commondir"
    if commondir_file.is_file():
        try:
            common = Path(commondir_file.read_text(encoding="utf-8").strip())
        except OSError:
            return dotgit.parent
        if not common.is_absolute():
            common = (gitdir / common).resolve()
        if common.name == ".git":
            return common.parent
    # A submodule (or an unusual layout): the working tree that holds the .git file is the root.
    return dotgit.parent


def find_repo(start: Path | None = None) -> Repo:
    """Resolve the main repository root from ``start`` (default: cwd) or raise NotInRepository."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        dotgit = directory / ".git"
        if dotgit.exists():
            root = _main_root_from_dotgit(dotgit)
            if root is not None:
                return Repo(root=root)
    raise NotInRepository()
