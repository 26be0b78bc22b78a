"""`GET /api/statistics/hotline?month=2026-11`: the hotline's answering by hour of the month
(15 秒接通率, abandonment), for supervisors, beside the units' figures (`tickets/stats_api.py`).

Read from the finished calls the wallboard is seeded from (`agent_desk.ports.WallboardSource`),
so that the day on the wallboard and the month here count a call the same way. Aggregates only:
no caller, no call.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from agent_desk.hotline_month import hotline_month
from agent_desk.wallboard_feed import BOARD_ROLES, WALLBOARD
from kernel import auth
from kernel.clock import HOTLINE_TZ
from kernel.openapi import Operation
from tickets.stats import month_bounds

routes = web.RouteTableDef()


@routes.get("/api/statistics/hotline")
async def hotline_statistics(request: web.Request) -> web.Response:
    auth.require(request, BOARD_ROLES)
    month = request.query.get("month") or f"{datetime.now(HOTLINE_TZ):%Y-%m}"
    start, end = month_bounds(month)
    calls = [c for c in await request.app[WALLBOARD].source.finished_since(start) if c.started_at < end]
    return web.json_response({"month": month, **hotline_month(calls)}, headers={"Cache-Control": "no-store"})


def operations() -> list[Operation]:
    return [Operation("get", "/api/statistics/hotline",
                      "The hotline's month by hour: offered, answered within 15 s, abandoned",
                      frozenset(BOARD_ROLES), query=(("month", "string"),))]
