"""HTTP API of the monthly unit statistics and the public disclosure (aiohttp route table).

    GET /api/statistics/units?month=2026-11          per-unit figures (a unit: its own row) and,
                                                     for the hotline, the month's intake total
    GET /api/disclosure/2026-11.csv | 2026-11.json   the public monthly disclosure

Figures are recomputed from the immutable ticket events each time (`tickets/stats.py`), so
they can be audited and never drift from the tickets. The disclosure holds aggregates per unit
only, never a caller or a ticket, and is meant to be published: it needs no token.
"""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp import web

from kernel import auth
from kernel.clock import HOTLINE_TZ
from kernel.errors import InvalidInput
from kernel.openapi import ANYONE, Operation
from kernel.roles import HOTLINE_STAFF, Role
from tickets.api import DISPATCH_CATALOGUE, TICKET_STORE
from tickets.events import TicketEvent
from tickets.stats import (
    UnitMonth,
    UnitStatistics,
    disclosure_csv,
    disclosure_json,
    disclosure_records,
    intake_totals,
)

STAFF = HOTLINE_STAFF | {Role.UNIT}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

routes = web.RouteTableDef()


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    """The Beijing calendar month as a half-open interval of aware datetimes."""
    match = _MONTH.match(month)
    if match is None:
        raise InvalidInput("month must look like 2026-11", month=month[:20])
    year, number = int(match[1]), int(match[2])
    start = datetime(year, number, 1, tzinfo=HOTLINE_TZ)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=HOTLINE_TZ)
    return start, end


async def _events(request: web.Request, month: str) -> list[TicketEvent]:
    start, end = _month_bounds(month)
    return await request.app[TICKET_STORE].events_of_tickets_active_between(start, end)


async def _rows(request: web.Request, month: str) -> list[UnitMonth]:
    return UnitStatistics().add_all(await _events(request, month)).rows(month)


@routes.get("/api/statistics/units")
async def unit_statistics(request: web.Request) -> web.Response:
    principal = auth.require(request, STAFF)
    month = request.query.get("month") or f"{datetime.now(HOTLINE_TZ):%Y-%m}"
    events = await _events(request, month)
    rows = UnitStatistics().add_all(events).rows(month)
    if principal.role == "unit":
        rows = [row for row in rows if row.unit == principal.unit]
        return web.json_response({"month": month, "units": disclosure_records(rows)})
    intake = intake_totals(events, month)
    return web.json_response({"month": month, "units": disclosure_records(rows), "intake": {
        "registered": intake.registered, "not_intake": intake.not_intake, "intake": intake.intake}})


@routes.get("/api/disclosure/{month}.{fmt:csv|json}")
async def disclosure(request: web.Request) -> web.Response:
    month = request.match_info["month"]
    names = {code: unit.name for code, unit in request.app[DISPATCH_CATALOGUE].units.items()}
    records = disclosure_records(await _rows(request, month), names)
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
                  "Public monthly disclosure (`fmt`: csv or json)", ANYONE),
    ]
