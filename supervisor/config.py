"""Configuration models: ``<repo>/.kasmos/config.toml`` and ``~/.config/kasmos/daemon.toml``.

Both files are TOML, parsed with :mod:`tomllib` and validated by the pydantic models below, which carry
the reference keys and defaults. A missing file means all defaults. A malformed file raises
:class:`InvalidConfig` whose single line names the file, the line (syntax errors) or the key (type
errors) and what was expected. Unknown keys are ignored so that configs written by other kasmos
versions keep loading; ``kas debug`` lists them.
"""

from __future__ import annotations

import getpass
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kasmos.supervisor.errors import InvalidConfig

M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class AgentProfile(_Strict):
    enabled: bool = True
    program: str = ""
    model: str = ""
    temperature: float | None = None
    effort: str = ""
    execution_mode: Literal["tmux", "sdk"] = "tmux"
    tier: Literal["fast", "flex"] = "flex"
    flags: list[str] = Field(default_factory=list)
    permission_default: Literal["inherit", "prompt", "bypass"] = "inherit"

    @field_validator("execution_mode", mode="before")
    @classmethod
    def _headless_is_sdk(cls, value: Any) -> Any:
        return "sdk" if value == "headless" else value

    @field_validator("tier", mode="before")
    @classmethod
    def _default_tier(cls, value: Any) -> Any:
        return "flex" if value == "default" else value

    @field_validator("permission_default", mode="before")
    @classmethod
    def _unknown_permission_is_prompt(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("inherit", "prompt", "bypass"):
            return "prompt"
        return value


class UiConfig(_Strict):
    """``[ui]``: display settings plus per-repo overrides of daemon behaviour (None = daemon's)."""

    animate_banner: bool | None = None
    accent_color: str = ""
    theme_source: str = ""
    system_theme_provider: str = ""
    theme_palette_file: str = ""
    auto_advance_waves: bool | None = None
    auto_advance: bool | None = None
    auto_review_fix: bool | None = None
    max_review_fix_cycles: int | None = None
    auto_readiness_review: bool | None = None
    auto_create_pr: bool | None = None
    readiness_self_fix_max_lines: int | None = None
    readiness_max_verify_cycles: int | None = None


_PROFILE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class OrchestrationConfig(_Strict):
    blueprint_skip_threshold: int = 2
    planners: list[str] = Field(default_factory=list)

    @field_validator("planners")
    @classmethod
    def _valid_planners(cls, names: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in names:
            if not _PROFILE_NAME.match(name) or ".." in name:
                raise ValueError(f"planner profile name {name!r} must match [A-Za-z0-9._-]+ without '..'")
            if name in seen:
                raise ValueError(f"planner profile {name!r} is listed twice")
            seen.add(name)
        return names


class KeybindsConfig(_Strict):
    double_tap_threshold_ms: int = 300


class SdkConfig(_Strict):
    transcript_max_bytes: int = 4 * 1024 * 1024
    transcript_max_turns: int = 2000
    handshake_timeout_sec: float = Field(default=45.0, gt=0)  # kasmos: no answer to the handshake → crash

    @field_validator("transcript_max_bytes", "transcript_max_turns")
    @classmethod
    def _clamp(cls, value: int) -> int:
        return max(value, 0)


class ResourcesConfig(_Strict):
    profile: Literal["normal", "interactive", "custom"] = "normal"
    nice: int | None = None
    ionice_class: Literal["none", "best-effort", "idle"] = "none"
    ionice_level: int | None = Field(default=None, ge=0, le=7)
    build_jobs: int | None = None
    go_package_parallelism: int | None = None
    gomaxprocs: int | None = None
    max_parallel_wave_tasks: int | None = None
    env: dict[str, str] = Field(default_factory=dict)


class TelemetryConfig(_Strict):
    enabled: bool = True


class HookConfig(_Strict):
    type: Literal["webhook", "notify", "command"]
    url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    command: str = ""
    events: list[str] = Field(default_factory=list)


def default_branch_prefix() -> str:
    try:
        user = getpass.getuser().strip().lower()
    except (KeyError, OSError):
        user = ""
    return f"{user}/" if user else "session/"


class ProjectConfig(_Strict):
    """``<repo-root>/.kasmos/config.toml``."""

    default_program: str = ""
    auto_yes: bool = False
    daemon_poll_interval: int = 1000
    branch_prefix: str = Field(default_factory=default_branch_prefix)
    notifications_enabled: bool = True
    claude_no_flicker: bool = False
    database_url: str = ""
    phases: dict[str, str] = Field(default_factory=dict)
    agents: dict[str, AgentProfile] = Field(default_factory=dict)
    ui: UiConfig = Field(default_factory=UiConfig)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)
    keybinds: KeybindsConfig = Field(default_factory=KeybindsConfig)
    sdk: SdkConfig = Field(default_factory=SdkConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    enforcement: dict[str, bool] = Field(default_factory=dict)
    hooks: list[HookConfig] = Field(default_factory=list)
    linear: dict[str, Any] = Field(default_factory=dict)


class PrMonitorConfig(_Strict):
    enabled: bool = False
    poll_interval_sec: int = Field(default=60, gt=0)
    reactions: list[str] = Field(default_factory=lambda: ["eyes"])


class PrCreatorConfig(_Strict):
    enabled: bool = True
    retry_interval_sec: int = Field(default=120, gt=0)
    max_attempts: int = Field(default=5, ge=0)


class LinearTriggerMonitorConfig(_Strict):
    poll_interval_sec: int = Field(default=60, gt=0)


class AgentRestartConfig(_Strict):
    """``[agent_restart]``: what happens when an agent dies (see workers/session/policy.py)."""

    policy: Literal["on-crash", "always", "never"] = "on-crash"
    max_restarts: int = Field(default=3, ge=0)
    window_sec: float = Field(default=600, gt=0)
    backoff_sec: float = Field(default=1.0, ge=0)


class DaemonConfig(_Strict):
    """``~/.config/kasmos/daemon.toml``."""

    poll_interval_sec: float = Field(default=2, gt=0)
    repos: list[str] = Field(default_factory=list)
    auto_advance: bool = True
    auto_advance_waves: bool = True
    auto_review_fix: bool = True
    auto_readiness_review: bool = True
    auto_create_pr: bool = True
    max_review_fix_cycles: int = Field(default=0, ge=0)
    readiness_self_fix_max_lines: int = 80
    readiness_max_verify_cycles: int = 2
    socket_path: str = ""
    pr_monitor: PrMonitorConfig = Field(default_factory=PrMonitorConfig)
    pr_creator: PrCreatorConfig = Field(default_factory=PrCreatorConfig)
    linear_trigger_monitor: LinearTriggerMonitorConfig = Field(default_factory=LinearTriggerMonitorConfig)
    agent_restart: AgentRestartConfig = Field(default_factory=AgentRestartConfig)

    @field_validator("readiness_self_fix_max_lines")
    @classmethod
    def _self_fix_default(cls, value: int) -> int:
        return value if value > 0 else 80

    @field_validator("readiness_max_verify_cycles")
    @classmethod
    def _verify_cycles_default(cls, value: int) -> int:
        return value if value > 0 else 2


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    got = error.get("input")
    if error["type"] == "missing":
        return f"key '{key}': {message.lower()}"
    return f"key '{key}': {message[0].lower()}{message[1:]} (got {got!r})"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file is an empty table. Errors name the file and the line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidConfig(
            f"cannot read config {path}: {exc.strerror}", hint="check its permissions"
        ) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidConfig(
            f"invalid config {path}: not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfig(
            f"invalid config {path}: {exc}", hint="expected TOML syntax; fix that line or move the file aside"
        ) from None


def _validate(model: type[M], data: dict[str, Any], path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise InvalidConfig(
            f"invalid config {path}: {_describe(dict(first))}{suffix}", hint="fix the value or remove the key"
        ) from None


def load_project_config(path: Path) -> ProjectConfig:
    return _validate(ProjectConfig, read_toml(path), path)


def load_daemon_config(path: Path) -> DaemonConfig:
    return _validate(DaemonConfig, read_toml(path), path)


def unknown_keys(model: type[BaseModel], data: dict[str, Any], prefix: str = "") -> list[str]:
    """Keys present in ``data`` that ``model`` does not define (recursing into nested models)."""
    found: list[str] = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            found.append(f"{prefix}{key}")
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
            found.extend(unknown_keys(annotation, value, f"{prefix}{key}."))
    return found
