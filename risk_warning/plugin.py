"""Installs the live risk warning: the list API and, when a detector is given, its loop, which
one node at a time runs (a Redis lease) every `poll_seconds`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kernel.background import background
from kernel.leader_lease import LeaderLease
from kernel.openapi import ANYONE, Operation, contribute
from kernel.pages import install_page, page
from risk_warning import api
from risk_warning.detector import RiskDetector
from risk_warning.store import RiskWarnings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The warnings list, for those the API serves (a unit: the warnings that concern it).
RISK_PAGE = page("/risk", "风险预警", api.READERS, rank=60)


async def serve_script(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "risk.js", headers={"Content-Type": "application/javascript"})


@dataclass(frozen=True)
class Detection:
    detector: RiskDetector
    lease: LeaderLease
    poll_seconds: float


@dataclass(frozen=True)
class RiskDeps:
    warnings: RiskWarnings
    detection: Detection | None = None


async def run_detector(detection: Detection) -> None:
    """Until cancelled: while this node holds the lease, read the log up to its end."""
    while True:
        try:
            if await detection.lease.hold():
                while await detection.detector.detect_once():
                    pass
        except Exception:  # the database or Redis away: the next round tries again
            log.exception("risk detection round failed")
        await asyncio.sleep(detection.poll_seconds)


def install(app: web.Application, deps: RiskDeps) -> None:
    app[api.RISK_WARNINGS] = deps.warnings
    app.add_routes(api.routes)
    install_page(app, RISK_PAGE, STATIC_DIR / "risk.html")
    app.router.add_get("/risk-warning/risk.js", serve_script)
    contribute(app, [*api.operations(), Operation(
        "get", "/risk-warning/risk.js", "The risk warnings page's script", ANYONE,
        content_type="application/javascript")])
    detection = deps.detection
    if detection is None:
        return

    app.cleanup_ctx.append(background("risk-detector", lambda: run_detector(detection), detection.lease.release))
