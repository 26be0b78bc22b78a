"""Installs the calls-and-recordings capability: the calls API, the recordings, the access
audit's reader and the recordings page (zh-CN, `kernel.pages`). The composition root and tests use it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kernel.audit import AccessAudit, install_audit
from kernel.openapi import ANYONE, Operation, contribute
from kernel.pages import install_page, page
from kernel.sealed_files import DataKeys
from recordings import api, audit_api, export_api
from recordings.api import LIST_CALLS
from recordings.citizen_export import CitizenExports
from recordings.store import CallStore

STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class RecordingsDeps:
    calls: CallStore
    #: The app's one audit writer (shared with the other capabilities that audit reads).
    audit: AccessAudit
    #: The keys that open sealed recordings.
    keys: DataKeys


#: Calls, recordings and transcripts: everyone who may list calls (each hears only what
#: `kernel.access_policy` lets them); supervisors hear every call.
RECORDINGS_PAGE = page("/recordings", "录音查询", LIST_CALLS, rank=40)


async def recordings_script(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "recordings.js", headers={"Content-Type": "text/javascript"})


def install(app: web.Application, deps: RecordingsDeps) -> None:
    app[api.CALL_STORE] = deps.calls
    app[api.DATA_KEYS] = deps.keys
    app[export_api.CITIZEN_EXPORTS] = CitizenExports(deps.calls.engine)
    install_audit(app, deps.audit)
    app.add_routes(api.routes)
    app.add_routes(audit_api.routes)
    app.add_routes(export_api.routes)
    install_page(app, RECORDINGS_PAGE, STATIC_DIR / "recordings.html")
    app.router.add_get("/recordings/recordings.js", recordings_script)
    contribute(app, [*api.operations(), *audit_api.operations(), *export_api.operations(),
                     Operation("get", "/recordings/recordings.js", "The recordings page's script", ANYONE,
                               content_type="text/javascript")])
