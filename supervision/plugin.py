"""Installs supervision (督办) into an application: the scan API and, when scheduled, the
periodic scanner that one node per round runs (a Redis lease)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from kernel.background import background
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

    app.cleanup_ctx.append(background(
        "supervision-scanner", lambda: deps.job.run_forever(schedule.interval_seconds, schedule.lease)))
