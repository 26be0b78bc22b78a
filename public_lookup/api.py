"""HTTP API of the caller's right to know.

    POST /api/public/progress              anyone: ticket number + caller's number or lookup
                                           code -> status, handling unit, result (zh-CN errors)
    POST /api/tickets/{no}/lookup-code     hotline staff: issue the ticket's lookup code, to be
                                           told to the caller (shown in this answer only)
    GET  /progress                         the public lookup page (zh-CN), no sign-in
    GET  /guide                            the hotline's channels and process (zh-CN), public
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from pydantic import Field, model_validator

from kernel import auth
from kernel.access_policy import Read, decide
from kernel.audit import client_address, reader_of
from kernel.errors import NotFound
from kernel.http_edge import RequestBody, read_body
from kernel.openapi import ANYONE, Operation
from kernel.roles import HOTLINE_STAFF
from public_lookup.codes import LookupCodes
from public_lookup.service import ProgressLookup, Proof
from tickets.api import subject_of
from tickets.store import TicketStore

PROGRESS_LOOKUP = web.AppKey("progress_lookup", ProgressLookup)
LOOKUP_CODES = web.AppKey("lookup_codes", LookupCodes)
TICKETS = web.AppKey("public_lookup_tickets", TicketStore)
PAGE = Path(__file__).resolve().parent / "static" / "progress.html"
STATIC_DIR = Path(__file__).resolve().parent / "static"

routes = web.RouteTableDef()


class ProgressQuery(RequestBody):
    ticket_no: str = Field(min_length=1, max_length=32)
    caller_number: str | None = Field(default=None, max_length=32)
    code: str | None = Field(default=None, pattern=r"^[0-9]{4,12}$")

    @model_validator(mode="after")
    def one_proof(self) -> ProgressQuery:
        if not self.caller_number and not self.code:
            raise ValueError("请填写来电号码或查询码")
        return self


@routes.post("/api/public/progress")
async def look_up(request: web.Request) -> web.Response:
    body = await read_body(request, ProgressQuery)
    progress = await request.app[PROGRESS_LOOKUP].lookup(
        body.ticket_no, Proof(caller_number=body.caller_number, code=body.code),
        client_address(request) or "unknown")
    return web.json_response({"progress": progress.as_json()}, headers={"Cache-Control": "no-store"})


@routes.post("/api/tickets/{no}/lookup-code")
async def issue_code(request: web.Request) -> web.Response:
    principal = auth.require(request, HOTLINE_STAFF)
    no = request.match_info["no"]
    store = request.app[TICKETS]
    ticket, events = await store.get_with_events(no)
    subject = subject_of(ticket, events, answered_by=await store.call_agents(ticket.call_ids))
    if not decide(reader_of(principal), Read.TICKET, subject).allowed:
        raise NotFound("no such ticket", ticket_no=no)  # an agent learns nothing of others' tickets
    code, expires_at = await request.app[LOOKUP_CODES].issue(no, by=principal.user)
    return web.json_response({"ticket_no": no, "code": code, "expires_at": expires_at.isoformat()},
                             status=201, headers={"Cache-Control": "no-store"})


async def page(_: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})


async def guide(_: web.Request) -> web.FileResponse:
    """The hotline's channels and process (临沂条例第二十二条第一项), public."""
    return web.FileResponse(STATIC_DIR / "guide.html")


def operations() -> list[Operation]:
    return [
        Operation("post", "/api/public/progress", "The public progress lookup: a ticket's status, "
                  "handling unit and result, for its number plus the caller's number or lookup code; "
                  "attempts are limited per ticket and per client", ANYONE, ProgressQuery),
        Operation("post", "/api/tickets/{no}/lookup-code", "Issue the ticket's lookup code (查询码) to "
                  "tell the caller; the old one stops working", HOTLINE_STAFF, success=201,
                  note="an agent: the tickets they took part in"),
        Operation("get", "/progress", "The public progress lookup page (zh-CN), no sign-in", ANYONE,
                  content_type="text/html"),
        Operation("get", "/guide", "The hotline's channels and process (服务指南, zh-CN), no sign-in", ANYONE,
                  content_type="text/html"),
        Operation("get", "/public/{filename}", "The public pages' script and style", ANYONE,
                  content_type="application/javascript"),
    ]
