"""An ARI man-in-the-middle on 127.0.0.1: forwards REST calls and the event websocket to a real
Asterisk, and lets a test slip extra messages into the event stream (a malformed event from a
newer Asterisk, a bug) that the real Asterisk cannot be made to send.

It can also make chosen REST requests fail the ways an overloaded Asterisk does (`fault`): late
(carried out, answered after the client gave up), lost (never carried out, never answered) or
refused (an error without a reason), and keeps every request it saw (`requests`)."""

from __future__ import annotations

import asyncio
import re
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal

import aiohttp
from aiohttp import web

from devtools.sandbox import free_tcp_port

FaultKind = Literal["late", "lost", "refused"]


@dataclass
class Fault:
    """The next `times` requests matching `method` and `path` (a regular expression matched
    against the whole path after /ari) fail as `kind`; `hold` seconds is longer than the
    client's timeout for the late and lost kinds."""

    method: str
    path: str
    kind: FaultKind
    times: int
    hold: float = 3.0
    applied: int = 0

    def takes(self, method: str, path: str) -> bool:
        if self.applied >= self.times or method != self.method or not re.fullmatch(self.path, path):
            return False
        self.applied += 1
        return True

HOP_BY_HOP = {"host", "connection", "upgrade", "content-length", "transfer-encoding",
              "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}


class AriProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_tcp_port()
        self._clients: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.event_clients = asyncio.Event()
        self.faults: list[Fault] = []
        #: (method, path after /ari, fault kind or None) of every REST request, in order.
        self.requests: list[tuple[str, str, FaultKind | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def inject(self, text: str) -> int:
        """Send `text` to every connected event reader as if Asterisk had; returns how many."""
        for client in list(self._clients):
            await client.send_str(text)
        return len(self._clients)

    def fault(self, method: str, path: str, kind: FaultKind, times: int = 1,
              hold: float = 3.0) -> Fault:
        added = Fault(method, path, kind, times, hold)
        self.faults.append(added)
        return added

    def seen(self, method: str, path: str) -> list[FaultKind | None]:
        """How each request matching `method` and `path` (a regular expression) was treated."""
        return [kind for m, p, kind in self.requests if m == method and re.fullmatch(path, p)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        target = self.upstream + request.path_qs
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, target, headers)
        path = request.path.removeprefix("/ari")
        fault = next((f for f in self.faults if f.takes(request.method, path)), None)
        self.requests.append((request.method, path, fault.kind if fault else None))
        if fault is not None and fault.kind == "refused":
            return web.Response(status=500)
        if fault is not None and fault.kind == "lost":
            await asyncio.sleep(fault.hold)
            return web.Response(status=504)
        async with self._session.request(request.method, target, headers=headers,
                                         data=await request.read()) as reply:
            body = await reply.read()
            kept = {k: v for k, v in reply.headers.items() if k.lower() == "content-type"}
        if fault is not None:  # late: Asterisk did it; the answer comes after the client gave up
            await asyncio.sleep(fault.hold)
        return web.Response(status=reply.status, body=body, headers=kept)

    async def _websocket(self, request: web.Request, target: str,
                         headers: dict[str, str]) -> web.WebSocketResponse:
        assert self._session is not None
        down = web.WebSocketResponse()
        await down.prepare(request)
        async with self._session.ws_connect(target.replace("http://", "ws://"),
                                            headers=headers) as up:
            self._clients.add(down)
            self.event_clients.set()

            async def to_client() -> None:
                async for message in up:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        await down.send_str(message.data)
                await down.close()

            async def from_client() -> None:
                async for _ in down:
                    pass
                await up.close()

            try:
                await asyncio.gather(to_client(), from_client())
            except (ConnectionError, aiohttp.ClientError):
                pass
            finally:
                self._clients.discard(down)
        return down

    async def aclose(self) -> None:
        for client in list(self._clients):
            with suppress(Exception):
                await client.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
