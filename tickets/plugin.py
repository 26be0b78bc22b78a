"""Installs the ticket capability into an application: workflow API, evidence, statistics.

Used by the composition root and by tests alike, so a test app is the real app's ticket part.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from kernel.audit import AccessAudit, install_audit
from kernel.openapi import contribute
from tickets import api, evidence_api, stats_api
from tickets.deadlines import WorkingCalendar
from tickets.dispatch import DispatchCatalogue
from tickets.evidence_store import EvidenceStore
from tickets.store import TicketStore


@dataclass(frozen=True)
class TicketDeps:
    store: TicketStore
    catalogue: DispatchCatalogue
    calendar: WorkingCalendar
    evidence: EvidenceStore
    #: Reads of callers' histories and of confidential callers' numbers are written here.
    audit: AccessAudit


def install(app: web.Application, deps: TicketDeps) -> None:
    app[api.TICKET_STORE] = deps.store
    app[api.DISPATCH_CATALOGUE] = deps.catalogue
    app[api.WORKING_CALENDAR] = deps.calendar
    app[evidence_api.EVIDENCE_STORE] = deps.evidence
    install_audit(app, deps.audit)
    app.add_routes(api.routes)
    app.add_routes(evidence_api.routes)
    app.add_routes(stats_api.routes)
    contribute(app, [*api.operations(), *evidence_api.operations(), *stats_api.operations()])
