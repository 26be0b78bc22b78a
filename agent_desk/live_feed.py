"""The desk's live feed: backend events (live transcript segments...) pushed to browsers.

Events reach Redis pub/sub from any backend node (`hotline/event_bus.py`); each desk
websocket subscribes to the topics it shows and receives them as JSON text frames, so an agent
sees the caller's words within a second of them being spoken, whichever node decodes them.
A slow browser only slows its own socket: the Redis subscription is per connection.

The socket needs a signed-in member of staff (`kernel.auth`): the page's session cookie, or a
program's token in the Authorization header (never in the address). It closes when that session
or token ends. The page (`/live`, `kernel.pages`) holds no data.
"""

from __future__ import annotations

import logging
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from kernel import auth
from kernel.event_bus import relayed
from kernel.openapi import Operation
from kernel.pages import page
from kernel.roles import HOTLINE_STAFF

log = logging.getLogger(__name__)

LIVE_REDIS = web.AppKey("live_feed_redis", aioredis.Redis)
LIVE_PREFIX = web.AppKey("live_feed_prefix", str)
TOPICS = ("asr",)
STATIC_DIR = Path(__file__).resolve().parent / "static"

routes = web.RouteTableDef()


#: Live calls show callers' words and numbers: hotline staff only, never a handling unit.
LIVE_FEED_ROLES = HOTLINE_STAFF


@routes.get("/ws/live")
async def live_feed(request: web.Request) -> web.WebSocketResponse:
    auth.require(request, LIVE_FEED_ROLES)  # before the upgrade, so a refusal is a JSON 401/403
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    prefix = request.app[LIVE_PREFIX]

    async def send(data: bytes | str) -> None:
        await ws.send_str(data.decode() if isinstance(data, bytes) else str(data))

    async with (relayed(request.app[LIVE_REDIS], [f"{prefix}events:{topic}" for topic in TOPICS], send),
                auth.watched(request, ws)):  # closed when the session or token ends
        await ws.send_json({"type": "desk.ready"})
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    return ws

#: Every call's live transcript, for hotline staff watching the floor.
LIVE_PAGE = page("/live", "实时转写", LIVE_FEED_ROLES, rank=30)


def operations() -> list[Operation]:
    return [
        Operation("get", "/ws/live",
                  "Live transcripts of calls (websocket; the session cookie, or a token in the "
                  "Authorization header)", LIVE_FEED_ROLES,
                  success=101, content_type="websocket"),
    ]
