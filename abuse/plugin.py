"""Installs the anti-abuse screen's supervisor API into an application."""

from __future__ import annotations

from aiohttp import web

from abuse import api
from abuse.limiter import AbuseScreen
from kernel.audit import AccessAudit, install_audit
from kernel.openapi import contribute


def install(app: web.Application, screen: AbuseScreen, audit: AccessAudit) -> None:
    """The routes, with the app's one audit writer: reading a caller's history is audited."""
    install_audit(app, audit)
    app[api.ABUSE_SCREEN] = screen
    app.add_routes(api.routes)
    contribute(app, api.operations())
