"""`/sip`: the softphones' SIP-over-WebSocket, relayed by the backend to Asterisk's `/ws`.

Asterisk 22 serves SIP over WebSocket only on its HTTP server, the same listener as ARI
(`http.conf`; the pjsip ws transport's own `bind` is ignored). A softphone pointed at Asterisk
therefore needed every agent's PC to reach ARI's host and port, and any page open in an agent's
browser could try ARI there (issue 25). Relayed here instead, the agents' browsers reach only the
backend; Asterisk's HTTP port can be firewalled to the backend nodes.

What the relay must never do: reach anything but the one upstream address it was given (the
browser chooses no path, host or header of the upstream request, so no request of its can become
an ARI request), or relay for anyone not signed in as hotline staff (SIP digest authentication
still decides which endpoint the phone may register as). Frames pass through unchanged, text or
binary, in both directions, until either side closes; the socket also closes when the person's
session ends (`kernel.auth.watched`) and counts against their websocket cap like any other.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import aiohttp
from aiohttp import WSMsgType, web

from kernel import auth
from kernel.errors import cause_of
from kernel.openapi import Operation
from kernel.roles import HOTLINE_STAFF

log = logging.getLogger(__name__)

#: Who may open the relay: staff with a softphone (agents, and supervisors' monitor legs).
SIP_ROLES = frozenset(role.value for role in HOTLINE_STAFF)
SIP_UPSTREAM = web.AppKey("sip_upstream", str)
PATH = "/sip"
#: SIP messages are a few kilobytes; an INVITE with a large SDP stays well below this.
MAX_MESSAGE = 64 * 1024
CONNECT_TIMEOUT = 5.0


async def _pump(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
    async for message in source:
        if message.type is WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        else:
            break


async def sip_socket(request: web.Request) -> web.WebSocketResponse:
    auth.require(request, SIP_ROLES)  # before the upgrade: a refusal is a JSON 401/403
    ws = web.WebSocketResponse(protocols=("sip",), heartbeat=20, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(connect=CONNECT_TIMEOUT)) as session, \
                session.ws_connect(request.app[SIP_UPSTREAM], protocols=("sip",), heartbeat=20,
                                   max_msg_size=MAX_MESSAGE, timeout=timeout) as upstream, \
                auth.watched(request, ws):
            pumps = (asyncio.create_task(_pump(upstream, ws), name="sip-down"),
                     asyncio.create_task(_pump(ws, upstream), name="sip-up"))
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("SIP websocket relay could not reach Asterisk", extra={"error": cause_of(exc)})
        with suppress(Exception):
            await ws.close(code=1011, message="无法连接电话服务器".encode())
    return ws


def install(app: web.Application, upstream: str) -> None:
    """Serve `/sip`, relaying to `upstream` (Asterisk's `ws://host:port/ws`)."""
    app[SIP_UPSTREAM] = upstream
    app.router.add_get(PATH, sip_socket)


def operations() -> list[Operation]:
    return [Operation("get", PATH, "The softphone's SIP over WebSocket (subprotocol `sip`), relayed "
                      "to Asterisk: agents' browsers never reach Asterisk's HTTP port (ARI)",
                      SIP_ROLES)]
