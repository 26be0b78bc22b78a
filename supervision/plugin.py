"""Installs supervision (督办) into an application: the scan API and, when scheduled, the
periodic scanner that one node per round runs (a Redis lease)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass

from aiohttp import web

from kernel.leader_lease import LeaderLease
from kernel.openapi import contribute
from supervision import api
from supervision.job import SupervisionJob


@dataclass(frozen=True)
class Schedule:
    interval_seconds: float
    lease: LeaderLease


@dataclass(frozen=True)
class SupervisionDeps:
    job: SupervisionJob
    #: None: scans run only when asked (`POST /api/supervision/scan`).
    schedule: Schedule | None = None


def install(app: web.Application, deps: SupervisionDeps) -> None:
    app[api.SUPERVISION_JOB] = deps.job
    app.add_routes(api.routes)
    contribute(app, api.operations())
    schedule = deps.schedule
    if schedule is None:
        return

    async def scanner(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(
            deps.job.run_forever(schedule.interval_seconds, schedule.lease),
            name="supervision-scanner")
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(scanner)
