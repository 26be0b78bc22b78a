"""Installs the agent desk into an application: its pages (`kernel.pages`: the desk, the live
transcripts, the supervisor's live calls), their static files, the agent's desk websocket
(`/ws/desk`, with the hub that fans events out), the live transcript feed and the wallboard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from agent_desk import desk, hotline_month_api, live_feed, supervisor, wallboard_feed
from agent_desk.hub import DeskHub
from agent_desk.ports import DeskBackend, SupervisorBackend, WallboardSource
from kernel import metrics
from kernel.audit import AccessAudit, install_audit
from kernel.openapi import ANYONE, Operation, contribute
from kernel.pages import install_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeskDeps:
    #: A client without a socket read timeout: subscriptions wait for messages indefinitely.
    redis: aioredis.Redis
    key_prefix: str
    #: The agents' desk (`/ws/desk`); None serves only the page and the live feed.
    backend: DeskBackend | None = None
    #: How long an agent whose last desk closed stays signed in (a reload, a network blip).
    close_grace_seconds: float = desk.CLOSE_GRACE_SECONDS
    #: The supervisor's live calls (`/supervisor`, `/api/live/...`); None serves none.
    supervisor: SupervisorBackend | None = None
    #: Where live listening and the live feed are audited (required with `supervisor`; without
    #: it the live feed forwards no call's words).
    audit: AccessAudit | None = None
    #: Seeds the wallboard (`/ws/wallboard`, `/metrics`); None serves no wallboard.
    wallboard: WallboardSource | None = None


def install(app: web.Application, deps: DeskDeps) -> None:
    if deps.audit is not None:
        install_audit(app, deps.audit)
    app[live_feed.LIVE_REDIS] = deps.redis
    app[live_feed.LIVE_PREFIX] = deps.key_prefix
    app.add_routes(live_feed.routes)
    install_page(app, live_feed.LIVE_PAGE, live_feed.STATIC_DIR / "live.html")
    app.router.add_static("/static/", live_feed.STATIC_DIR, name="desk-static")
    contribute(app, [*live_feed.operations(), Operation(
        "get", "/static/{filename}", "The desk's scripts and vendored libraries", ANYONE,
        content_type="application/javascript")])
    if deps.supervisor is not None:
        if deps.audit is None:
            raise ValueError("live listening needs the access audit")
        app[supervisor.SUPERVISOR_BACKEND] = deps.supervisor
        app.add_routes(supervisor.routes)
        install_page(app, supervisor.SUPERVISOR_PAGE, live_feed.STATIC_DIR / "supervisor.html")
        contribute(app, supervisor.operations())
    if deps.wallboard is not None:
        _install_wallboard(app, wallboard_feed.WallboardService(deps.redis, deps.key_prefix, deps.wallboard))
    if deps.backend is None:
        return
    hub = DeskHub(deps.redis, deps.key_prefix)
    app[desk.DESK_BACKEND] = deps.backend
    app[desk.DESK_HUB] = hub
    app[desk.DESK_CLOSE_GRACE] = deps.close_grace_seconds
    app.add_routes(desk.routes)
    install_page(app, desk.DESK_PAGE, live_feed.STATIC_DIR / "desk.html")
    contribute(app, desk.operations())

    async def run_hub(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(hub.run(), name="desk-hub")
        yield
        await stop_listener(task)

    app.cleanup_ctx.append(run_hub)


async def stop_listener(task: asyncio.Task[None], grace: float = 2.0) -> None:
    """Cancel a Redis subscriber and wait for it, but not forever: the Redis client can hold a
    cancellation back while it reads; closing the client (after this) ends that read."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("a subscriber did not stop in time; its client is closed next",
                    extra={"task": task.get_name()})


def _install_wallboard(app: web.Application, service: wallboard_feed.WallboardService) -> None:
    app[wallboard_feed.WALLBOARD] = service
    app.add_routes(wallboard_feed.routes)
    app.add_routes(hotline_month_api.routes)
    contribute(app, [*wallboard_feed.operations(), *hotline_month_api.operations()])
    metrics.serve(app).add_text(wallboard_feed.wallboard_exposition(service))

    async def run_board(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(service.run(), name="wallboard")
        yield
        await stop_listener(task)

    app.cleanup_ctx.append(run_board)
