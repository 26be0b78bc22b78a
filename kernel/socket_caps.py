"""How many websockets one person, and everyone together, may hold open on a node.

Every staff websocket (`/ws/desk`, `/ws/live`, `/ws/wallboard`, `/ws/workbench/*`) holds a
task, buffers and, for the live feed, a Redis connection of its own for as long as it is open.
One signed-in token could open thousands and starve the node that also drives calls (issue 25).
The cap is checked in one middleware (`socket_caps_middleware`) for every websocket upgrade a
signed-in principal makes, so a websocket added later is capped without remembering to; a
refused socket is accepted and closed at once with a close code the page can show
(`OVER_PERSONAL_CAP` 4429, `OVER_NODE_CAP` 1013 "try again later") rather than a bare HTTP
error the browser's `WebSocket` hides from scripts.

The counts are per node: what they protect (tasks, memory, connections) is the node's own.
A request whose credential is missing or refused is passed on uncounted: its handler refuses it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from kernel import auth
from kernel.errors import HotlineError

#: A person has more websockets open on this node than `per_person` (a private close code).
OVER_PERSONAL_CAP = 4429
#: The node holds `total` websockets already (RFC 6455 "Try Again Later").
OVER_NODE_CAP = 1013


@dataclass(frozen=True)
class Refusal:
    code: int
    reason: str


class SocketCaps:
    """Counts of open websockets by person; `admit` before serving, `release` after."""

    def __init__(self, per_person: int = 10, total: int = 1000) -> None:
        self.per_person = per_person
        self.total = total
        self._open: Counter[str] = Counter()

    @property
    def open(self) -> int:
        return self._open.total()

    def admit(self, person: str) -> Refusal | None:
        """Count one more socket for `person`, or say why not (nothing is counted then)."""
        if self._open[person] >= self.per_person:
            return Refusal(OVER_PERSONAL_CAP, "同时打开的页面连接过多，请关闭其他页面后重试")
        if self.open >= self.total:
            return Refusal(OVER_NODE_CAP, "服务器连接已满，请稍后重试")
        self._open[person] += 1
        return None

    def release(self, person: str) -> None:
        self._open[person] -= 1
        if self._open[person] <= 0:
            del self._open[person]


SOCKET_CAPS = web.AppKey("socket_caps", SocketCaps)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def socket_caps_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    caps = request.app.get(SOCKET_CAPS)
    if caps is None or not auth.is_websocket_upgrade(request):
        return await handler(request)
    try:
        person = auth.principal_of(request).user
    except HotlineError:
        return await handler(request)  # the handler refuses it, as JSON, before any upgrade
    refusal = caps.admit(person)
    if refusal is not None:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close(code=refusal.code, message=refusal.reason.encode())
        return ws
    try:
        return await handler(request)
    finally:
        caps.release(person)
