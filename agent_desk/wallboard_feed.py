"""The wallboard pushed over a websocket (`/ws/wallboard`), and the same figures at `/metrics`
(a text source of the app's metrics, `kernel.metrics`).

One subscription per process to the event bus (agents' states and the queue from the ACD,
finished calls from the call path, transcript lines from live transcription) feeds the pure
fold (`wallboard.py`); the board is seeded once, after subscribing, from the ACD and the
database (`WallboardSource`), so no event between the two is lost and none counts twice (the
fold is idempotent per call). Every change is pushed to the connected boards at once; nothing
polls. A board that connects gets the current figures first.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from agent_desk.hub import DeskOutbox
from agent_desk.ports import WallboardSource
from agent_desk.wallboard import AnsweredCall, FinishedCall, Wallboard, day_start, local_day, prometheus_text
from kernel import auth
from kernel.clock import utc_now
from kernel.openapi import Operation
from kernel.roles import Role

log = logging.getLogger(__name__)

#: Bus topics the board folds: the ACD's (`agents`), finished calls (`calls`), transcript (`asr`).
TOPICS = ("agents", "calls", "asr")


class WallboardService:
    def __init__(self, redis: aioredis.Redis, key_prefix: str, source: WallboardSource, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self.source = source
        self._clock = clock
        self.board = Wallboard(local_day(clock()))
        self.ready = asyncio.Event()
        self._boards: set[DeskOutbox] = set()
        self._changed = asyncio.Event()

    def figures(self) -> dict[str, Any]:
        now = self._clock()
        self.board.roll(now)
        return self.board.figures(now)

    def attach(self, outbox: DeskOutbox) -> None:
        self._boards.add(outbox)

    def detach(self, outbox: DeskOutbox) -> None:
        self._boards.discard(outbox)

    async def run(self) -> None:
        """Subscribe, seed, then fold and push until cancelled; resubscribes (and seeds again)
        after a Redis outage."""
        channels = [f"{self._prefix}events:{topic}" for topic in TOPICS]
        pusher = asyncio.create_task(self._push_changes(), name="wallboard-pusher")
        try:
            while True:
                pubsub = self._redis.pubsub()
                try:
                    await pubsub.subscribe(*channels)
                    await self._seed()
                    self.ready.set()
                    self._changed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._apply(message["data"])
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        # The Redis client turns a cancellation mid-command into an error.
                        raise asyncio.CancelledError from exc
                    log.warning("wallboard feed lost; retrying", extra={"error": str(exc)})
                    await asyncio.sleep(1.0)
                finally:
                    with suppress(Exception):
                        await pubsub.aclose()
        finally:
            pusher.cancel()
            with suppress(asyncio.CancelledError):
                await pusher

    async def _seed(self) -> None:
        now = self._clock()
        self.board.roll(now)
        since = day_start(self.board.day)
        for agent_id, status in (await self.source.agent_states()).items():
            self.board.agent_status(agent_id, status)
        self.board.queue(await self.source.waiting())
        for call in await self.source.finished_since(since):
            self.board.call_finished(call)
        for call_id in await self.source.transcribed_since(since):
            self.board.line_transcribed(call_id)

    async def _apply(self, data: bytes | str) -> None:
        try:
            event = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return
        if not isinstance(event, dict):
            return
        self.board.roll(self._clock())
        kind = event.get("type")
        try:
            if kind == "agent.status":
                self.board.agent_status(str(event["agent_id"]), str(event["status"]))
            elif kind == "queue.changed":
                if event.get("change") == "answered":
                    waited = event.get("waited_seconds")
                    self.board.call_answered(AnsweredCall(
                        str(event["call_id"]), self._clock(), float(waited) if waited is not None else None))
                self.board.queue(await self.source.waiting())
            elif kind == "call.recorded":
                self.board.call_finished(FinishedCall.from_event(event))
            elif kind == "asr.final" and event.get("call_id"):
                self.board.line_transcribed(str(event["call_id"]))
            else:
                return
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("wallboard event ignored", extra={"type": kind, "error": str(exc)})
            return
        self._changed.set()

    async def _push_changes(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            message = {"type": "wallboard", "figures": self.figures()}
            for outbox in list(self._boards):
                outbox.put_json(message)


WALLBOARD = web.AppKey("wallboard", WallboardService)
BOARD_ROLES = {Role.SUPERVISOR.value}
routes = web.RouteTableDef()


@routes.get("/ws/wallboard")
async def wallboard_socket(request: web.Request) -> web.WebSocketResponse:
    principal = auth.require(request, BOARD_ROLES)  # before the upgrade: a refusal is JSON
    service = request.app[WALLBOARD]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    outbox = DeskOutbox(principal.user)
    with suppress(TimeoutError):  # a Redis outage delays the board, never its first answer
        await asyncio.wait_for(service.ready.wait(), 5.0)
    outbox.put_json({"type": "wallboard", "figures": service.figures()})
    service.attach(outbox)
    writer = asyncio.create_task(outbox.run(ws.send_str), name=f"wallboard-writer-{principal.user}")
    try:
        async with auth.watched(request, ws):  # closed when the session or token ends
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
    finally:
        service.detach(outbox)
        writer.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await writer
    return ws


def wallboard_exposition(service: WallboardService) -> Callable[[], str]:
    """The wallboard's figures as a text source of the app's metrics (`GET /metrics`).

    Written by the pure module (`prometheus_text`), names and numbers exactly as before the
    metrics registry existed, so the dashboards built on them keep working."""
    return lambda: prometheus_text(service.figures())


def operations() -> list[Operation]:
    return [
        Operation("get", "/ws/wallboard", "The wallboard, pushed on every change (websocket)", BOARD_ROLES,
                  content_type="websocket"),
    ]
