"""Installs the caller's right to know: the public progress lookup (API and page, no sign-in,
with the security headers every response gets: `kernel.security_headers`) and the staff route
that issues a ticket's lookup code."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from kernel.openapi import contribute
from public_lookup import api
from public_lookup.codes import LookupCodes
from public_lookup.service import ProgressLookup
from tickets.store import TicketStore


@dataclass(frozen=True)
class LookupDeps:
    lookup: ProgressLookup
    codes: LookupCodes
    tickets: TicketStore


def install(app: web.Application, deps: LookupDeps) -> None:
    app[api.PROGRESS_LOOKUP] = deps.lookup
    app[api.LOOKUP_CODES] = deps.codes
    app[api.TICKETS] = deps.tickets
    app.add_routes(api.routes)
    app.router.add_get("/progress", api.page)
    app.router.add_get("/guide", api.guide)
    app.router.add_static("/public/", api.STATIC_DIR, name="public-static")
    contribute(app, api.operations())
