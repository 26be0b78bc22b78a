"""The floor's live feed: live transcript segments of calls in progress, pushed to browsers.

Events reach Redis pub/sub from any backend node (`hotline/event_bus.py`); each websocket
subscribes to the topics it shows and receives them as JSON text frames, so a supervisor sees
the caller's words within a second of them being spoken, whichever node decodes them.
A slow browser only slows its own socket: the Redis subscription is per connection.

Which calls a socket shows is `kernel.access_policy` (`Read.LIVE_TRANSCRIPT`): a supervisor
every call; an agent only the calls offered to or answered by them (their own desk topic says
which); nobody else opens it. The first segment of each call that a socket forwards writes one
row to the access audit, before it is sent: a call's live words are not served unaudited (an
app without an audit forwards nothing).

The socket needs a signed-in member of staff (`kernel.auth`): the page's session cookie, or a
program's token in the Authorization header (never in the address). It closes when that session
or token ends. The page (`/live`, `kernel.pages`) holds no data.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from agent_desk.hub import agent_topic
from kernel import auth
from kernel.access_policy import Read, Reader, Subject, decide, roles_for
from kernel.audit import ACCESS_AUDIT, audit_read, reader_of
from kernel.event_bus import relayed
from kernel.openapi import Operation
from kernel.pages import page

log = logging.getLogger(__name__)

LIVE_REDIS = web.AppKey("live_feed_redis", aioredis.Redis)
LIVE_PREFIX = web.AppKey("live_feed_prefix", str)
TOPICS = ("asr",)
STATIC_DIR = Path(__file__).resolve().parent / "static"

routes = web.RouteTableDef()


#: Who opens the feed: the roles the policy lets read live transcripts (every call or their own).
LIVE_FEED_ROLES = roles_for(Read.LIVE_TRANSCRIPT)
#: A desk's call events that make the call the agent's own (as the desk hub follows calls).
OWN_CALL_EVENTS = frozenset({"call.offered", "call.answered"})


class LiveCalls:
    """What one socket has seen: the calls that are its reader's own, and the calls already
    audited (one row per call per socket)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.own: set[str] = set()
        self.audited: set[str] = set()

    def note_own(self, event: dict[str, object]) -> None:
        call_id = event.get("call_id")
        if isinstance(call_id, str) and event.get("type") in OWN_CALL_EVENTS:
            self.own.add(call_id)

    def may_show(self, call_id: str) -> bool:
        people = frozenset({self.reader.user}) if call_id in self.own else frozenset()
        return decide(self.reader, Read.LIVE_TRANSCRIPT, Subject(people=people)).allowed


def _json(data: object) -> tuple[str, dict[str, object]]:
    text = data.decode() if isinstance(data, bytes) else str(data)
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        return text, {}
    return text, event if isinstance(event, dict) else {}


@routes.get("/ws/live")
async def live_feed(request: web.Request) -> web.WebSocketResponse:
    principal = auth.require(request, LIVE_FEED_ROLES)  # before the upgrade: a refusal is a JSON 401/403
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    prefix = request.app[LIVE_PREFIX]
    own_topic = f"{prefix}events:{agent_topic(principal.user)}"
    calls = LiveCalls(reader_of(principal))

    async def send(channel: str, data: bytes | str) -> None:
        text, event = _json(data)
        if channel == own_topic:
            calls.note_own(event)
            return
        call_id = event.get("call_id")
        if not isinstance(call_id, str) or not calls.may_show(call_id):
            return
        if call_id not in calls.audited:
            if ACCESS_AUDIT not in request.app:
                log.error("live transcript not forwarded: no access audit", extra={"call_id": call_id})
                return
            await audit_read(request, principal, decide(calls.reader, Read.LIVE_TRANSCRIPT),
                             call_id=call_id, detail="live transcript")
            calls.audited.add(call_id)
        await ws.send_str(text)

    channels = [own_topic, *(f"{prefix}events:{topic}" for topic in TOPICS)]
    async with (relayed(request.app[LIVE_REDIS], channels, send),
                auth.watched(request, ws)):  # closed when the session or token ends
        await ws.send_json({"type": "desk.ready"})
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    return ws


#: Every call's live transcript for supervisors watching the floor; an agent's own calls.
LIVE_PAGE = page("/live", "实时转写", LIVE_FEED_ROLES, rank=30)


def operations() -> list[Operation]:
    return [
        Operation("get", "/ws/live",
                  "Live transcripts of calls (websocket; the session cookie, or a token in the "
                  "Authorization header)", LIVE_FEED_ROLES,
                  success=101, content_type="websocket"),
    ]
