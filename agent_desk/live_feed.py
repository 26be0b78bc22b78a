"""The desk's live feed: backend events (live transcript segments...) pushed to browsers.

Events reach Redis pub/sub from any backend node (`hotline/event_bus.py`); each desk
websocket subscribes to the topics it shows and receives them as JSON text frames, so an agent
sees the caller's words within a second of them being spoken, whichever node decodes them.
A slow browser only slows its own socket: the Redis subscription is per connection.

The socket needs a signed-in member of staff (`kernel.auth`): the session cookie, or a token
as `?access_token=` since browsers cannot set headers on a websocket. It closes when that
session or token ends. The page itself is static and holds no data.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from kernel import auth
from kernel.openapi import ANYONE, Operation
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
    pubsub = request.app[LIVE_REDIS].pubsub()
    await pubsub.subscribe(*(f"{prefix}events:{topic}" for topic in TOPICS))

    async def forward() -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            data = message["data"]
            await ws.send_str(data.decode() if isinstance(data, bytes) else str(data))

    forwarder = asyncio.create_task(forward())
    try:
        async with auth.watched(request, ws):  # closed when the session or token ends
            await ws.send_json({"type": "desk.ready"})
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
    finally:
        forwarder.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await forwarder
        await pubsub.aclose()
    return ws


@routes.get("/")
async def desk_page(request: web.Request) -> web.FileResponse:
    """The agent's desk (`agent_desk/static/desk.html`, protocol in PROTOCOL.md)."""
    return web.FileResponse(STATIC_DIR / "desk.html")


@routes.get("/live")
async def live_page(request: web.Request) -> web.FileResponse:
    """Every call's live transcript, for hotline staff watching the floor."""
    return web.FileResponse(STATIC_DIR / "live.html")


def operations() -> list[Operation]:
    return [
        Operation("get", "/ws/live",
                  "Live transcripts of calls (websocket; session cookie or `?access_token=`)",
                  LIVE_FEED_ROLES, success=101,
                  content_type="websocket"),
        Operation("get", "/", "The agent's desk page (signs in from `#access_token=`)", ANYONE,
                  content_type="text/html"),
        Operation("get", "/live", "Live transcripts of all calls (page; `#access_token=`)", ANYONE,
                  content_type="text/html"),
    ]
