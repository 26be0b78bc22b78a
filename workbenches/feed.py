"""The unit's inbox, pushed: a websocket that tells a unit's open page, within a second, that a
ticket of its unit changed (dispatched to it above all), whichever node made the change.

Ticket notices (`tickets.announcements`) reach Redis pub/sub from any node; each socket
subscribes to them and forwards only those that involve the person's own unit. A notice names
no caller: the page fetches the ticket through the API, which applies the access rules.
The socket is opened with the page's session cookie from the hotline's own origin (`kernel.auth`
checks both before the upgrade) and closes when the session ends.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from kernel import auth
from kernel.event_bus import relayed
from kernel.openapi import Operation
from tickets.announcements import TICKETS_TOPIC, involves
from workbenches.api import UNIT_DESK
from workbenches.titles import STATUS_TITLES

log = logging.getLogger(__name__)

FEED_REDIS = web.AppKey("workbench_feed_redis", aioredis.Redis)
FEED_PREFIX = web.AppKey("workbench_feed_prefix", str)

routes = web.RouteTableDef()


def _for_unit(data: bytes | str, unit: str) -> dict[str, Any] | None:
    """The message a unit's page gets for one notice, or None when it is another unit's."""
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    if not isinstance(payload, dict) or not involves(payload, unit):
        return None
    status = str(payload.get("status", ""))
    return {"type": "ticket", "event": payload.get("type"), "ticket_no": payload.get("ticket_no"),
            "status": status, "status_title": STATUS_TITLES.get(status, status),
            "lead": payload.get("lead_unit") == unit}


@routes.get("/ws/workbench/unit")
async def unit_feed(request: web.Request) -> web.WebSocketResponse:
    principal = auth.require(request, {r.value for r in UNIT_DESK})  # before the upgrade: a JSON 401/403
    unit = principal.unit or ""
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)

    async def send(data: bytes | str) -> None:
        if (out := _for_unit(data, unit)) is not None:
            await ws.send_json(out)

    channel = f"{request.app[FEED_PREFIX]}events:{TICKETS_TOPIC}"
    async with relayed(request.app[FEED_REDIS], [channel], send), auth.watched(request, ws):
        await ws.send_json({"type": "ready"})
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    return ws


def operations() -> list[Operation]:
    return [Operation("get", "/ws/workbench/unit", "The unit's ticket notices, pushed (websocket; the "
                      "session cookie from the hotline's own origin)", UNIT_DESK, content_type="websocket")]
