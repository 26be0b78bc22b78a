"""HTTP API of the data push to units (临沂条例第四十二条, 北京条例第二十六条).

    GET    /api/push/feed?after=<seq>&limit=   a unit's events after its cursor (units that pull)
    PUT    /api/units/{code}/webhook           register or change the unit's webhook (the secret
                                               is generated unless given, and shown only here)
    GET    /api/units/{code}/webhook           the webhook and how far delivery got (no secret)
    DELETE /api/units/{code}/webhook           stop pushing (the position is kept)

A unit's own staff or its system (API key of the unit's account) reads its feed and manages its
webhook; a supervisor manages any unit's. Administrators do not: they read no citizen's data, and
pointing a webhook somewhere is reading every event of a unit's tickets.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from kernel import auth
from kernel.access_policy import Read, decide
from kernel.audit import audit_read, reader_of
from kernel.auth import Principal
from kernel.errors import InvalidInput, NotFound, PermissionDenied
from kernel.http_edge import RequestBody, int_query, read_body
from kernel.openapi import Operation
from kernel.roles import Role
from unit_push.store import PushStore, new_secret

PUSH_STORE = web.AppKey("push_store", PushStore)
#: Unit codes of the dispatch catalogue (a webhook only for a unit that exists).
UNIT_CODES = web.AppKey("push_unit_codes", frozenset)
FEED_READERS = frozenset({Role.UNIT})
WEBHOOK_EDITORS = frozenset({Role.UNIT, Role.SUPERVISOR})
MAX_PAGE = 500

routes = web.RouteTableDef()


class WebhookBody(RequestBody):
    url: str = Field(min_length=8, max_length=500)
    #: Given by the unit's receiver, or generated (at least 32 characters either way).
    secret: str | None = Field(default=None, min_length=32, max_length=128)


def _unit_for(request: web.Request, principal: Principal) -> str:
    """The unit of `{code}`, if the principal may manage its webhook (a unit only its own)."""
    code = request.match_info["code"]
    if code not in request.app[UNIT_CODES]:
        raise NotFound("no such unit", unit=code)
    if principal.role == Role.UNIT and principal.unit != code:
        raise PermissionDenied("a unit manages only its own webhook", unit=code, user=principal.user)
    return code


@routes.get("/api/push/feed")
async def read_feed(request: web.Request) -> web.Response:
    principal = auth.require(request, FEED_READERS)
    assert principal.unit is not None  # a unit principal always has its unit (kernel.auth)
    after = int_query(request, "after", 0, 0, 2**62)
    limit = int_query(request, "limit", 100, 1, MAX_PAGE)
    entries = await request.app[PUSH_STORE].feed_after(principal.unit, after, limit)
    await audit_read(request, principal, decide(reader_of(principal), Read.TICKET_LIST),
                     detail=f"unit feed after {after}: {len(entries)} events")
    return web.json_response({"unit": principal.unit, "events": [e.as_json() for e in entries],
                              "next": entries[-1].seq if entries else after})


@routes.put("/api/units/{code}/webhook")
async def set_webhook(request: web.Request) -> web.Response:
    principal = auth.require(request, WEBHOOK_EDITORS)
    unit = _unit_for(request, principal)
    body = await read_body(request, WebhookBody)
    if principal.role == Role.UNIT and not body.url.startswith("https://"):
        # A unit's own webhook leaves the hotline's network over TLS; a supervisor may name an
        # address on the government intranet (and so vouches for where it points).
        raise InvalidInput("a unit's webhook must be https://", field="url", unit=unit)
    secret = body.secret or new_secret()
    hook = await request.app[PUSH_STORE].set_webhook(unit, body.url, secret, by=principal.user)
    return web.json_response({"webhook": hook.public(), "secret": secret})


@routes.get("/api/units/{code}/webhook")
async def get_webhook(request: web.Request) -> web.Response:
    principal = auth.require(request, WEBHOOK_EDITORS)
    hook = await request.app[PUSH_STORE].webhook(_unit_for(request, principal))
    return web.json_response({"webhook": hook.public()})


@routes.delete("/api/units/{code}/webhook")
async def remove_webhook(request: web.Request) -> web.Response:
    principal = auth.require(request, WEBHOOK_EDITORS)
    await request.app[PUSH_STORE].remove_webhook(_unit_for(request, principal), by=principal.user)
    return web.json_response({"removed": True})


def operations() -> list[Operation]:
    own = "a unit: its own unit only"
    return [
        Operation("get", "/api/push/feed", "The unit's events after `after` (its last seen `seq`), "
                  "in order: what its webhook is sent", FEED_READERS,
                  query=(("after", "integer"), ("limit", "integer"))),
        Operation("put", "/api/units/{code}/webhook", "Register or change the unit's webhook; the "
                  "signing secret is in this answer only", WEBHOOK_EDITORS, WebhookBody, note=own),
        Operation("get", "/api/units/{code}/webhook", "The unit's webhook and its delivery "
                  "position (never the secret)", WEBHOOK_EDITORS, note=own),
        Operation("delete", "/api/units/{code}/webhook", "Stop pushing to the unit", WEBHOOK_EDITORS,
                  note=own),
    ]
