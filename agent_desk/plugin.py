"""Installs the agent desk into an application: the page, its static files, the agent's desk
websocket (`/ws/desk`, with the hub that fans events out) and the live transcript feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from agent_desk import desk, live_feed
from agent_desk.hub import DeskHub
from agent_desk.ports import DeskBackend
from kernel.openapi import ANYONE, Operation, contribute


@dataclass(frozen=True)
class DeskDeps:
    #: A client without a socket read timeout: subscriptions wait for messages indefinitely.
    redis: aioredis.Redis
    key_prefix: str
    #: The agents' desk (`/ws/desk`); None serves only the page and the live feed.
    backend: DeskBackend | None = None
    #: How long an agent whose last desk closed stays signed in (a reload, a network blip).
    close_grace_seconds: float = desk.CLOSE_GRACE_SECONDS


def install(app: web.Application, deps: DeskDeps) -> None:
    app[live_feed.LIVE_REDIS] = deps.redis
    app[live_feed.LIVE_PREFIX] = deps.key_prefix
    app.add_routes(live_feed.routes)
    app.router.add_static("/static/", live_feed.STATIC_DIR, name="desk-static")
    contribute(app, [*live_feed.operations(), Operation(
        "get", "/static/{filename}", "The desk's scripts and vendored libraries", ANYONE,
        content_type="application/javascript")])
    if deps.backend is None:
        return
    hub = DeskHub(deps.redis, deps.key_prefix)
    app[desk.DESK_BACKEND] = deps.backend
    app[desk.DESK_HUB] = hub
    app[desk.DESK_CLOSE_GRACE] = deps.close_grace_seconds
    app.add_routes(desk.routes)
    contribute(app, desk.operations())

    async def run_hub(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(hub.run(), name="desk-hub")
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(run_hub)
