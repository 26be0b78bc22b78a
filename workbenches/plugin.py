"""Installs the workbench pages (派单 `/dispatch`, 承办单位 `/unit`, 回访 `/callbacks`, 督办
`/oversight`, 审计 `/audit`, 知识库 `/knowledge`), their
shared script and style (`/workbench/...`), their API and the unit's push socket. The
composition root and tests use it; the pages and their gates are declared here once, with the
same role sets the API checks (`workbenches.api`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web

from kernel.access_policy import Read, roles_for
from kernel.audit import AccessAudit, install_audit
from kernel.openapi import ANYONE, Operation, contribute
from kernel.pages import install_page, page
from kernel.roles import Role
from knowledge.api import WRITERS as KNOWLEDGE_EDITORS
from tickets.callbacks import CallbackService
from tickets.deadlines import WorkingCalendar
from tickets.dispatch import DispatchCatalogue
from tickets.store import TicketStore
from workbenches import api, board_api, callback_calls, feed
from workbenches.callback_calls import CallbackPhone
from workbenches.queues import WorkbenchQueries

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The pages apart from the scripts: a page is served only through its gate (`kernel.pages`).
PAGES_DIR = Path(__file__).resolve().parent / "pages"

DISPATCH_PAGE = page("/dispatch", "派单", api.DISPATCH_DESK, home_of=[Role.DISPATCHER], rank=20)
UNIT_PAGE = page("/unit", "承办工作台", api.UNIT_DESK, home_of=[Role.UNIT], rank=20)
CALLBACK_PAGE = page("/callbacks", "回访", api.CALLBACK_DESK, home_of=[Role.CALLBACK_AGENT], rank=25)
#: The supervisor's 督办 board, restrictions and statistics, beside the live calls (`/supervisor`).
OVERSIGHT_PAGE = page("/oversight", "督办", board_api.OVERSIGHT, rank=22)
#: The access audit (`GET /api/audit`): auditors, and supervisors who read it too.
AUDIT_PAGE = page("/audit", "审计", roles_for(Read.AUDIT), home_of=[Role.AUDITOR], rank=80)
#: The knowledge base's articles of every status (`/api/kb/...`): its admins, and units for their own.
KNOWLEDGE_PAGE = page("/knowledge", "知识库", KNOWLEDGE_EDITORS, home_of=[Role.KB_ADMIN], rank=60)
PAGES = ((DISPATCH_PAGE, "dispatch.html"), (UNIT_PAGE, "unit.html"), (CALLBACK_PAGE, "callbacks.html"),
         (OVERSIGHT_PAGE, "oversight.html"), (AUDIT_PAGE, "audit.html"), (KNOWLEDGE_PAGE, "knowledge.html"))


@dataclass(frozen=True)
class WorkbenchDeps:
    queries: WorkbenchQueries
    tickets: TicketStore
    catalogue: DispatchCatalogue
    calendar: WorkingCalendar
    callbacks: CallbackService
    #: A client without a socket read timeout: the unit's push waits on a subscription.
    feed_redis: aioredis.Redis
    key_prefix: str
    #: The app's one audit writer: a dispatcher's transcript reads are written there.
    audit: AccessAudit
    #: The callback page's softphone and survey calls (telephony); None: the page cannot call.
    phone: CallbackPhone | None = None


def install(app: web.Application, deps: WorkbenchDeps) -> None:
    install_audit(app, deps.audit)
    app[api.QUERIES] = deps.queries
    app[api.TICKETS] = deps.tickets
    app[api.CATALOGUE] = deps.catalogue
    app[api.TITLES] = api.Titles.of(deps.catalogue)
    app[api.CALENDAR] = deps.calendar
    app[api.CALLBACKS] = deps.callbacks
    app[feed.FEED_REDIS] = deps.feed_redis
    app[feed.FEED_PREFIX] = deps.key_prefix
    if deps.phone is not None:
        app[callback_calls.CALLBACK_PHONE] = deps.phone
    app.add_routes(api.routes)
    app.add_routes(callback_calls.routes)
    app.add_routes(board_api.routes)
    app.add_routes(feed.routes)
    for staff_page, html in PAGES:
        install_page(app, staff_page, PAGES_DIR / html)
    app.router.add_static("/workbench/", STATIC_DIR, name="workbench-static")
    contribute(app, [*api.operations(), *callback_calls.operations(), *board_api.operations(),
                     *feed.operations(), Operation(
        "get", "/workbench/{filename}", "The workbench pages' scripts and style", ANYONE,
        content_type="application/javascript")])
