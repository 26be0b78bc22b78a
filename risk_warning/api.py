"""HTTP API of the risk warnings.

    GET /api/risk-warnings?limit=   the latest warnings, newest first

Supervisors and dispatchers see every warning; a unit sees those that concern it, without the
tickets' numbers (a unit never learns of tickets that are not its own: `kernel.access_policy`).
"""

from __future__ import annotations

from aiohttp import web

from kernel import auth
from kernel.http_edge import int_query
from kernel.openapi import Operation
from kernel.roles import Role
from risk_warning.store import RiskWarnings

RISK_WARNINGS = web.AppKey("risk_warnings", RiskWarnings)
READERS = frozenset({Role.SUPERVISOR, Role.DISPATCHER, Role.UNIT})

routes = web.RouteTableDef()


@routes.get("/api/risk-warnings")
async def list_warnings(request: web.Request) -> web.Response:
    principal = auth.require(request, READERS)
    limit = int_query(request, "limit", 50, 1, 500)
    unit = principal.unit if principal.role == Role.UNIT else None
    found = await request.app[RISK_WARNINGS].recent(limit, unit=unit)
    shown = [w.as_json() for w in found]
    if unit is not None:
        for warning in shown:
            warning.pop("ticket_nos")
    return web.json_response({"warnings": shown})


def operations() -> list[Operation]:
    return [Operation("get", "/api/risk-warnings", "Risk warnings (风险预警), newest first", READERS,
                      query=(("limit", "integer"),), note="a unit: those concerning it, without ticket numbers")]
