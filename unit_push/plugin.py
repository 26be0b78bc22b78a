"""Installs the data push to units: the feed and webhook API and, when a worker is given, the
push worker that one node at a time runs (a Redis lease), with its HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from kernel.errors import NotFound
from kernel.leader_lease import LeaderLease
from kernel.metrics import METRICS
from kernel.openapi import contribute
from unit_push import api
from unit_push.delivery import Backoff, PushWorker
from unit_push.router import FeedRouter
from unit_push.store import PushStore

#: How long a stopping node waits for the push in flight before cutting it short.
STOP_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class Worker:
    router: FeedRouter
    lease: LeaderLease
    backoff: Backoff
    poll_seconds: float
    timeout_seconds: float


@dataclass(frozen=True)
class PushDeps:
    store: PushStore
    unit_codes: Collection[str]
    #: None: the API only (the feed is filled by another node's worker, or not at all).
    worker: Worker | None = None
    #: (unit, url, secret) set by the operators in the settings, written at start-up.
    configured: Sequence[tuple[str, str, str]] = ()


def _configured(store: PushStore, webhooks: Sequence[tuple[str, str, str]]
                ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def write(_: web.Application) -> AsyncIterator[None]:
        for unit, url, secret in webhooks:
            with suppress(NotFound):
                now = await store.webhook(unit)
                if now.active and (now.url, now.secret) == (url, secret):
                    continue
            await store.set_webhook(unit, url, secret, by="config")
        yield

    return write


def install(app: web.Application, deps: PushDeps) -> None:
    app[api.PUSH_STORE] = deps.store
    app[api.UNIT_CODES] = frozenset(deps.unit_codes)
    app.add_routes(api.routes)
    contribute(app, api.operations())
    if deps.configured:
        app.cleanup_ctx.append(_configured(deps.store, deps.configured))
    worker = deps.worker
    if worker is None:
        return

    async def pushing(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            push = PushWorker(worker.router, deps.store, session, backoff=worker.backoff,
                              poll_seconds=worker.poll_seconds, timeout_seconds=worker.timeout_seconds,
                              metrics=app[METRICS])
            task = asyncio.create_task(push.run(worker.lease.hold), name="unit-push")
            yield
            push.stop()
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
            except TimeoutError:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await worker.lease.release()

    app.cleanup_ctx.append(pushing)
