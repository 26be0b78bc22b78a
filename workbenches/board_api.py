"""HTTP API of the supervisor's 督办 board (`/oversight`): the open tickets under supervision
with their flags, escalations and the ladder's next steps.

    GET  /api/workbench/supervision?limit=200     supervised open tickets, longest unchanged first

Reads only. A supervisor acts through the ticket workflow (`POST /api/tickets/{no}/commands/
escalate`), the anti-abuse API (`/api/abuse/...`) and the statistics (`/api/statistics/...`).
The list is a ticket list read: it is audited like the other workbench lists.
"""

from __future__ import annotations

from aiohttp import web

from kernel.http_edge import int_query
from kernel.openapi import Operation
from kernel.roles import Role
from workbenches.api import QUERIES, TICKETS, actor_of, audit_list, list_entry
from workbenches.board import supervision_json

#: 班长 (督办): the only role that escalates (`tickets.workflow.ROLES[Escalate]`).
OVERSIGHT: frozenset[Role] = frozenset({Role.SUPERVISOR})

routes = web.RouteTableDef()


@routes.get("/api/workbench/supervision")
async def supervised(request: web.Request) -> web.Response:
    actor = actor_of(request, OVERSIGHT)
    queries = request.app[QUERIES]
    found = await queries.supervised(int_query(request, "limit", 200, 1, 500), actor.id)
    await audit_list(request, "supervision board", found)
    events = await queries.supervision_events([t.ticket_no for t in found])
    now = request.app[TICKETS].now()
    return web.json_response({"tickets": [
        list_entry(t, actor, now) | supervision_json(t.supervision_level, events[t.ticket_no], now)
        for t in found], "now": now.isoformat()})


def operations() -> list[Operation]:
    return [Operation("get", "/api/workbench/supervision",
                      "Open tickets under supervision with flags, escalations and the ladder's next steps "
                      "(audited)", OVERSIGHT, query=(("limit", "integer"),))]
