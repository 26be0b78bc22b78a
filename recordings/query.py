"""Query-string parameters of the calls and audit APIs, validated at the edge (400 naming the field)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from aiohttp import web

from kernel.errors import InvalidInput

#: Days given without a time ("2026-11-30") are the hotline's local days.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def when_query(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), LOCAL_ZONE)
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an ISO date or date-time", field=name) from exc
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (or give a date only)", field=name)
    return value


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query.get(name, str(default)))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer", field=name) from exc
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be within {low}..{high}", field=name)
    return value


def text_query(request: web.Request, name: str, limit: int = 64) -> str | None:
    value = request.query.get(name, "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} is too long", field=name)
    return value or None
