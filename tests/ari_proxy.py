"""An ARI man-in-the-middle on 127.0.0.1: forwards REST calls and the event websocket to a real
Asterisk, and lets a test slip extra messages into the event stream (a malformed event from a
newer Asterisk, a bug) that the real Asterisk cannot be made to send."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import aiohttp
from aiohttp import web

from devtools.sandbox import free_tcp_port

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

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        target = self.upstream + request.path_qs
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, target, headers)
        async with self._session.request(request.method, target, headers=headers,
                                         data=await request.read()) as reply:
            body = await reply.read()
            kept = {k: v for k, v in reply.headers.items() if k.lower() == "content-type"}
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
