"""One exception root for kasmos, carrying a wire error code.

Every failure a user or a client can see is a :class:`KasError` with a code from the closed set
:class:`ErrorCode`. The same code travels in wire replies (``{"ok": false, "error": {"code": ...}}``)
and the CLI maps it to a distinct process exit code (:data:`EXIT_CODES`), printing one line::

    error: <what happened>; <what to do>
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INTERNAL = "internal"
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    INVALID_TRANSITION = "invalid_transition"
    CONFLICT = "conflict"
    READ_ONLY = "read_only"
    UNAVAILABLE = "unavailable"
    NOT_IN_REPOSITORY = "not_in_repository"
    INVALID_CONFIG = "invalid_config"
    VERSION_MISMATCH = "version_mismatch"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"


EXIT_CODES: dict[ErrorCode, int] = {
    ErrorCode.INTERNAL: 1,
    ErrorCode.INVALID_ARGUMENT: 2,
    ErrorCode.NOT_FOUND: 3,
    ErrorCode.INVALID_TRANSITION: 4,
    ErrorCode.CONFLICT: 5,
    ErrorCode.READ_ONLY: 6,
    ErrorCode.UNAVAILABLE: 7,
    ErrorCode.NOT_IN_REPOSITORY: 8,
    ErrorCode.INVALID_CONFIG: 9,
    ErrorCode.VERSION_MISMATCH: 10,
    ErrorCode.TIMEOUT: 75,
    ErrorCode.UNSUPPORTED: 11,
}

RETRYABLE: frozenset[ErrorCode] = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT})


class KasError(Exception):
    """Root of every error kasmos reports on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        code: ErrorCode | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        self.details = details or {}

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.code]

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    def one_line(self) -> str:
        """The single stderr line: what happened, then what to do."""
        text = " ".join(self.message.split("\n"))
        if self.hint:
            text = f"{text}; {self.hint}"
        return f"error: {text}"


class InvalidArgument(KasError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFound(KasError):
    code = ErrorCode.NOT_FOUND


class InvalidTransition(KasError):
    code = ErrorCode.INVALID_TRANSITION


class Conflict(KasError):
    code = ErrorCode.CONFLICT


class ReadOnly(KasError):
    code = ErrorCode.READ_ONLY


class Unavailable(KasError):
    code = ErrorCode.UNAVAILABLE


class NotInRepository(KasError):
    code = ErrorCode.NOT_IN_REPOSITORY

    def __init__(self) -> None:
        super().__init__("kas must be run from within a git repository")


class InvalidConfig(KasError):
    code = ErrorCode.INVALID_CONFIG


class Unsupported(KasError):
    """The operation does not exist for this kind of thing (attach to an sdk-mode agent)."""

    code = ErrorCode.UNSUPPORTED


class Timeout(KasError):
    code = ErrorCode.TIMEOUT


class DaemonNotRunning(Unavailable):
    def __init__(self, what: str = "this command") -> None:
        super().__init__(
            f"the kasmos daemon is not running ({what} needs it)", hint="start it with `kas daemon start`"
        )
