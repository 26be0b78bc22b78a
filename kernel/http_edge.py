"""What every HTTP API of the backend shares at its edge: JSON errors, validated bodies, and
request latency by route (`kernel.metrics`).

Errors of the one hierarchy (`kernel.errors`) become, in one middleware, `{"error": code, "message": ...}` with
the status from `http_status_for`, in one place; request bodies are pydantic models that forbid
unknown fields, so bad input is a clear 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from kernel.auth import api_key_middleware, session_middleware
from kernel.errors import HotlineError, InvalidInput, Throttled, http_status_for
from kernel.metrics import METRICS, Metrics, http_metrics_middleware
from kernel.security_headers import install_security_headers
from kernel.socket_caps import SOCKET_CAPS, SocketCaps, socket_caps_middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_M = TypeVar("_M", bound=BaseModel)


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error of the one hierarchy, from any handler, as a JSON body with its status."""
    try:
        return await handler(request)
    except HotlineError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
        return web.json_response(
            {"error": exc.code, "message": exc.message}, status=http_status_for(exc), headers=headers
        )


def new_app(sockets: SocketCaps | None = None) -> web.Application:
    """An application with the backend's HTTP edge (errors as JSON, latency by route, session
    cookies and API keys looked up for `kernel.auth`, its own metrics registry, security
    headers on every response, websockets capped per person and in all by `sockets`): the root
    and tests use it."""
    app = web.Application(middlewares=[http_metrics_middleware, session_middleware, api_key_middleware,
                                       error_middleware, socket_caps_middleware])
    app[METRICS] = Metrics()
    app[SOCKET_CAPS] = sockets or SocketCaps()
    install_security_headers(app)
    return app


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; a clear 400 naming it otherwise."""
    try:
        value = int(request.query.get(name, str(default)))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer", field=name) from exc
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be within {low}..{high}", field=name)
    return value


def _holding_nul(raw: Any) -> str | None:
    """Where in a parsed body a string holds NUL: PostgreSQL refuses it in text (a server error
    after the handler had begun) while SQLite keeps it, so the edge refuses it for both, as the
    field's 400. (A lone surrogate, `"\\ud800"`, pydantic refuses itself.)"""
    stack: list[tuple[Any, str]] = [(raw, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return where or "body"
        elif isinstance(value, dict):
            stack += [(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()]
        elif isinstance(value, list):
            stack += [(item, f"{where}.{index}" if where else str(index)) for index, item in enumerate(value)]
    return None


async def read_body(request: web.Request, model: type[_M]) -> _M:
    try:
        raw: Any = await request.json()
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError; nesting too deep
        raise InvalidInput("body must be JSON") from exc
    if (where := _holding_nul(raw)) is not None:
        raise InvalidInput(f"{where}: text may not contain NUL", field=where)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None
