"""Supervisor HTTP API of the supervision scanner (督办扫描).

    POST /api/supervision/scan     run one scan now; answers what it flagged

The scan also runs on its own every `supervision.interval_seconds`; this is for a supervisor
who has just changed something (or a test) and does not want to wait. Flags themselves are
events on the tickets (`GET /api/tickets/{no}`).
"""

from __future__ import annotations

from aiohttp import web

from kernel import auth
from kernel.openapi import Operation
from kernel.roles import Role
from supervision.job import SupervisionJob

SUPERVISION_JOB = web.AppKey("supervision_job", SupervisionJob)
#: Who may run a scan now: supervisors, and automated jobs.
SCANNERS = frozenset({Role.SUPERVISOR, Role.SYSTEM})

routes = web.RouteTableDef()


@routes.post("/api/supervision/scan")
async def scan_now(request: web.Request) -> web.Response:
    auth.require(request, SCANNERS)
    report = await request.app[SUPERVISION_JOB].run_once()
    return web.json_response(report.as_json())


def operations() -> list[Operation]:
    return [Operation("post", "/api/supervision/scan", "Run the supervision scanner now", SCANNERS)]
