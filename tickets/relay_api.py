"""HTTP API of the confidential relay's codes (保密联络).

    GET  /api/tickets/{no}/relay-code   the code to key in and the number to phone: hotline
                                        staff, and the ticket's own units (others: 404)
    POST /api/tickets/{no}/relay-code   hotline staff issue a fresh code (older ones revoked)

The answer never carries the caller's number: that is the point of the relay.
"""

from __future__ import annotations

from aiohttp import web

from kernel.errors import NotFound
from kernel.openapi import Operation
from kernel.roles import AGENTS, HOTLINE_STAFF, Role
from tickets.api import TICKET_STORE, _actor, _ticket_no, hide_from
from tickets.relay import RelayService
from tickets.relay_codes import RelayCode

RELAY = web.AppKey("relay_service", RelayService)
#: Who reads a ticket's relay code: hotline staff, and the ticket's own units (others: 404).
CODE_READERS = frozenset(HOTLINE_STAFF) | {Role.UNIT}
#: Who issues a fresh code: the hotline desk (not callback agents, not units).
CODE_ISSUERS = AGENTS | {Role.DISPATCHER, Role.SUPERVISOR}
#: The number a unit phones to be put through (from `[relay] numbers`).
RELAY_NUMBER = web.AppKey("relay_number", str)

routes = web.RouteTableDef()


def _answer(request: web.Request, code: RelayCode, status: int = 200) -> web.Response:
    return web.json_response({"relay_code": code.to_json(),
                              "relay_number": request.app[RELAY_NUMBER]}, status=status)


@routes.get("/api/tickets/{no}/relay-code")
async def current_code(request: web.Request) -> web.Response:
    actor = _actor(request, CODE_READERS)
    ticket = await request.app[TICKET_STORE].get(_ticket_no(request))
    hide_from(actor)(ticket)
    code = await request.app[RELAY].current(ticket.ticket_no)
    if code is None:
        raise NotFound("no relay code for this ticket", ticket_no=ticket.ticket_no)
    return _answer(request, code)


@routes.post("/api/tickets/{no}/relay-code")
async def issue_code(request: web.Request) -> web.Response:
    actor = _actor(request, CODE_ISSUERS)
    code = await request.app[RELAY].issue(_ticket_no(request), actor)
    return _answer(request, code, 201)


def operations() -> list[Operation]:
    return [
        Operation("get", "/api/tickets/{no}/relay-code",
                  "The ticket's confidential-relay code and the number to phone (never the "
                  "caller's number)", CODE_READERS, note="a unit: the tickets dispatched to it"),
        Operation("post", "/api/tickets/{no}/relay-code",
                  "Issue a fresh one-time relay code for the ticket", CODE_ISSUERS, success=201),
    ]
