"""Installs the ticket capability into an application: workflow API, evidence, statistics.

Used by the composition root and by tests alike, so a test app is the real app's ticket part.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from aiohttp import web

from kernel.audit import AccessAudit, install_audit
from kernel.idempotency import IdempotencyStore
from kernel.openapi import contribute
from kernel.request_rate import RequestRate
from tickets import api, callbacks_api, evidence_api, relay_api, stats_api, units_api
from tickets.callbacks import CallbackService
from tickets.deadlines import WorkingCalendar
from tickets.disclosure import MonthlyDisclosure
from tickets.dispatch import DispatchCatalogue
from tickets.evidence_store import EvidenceStore
from tickets.relay import RelayService
from tickets.store import TicketStore
from tickets.unit_directory import UnitContact, UnitDirectoryStore


@dataclass(frozen=True)
class TicketDeps:
    store: TicketStore
    catalogue: DispatchCatalogue
    calendar: WorkingCalendar
    evidence: EvidenceStore
    #: Reads of callers' histories and of confidential callers' numbers are written here.
    audit: AccessAudit
    #: The unit directory (三方连线 numbers); seeded from config at start-up when given.
    units: UnitDirectoryStore | None = None
    seed_units: Mapping[str, UnitContact] | None = None
    #: Callback tasks (回访 / 回电) and the callback agents' list.
    callbacks: CallbackService | None = None
    #: The confidential relay's codes (保密联络) and the number units phone.
    relay: RelayService | None = None
    relay_number: str = "12346"
    #: `Idempotency-Key`s of registrations and commands; None: kept in the store's database
    #: for `kernel.idempotency`'s default time.
    idempotency: IdempotencyStore | None = None
    #: Requests per client to the public disclosure; None: unlimited.
    public_limit: RequestRate | None = None


def install(app: web.Application, deps: TicketDeps) -> None:
    app[api.TICKET_STORE] = deps.store
    app[api.DISPATCH_CATALOGUE] = deps.catalogue
    app[api.WORKING_CALENDAR] = deps.calendar
    app[evidence_api.EVIDENCE_STORE] = deps.evidence
    app[api.IDEMPOTENCY] = deps.idempotency or IdempotencyStore(deps.store.engine, clock=deps.store.now)
    install_audit(app, deps.audit)
    app[stats_api.DISCLOSURE] = MonthlyDisclosure(
        deps.store, {code: unit.name for code, unit in deps.catalogue.units.items()})
    if deps.public_limit is not None:
        app[stats_api.PUBLIC_LIMIT] = deps.public_limit
    app.add_routes(api.routes)
    app.add_routes(evidence_api.routes)
    app.add_routes(stats_api.routes)
    contribute(app, [*api.operations(), *evidence_api.operations(), *stats_api.operations()])
    if deps.callbacks is not None:
        app[callbacks_api.CALLBACKS] = deps.callbacks
        app.add_routes(callbacks_api.routes)
        contribute(app, callbacks_api.operations())
    if deps.relay is not None:
        app[relay_api.RELAY] = deps.relay
        app[relay_api.RELAY_NUMBER] = deps.relay_number
        app.add_routes(relay_api.routes)
        contribute(app, relay_api.operations())
    if deps.units is not None:
        units, seed = deps.units, deps.seed_units
        app[units_api.UNIT_DIRECTORY] = units
        app.add_routes(units_api.routes)
        contribute(app, units_api.operations())
        if seed:
            async def seed_directory(_: web.Application) -> AsyncIterator[None]:
                await units.seed(seed)  # adds only units not in the database yet
                yield

            app.cleanup_ctx.append(seed_directory)
