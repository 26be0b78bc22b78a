"""What every HTTP API of the backend shares at its edge: JSON errors and validated bodies.

Errors of the one hierarchy (`hotline.errors`) become `{"error": code, "message": ...}` with
the status from `http_status_for`, in one place; request bodies are pydantic models that forbid
unknown fields, so bad input is a clear 400 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from hotline.errors import HotlineError, InvalidInput, http_status_for

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_M = TypeVar("_M", bound=BaseModel)


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def json_errors(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except HotlineError as exc:
            return web.json_response(
                {"error": exc.code, "message": exc.message}, status=http_status_for(exc)
            )

    return wrapper


async def read_body(request: web.Request, model: type[_M]) -> _M:
    try:
        raw: Any = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body must be JSON") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None
