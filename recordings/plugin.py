"""Installs the calls-and-recordings capability: the calls API, the recordings, the access
audit's reader and the supervisor's recordings page (zh-CN). The composition root and tests use it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kernel.audit import AccessAudit, install_audit
from kernel.openapi import ANYONE, Operation, contribute
from recordings import api, audit_api
from recordings.store import CallStore

STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class RecordingsDeps:
    calls: CallStore
    #: The app's one audit writer (shared with the other capabilities that audit reads).
    audit: AccessAudit


async def recordings_page(_: web.Request) -> web.FileResponse:
    """The page holds no data; it signs in with the token in the URL fragment."""
    return web.FileResponse(STATIC_DIR / "recordings.html", headers={"Cache-Control": "no-store"})


async def recordings_script(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "recordings.js", headers={"Content-Type": "text/javascript"})


def install(app: web.Application, deps: RecordingsDeps) -> None:
    app[api.CALL_STORE] = deps.calls
    install_audit(app, deps.audit)
    app.add_routes(api.routes)
    app.add_routes(audit_api.routes)
    app.router.add_get("/recordings", recordings_page)
    app.router.add_get("/recordings/recordings.js", recordings_script)
    contribute(app, [*api.operations(), *audit_api.operations(),
                     Operation("get", "/recordings", "The supervisor's recordings page (zh-CN)", ANYONE,
                               content_type="text/html"),
                     Operation("get", "/recordings/recordings.js", "The recordings page's script", ANYONE,
                               content_type="text/javascript")])
