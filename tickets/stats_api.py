"""HTTP API of the monthly unit statistics and the public disclosure (aiohttp route table).

    GET /api/statistics/units?month=2026-11          per-unit figures (a unit: its own row) and,
                                                     for the hotline, the month's intake total
    GET /api/disclosure/2026-11.csv | 2026-11.json   the public monthly disclosure

Staff figures are recomputed from the immutable ticket events each time (`tickets/stats.py`),
the fold in a worker thread, so they can be audited and never drift from the tickets. The
disclosure holds aggregates per unit only, never a caller or a ticket, and is meant to be
published: it needs no token, so it is limited per client (`PUBLIC_LIMIT`, when set) and is
computed once per closed month and kept (`tickets/disclosure.py`); a month not yet ended is 404.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web

from kernel import auth
from kernel.clock import HOTLINE_TZ
from kernel.openapi import ANYONE, Operation
from kernel.request_rate import RequestRate
from kernel.roles import HOTLINE_STAFF, Role
from tickets.api import TICKET_STORE
from tickets.disclosure import MonthlyDisclosure
from tickets.events import TicketEvent
from tickets.stats import (
    UnitStatistics,
    disclosure_csv,
    disclosure_json,
    disclosure_records,
    intake_totals,
    month_bounds,
)

STAFF = HOTLINE_STAFF | {Role.UNIT}
DISCLOSURE = web.AppKey("disclosure", MonthlyDisclosure)
#: Requests per client to the public disclosure; unset: unlimited (tests of other things).
PUBLIC_LIMIT = web.AppKey("public_rate_limit", RequestRate)

routes = web.RouteTableDef()


async def _events(request: web.Request, month: str) -> list[TicketEvent]:
    start, end = month_bounds(month)
    return await request.app[TICKET_STORE].events_of_tickets_active_between(start, end)


@routes.get("/api/statistics/units")
async def unit_statistics(request: web.Request) -> web.Response:
    principal = auth.require(request, STAFF)
    month = request.query.get("month") or f"{datetime.now(HOTLINE_TZ):%Y-%m}"
    events = await _events(request, month)
    # The fold is CPU work over a whole month of events: not on the loop that drives calls.
    rows = await asyncio.to_thread(lambda: UnitStatistics().add_all(events).rows(month))
    if principal.role == "unit":
        rows = [row for row in rows if row.unit == principal.unit]
        return web.json_response({"month": month, "units": disclosure_records(rows)})
    intake = intake_totals(events, month)
    return web.json_response({"month": month, "units": disclosure_records(rows), "intake": {
        "registered": intake.registered, "not_intake": intake.not_intake, "intake": intake.intake}})


@routes.get("/api/disclosure/{month}.{fmt:csv|json}")
async def disclosure(request: web.Request) -> web.Response:
    if (limit := request.app.get(PUBLIC_LIMIT)) is not None:
        await limit.check(request)
    month = request.match_info["month"]
    records = await request.app[DISCLOSURE].records(month)
    if request.match_info["fmt"] == "csv":
        return web.Response(text=disclosure_csv(records), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition":
                                     f'attachment; filename="12345-disclosure-{month}.csv"'})
    return web.Response(text=disclosure_json(records), content_type="application/json",
                        charset="utf-8")


def operations() -> list[Operation]:
    return [
        Operation("get", "/api/statistics/units", "Monthly figures per unit; a unit sees its own",
                  STAFF, query=(("month", "string"),)),
        Operation("get", "/api/disclosure/{month}.{fmt}",
                  "Public monthly disclosure of an ended month (`fmt`: csv or json); limited "
                  "per client (429 with Retry-After)", ANYONE),
    ]
