"""The workbenches, pushed: websockets that tell a unit's open page, within a second, that a
ticket of its unit changed (dispatched to it above all), and a dispatcher's page that a ticket
came into or left the queues, whichever node made the change.

Ticket notices (`tickets.announcements`) reach Redis pub/sub from any node; each socket
subscribes to them and forwards only those of the page's business (a unit: its own tickets). A notice names
no caller: the page fetches the ticket through the API, which applies the access rules.
The socket is opened with the page's session cookie from the hotline's own origin (`kernel.auth`
checks both before the upgrade) and closes when the session ends.

The callback page's socket relays its own person's call events instead (`callback.*`: the survey
call they placed from the page is ringing, answered, not reached, ended), which the desk's
notices already publish on the person's own topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from kernel import auth
from kernel.access_policy import about_reader
from kernel.audit import reader_of
from kernel.event_bus import relayed
from kernel.openapi import Operation
from kernel.schema import REVIEW_STATUSES
from tickets.announcements import TICKETS_TOPIC, involves
from workbenches.api import CALLBACK_DESK, DISPATCH_DESK, UNIT_DESK, actor_of
from workbenches.callback_calls import phone_of
from workbenches.titles import STATUS_TITLES

FEED_REDIS = web.AppKey("workbench_feed_redis", aioredis.Redis)
FEED_PREFIX = web.AppKey("workbench_feed_prefix", str)

routes = web.RouteTableDef()


Notice = dict[str, Any]
#: What a page is sent for one notice, or None when the notice is none of its business.
Pick = Callable[[Notice], Notice | None]

#: Events that take a ticket out of the dispatcher's queues (the new status says when one
#: comes in): another dispatcher's dispatch or review, or the agent closing a draft.
LEAVES_DISPATCHERS_WORK = frozenset({
    "ticket.Dispatched", "ticket.ReturnApproved", "ticket.ReturnRejected", "ticket.ExtensionApproved",
    "ticket.ExtensionDenied", "ticket.TerminationApproved", "ticket.TerminationRejected",
    "ticket.AnsweredDirectly", "ticket.AnsweredInThreeWayCall", "ticket.ClosedOutOfScope"})
DISPATCHERS_STATUSES = frozenset({"draft", "pending_dispatch", *REVIEW_STATUSES})


def _message(payload: Notice, **extra: Any) -> Notice:
    status = str(payload.get("status", ""))
    return {"type": "ticket", "event": payload.get("type"), "ticket_no": payload.get("ticket_no"),
            "status": status, "status_title": STATUS_TITLES.get(status, status), **extra}


def for_unit(unit: str) -> Pick:
    """A unit's page: the notices of its own tickets (lead or cooperating)."""
    return lambda payload: _message(payload, lead=payload.get("lead_unit") == unit) if involves(payload, unit) else None


def for_dispatcher(payload: Notice) -> Notice | None:
    """A dispatcher's page: tickets coming into or leaving the dispatch and review queues."""
    if payload.get("status") in DISPATCHERS_STATUSES or payload.get("type") in LEAVES_DISPATCHERS_WORK:
        return _message(payload)
    return None


async def _feed(request: web.Request, pick: Pick, topic: str = TICKETS_TOPIC) -> web.WebSocketResponse:
    """Relay the notices of `topic` (tickets, unless told) that `pick` keeps to the page, for as
    long as its session lasts."""
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)

    reader = reader_of(auth.principal_of(request))

    async def send(_channel: str, data: bytes | str) -> None:
        try:
            payload = json.loads(data)
        except ValueError:
            return
        if not isinstance(payload, dict) or about_reader(reader, (payload.get("about_staff"),)):
            return  # a complaint about the page's person: they are never told of it
        if (out := pick(payload)) is not None:
            await ws.send_json(out)

    channel = f"{request.app[FEED_PREFIX]}events:{topic}"
    async with relayed(request.app[FEED_REDIS], [channel], send), auth.watched(request, ws):
        await ws.send_json({"type": "ready"})
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    return ws


@routes.get("/ws/workbench/unit")
async def unit_feed(request: web.Request) -> web.WebSocketResponse:
    principal = auth.require(request, {r.value for r in UNIT_DESK})  # before the upgrade: a JSON 401/403
    return await _feed(request, for_unit(principal.unit or ""))


@routes.get("/ws/workbench/dispatch")
async def dispatch_feed(request: web.Request) -> web.WebSocketResponse:
    auth.require(request, {r.value for r in DISPATCH_DESK})
    return await _feed(request, for_dispatcher)


#: What the callback page is told of its person's calls (`outbound/desk_callback.py`).
CALLBACK_EVENTS = frozenset({"callback.ringing", "callback.answered", "callback.not_reached", "callback.ended"})


def for_callback_page(payload: Notice) -> Notice | None:
    """The callback page: its own person's callback calls, nothing else of their events."""
    if payload.get("type") not in CALLBACK_EVENTS:
        return None
    keep = ("type", "call_id", "task_id", "ticket_no", "reason", "reached")
    return {key: payload[key] for key in keep if key in payload}


@routes.get("/ws/workbench/callbacks")
async def callback_feed(request: web.Request) -> web.WebSocketResponse:
    """The signed-in callback agent's own calls: the person's topic, never anyone else's."""
    actor = actor_of(request, CALLBACK_DESK)
    return await _feed(request, for_callback_page, phone_of(request).topic(actor.id))


def operations() -> list[Operation]:
    return [Operation("get", "/ws/workbench/unit", "The unit's ticket notices, pushed (websocket; the "
                      "session cookie from the hotline's own origin)", UNIT_DESK, content_type="websocket"),
            Operation("get", "/ws/workbench/dispatch", "Tickets coming into or leaving the dispatch and review "
                      "queues, pushed (websocket, as above)", DISPATCH_DESK, content_type="websocket"),
            Operation("get", "/ws/workbench/callbacks", "The callback agent's own callback calls: ringing, "
                      "answered, not reached, ended (websocket, as above)", CALLBACK_DESK,
                      content_type="websocket")]
