"""Installs the anti-abuse screen's supervisor API into an application."""

from __future__ import annotations

from aiohttp import web

from abuse import api
from abuse.limiter import AbuseScreen
from kernel.audit import AccessAudit, install_audit
from kernel.openapi import contribute


def install(app: web.Application, screen: AbuseScreen, audit: AccessAudit,
            confidential: api.ConfidentialCaller | None = None) -> None:
    """The routes, with the app's one audit writer: reading a caller's history is audited.
    `confidential` says whether a number is a confidential caller's (the tickets know; the
    composition root joins them), so that the audit keeps it masked; None: no caller is."""
    install_audit(app, audit)
    app[api.ABUSE_SCREEN] = screen
    if confidential is not None:
        app[api.CONFIDENTIAL_CALLER] = confidential
    app.add_routes(api.routes)
    contribute(app, api.operations())
