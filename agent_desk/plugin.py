"""Installs the agent desk into an application: the page and its live feed websocket."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from agent_desk import live_feed
from kernel.openapi import contribute


@dataclass(frozen=True)
class DeskDeps:
    #: A client without a socket read timeout: subscriptions wait for messages indefinitely.
    redis: aioredis.Redis
    key_prefix: str


def install(app: web.Application, deps: DeskDeps) -> None:
    app[live_feed.LIVE_REDIS] = deps.redis
    app[live_feed.LIVE_PREFIX] = deps.key_prefix
    app.add_routes(live_feed.routes)
    contribute(app, live_feed.operations())
