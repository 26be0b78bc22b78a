"""One error hierarchy for the whole backend.

Every error a caller of our code can meet derives from `HotlineError` and carries context
(call id, ticket number, setting key...) as attributes, so that logs and HTTP/websocket error
mappings never have to parse messages. HTTP status codes are mapped in one place
(`HTTP_STATUS`), not at each raise site.
"""

from __future__ import annotations

from typing import Any


class HotlineError(Exception):
    """Base class. `code` is a stable machine-readable identifier used in API error bodies."""

    code = "hotline_error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class ConfigError(HotlineError):
    """A setting is missing, unknown or invalid. `key` names the offending setting."""

    code = "config_error"

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"setting {key!r}: {problem}", key=key)
        self.key = key

    @classmethod
    def from_validation(cls, exc: Any, *prefix: str) -> ConfigError:
        """The first problem of a pydantic ValidationError, named by its dotted key."""
        first = exc.errors()[0]
        key = ".".join([*prefix, *(str(part) for part in first["loc"])])
        problem = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        return cls(key, problem)


class Unavailable(HotlineError):
    """An external service (Asterisk, Redis, database) cannot be reached."""

    code = "unavailable"


class NotFound(HotlineError):
    code = "not_found"


class Conflict(HotlineError):
    """Optimistic-locking or uniqueness conflict: the caller should reload and retry."""

    code = "conflict"


class PermissionDenied(HotlineError):
    code = "permission_denied"


class Unauthenticated(HotlineError):
    """No credentials, or credentials that are forged, malformed or expired (HTTP 401)."""

    code = "unauthenticated"


class Throttled(HotlineError):
    """Too many attempts (failed sign-ins): try again after `retry_after` seconds (HTTP 429)."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(message, retry_after=retry_after, **context)
        self.retry_after = retry_after


class IllegalTransition(HotlineError):
    """A workflow transition the regulations do not allow from the current state or role."""

    code = "illegal_transition"


class InvalidInput(HotlineError):
    code = "invalid_input"


class DamagedFile(HotlineError):
    """A stored file (a sealed recording, an evidence file) failed its integrity check:
    tampered, truncated, or sealed with a key this node lacks. Never served; `file` names it."""

    code = "damaged_file"


class IdempotencyKeyReused(HotlineError):
    """An `Idempotency-Key` sent again with a different request (HTTP 422): the client mixed up
    two requests, and neither answering the first nor doing the second would be what it meant."""

    code = "idempotency_key_reused"


class AriError(Unavailable):
    """Asterisk's REST interface answered with an error or did not answer."""

    code = "ari_error"

    def __init__(self, message: str, *, status: int | None = None, **context: Any) -> None:
        super().__init__(message, status=status, **context)
        self.status = status


def cause_of(exc: BaseException) -> str:
    """Name what went wrong even when the exception has no message.

    `str()` of a timeout (`TimeoutError()`) or of some aiohttp errors is empty, and logs that
    said "failed: " left an operator guessing (issue 26); the type name is always there."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


HTTP_STATUS: dict[type[HotlineError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    IllegalTransition: 422,
    IdempotencyKeyReused: 422,
    Throttled: 429,
    Unavailable: 503,
    ConfigError: 500,
    DamagedFile: 500,
}


def http_status_for(error: HotlineError) -> int:
    """The HTTP status for an error, following the class hierarchy (most specific first)."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500
