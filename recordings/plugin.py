"""Installs the calls-and-recordings capability: the calls API, the recordings, the access
audit's reader. The composition root and tests use it."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from kernel.audit import AccessAudit, install_audit
from kernel.openapi import contribute
from recordings import api, audit_api
from recordings.store import CallStore


@dataclass(frozen=True)
class RecordingsDeps:
    calls: CallStore
    #: The app's one audit writer (shared with the other capabilities that audit reads).
    audit: AccessAudit


def install(app: web.Application, deps: RecordingsDeps) -> None:
    app[api.CALL_STORE] = deps.calls
    install_audit(app, deps.audit)
    app.add_routes(api.routes)
    app.add_routes(audit_api.routes)
    contribute(app, [*api.operations(), *audit_api.operations()])
