"""HTTP API of the workbench pages: the lists the ticket API does not give, and the callback
agents' two answers. Every change of a ticket still goes through the ticket workflow
(`POST /api/tickets/{no}/commands/...`); these routes only read, except the callback answers,
which go through `tickets.callbacks.CallbackService` (the task and the ticket together).

    GET  /api/workbench/titles                          zh-CN names of statuses, types, events...
    GET  /api/workbench/dispatch-queue                  waiting for dispatch, longest wait first
    GET  /api/workbench/review-queue                    units' requests waiting for a review
    GET  /api/workbench/quality-queue                   complaints about hotline staff (班长/质检)
    GET  /api/workbench/tickets/{no}/deadline-preview   deadlines if dispatched now to ?unit=
    GET  /api/workbench/tickets/{no}/transcript         the first lines of the ticket's call (audited)
    GET  /api/workbench/unit-inbox                      the unit's open tickets, nearest deadline first
    GET  /api/workbench/unit-inbox.csv                  the same, as CSV
    POST /api/workbench/callbacks/{id}/answer           the citizen's answer, judged by the agent
    POST /api/workbench/callbacks/{id}/not-reached      try again later, or the final outcome

Lists carry no caller's number or name: the ticket page reads them through
`GET /api/tickets/{no}`, which applies the access rules and audits confidential reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from kernel import auth
from kernel.access_policy import Read, decide
from kernel.audit import AccessKind, audit_access, audit_read, reader_of
from kernel.errors import Conflict, InvalidInput
from kernel.http_edge import RequestBody, int_query, read_body
from kernel.openapi import SIGNED_IN, Operation, QueryType
from kernel.roles import REVIEWERS, Actor, Role
from kernel.schema import REVIEW_STATUSES
from knowledge.store import read_seed
from tickets.api import ticket_list_json, visible_ticket
from tickets.callbacks import CallbackService
from tickets.deadlines import WorkingCalendar
from tickets.dispatch import DispatchCatalogue, dispatch_deadlines, terms_for
from tickets.model import Satisfaction, Ticket, TicketStatus
from tickets.store import TicketStore
from tickets.workflow import QUALITY_TEAM
from workbenches.marks import csv_text, deadline_mark, waited_seconds
from workbenches.queues import WorkbenchQueries
from workbenches.titles import (
    MARK_TITLES,
    REQUEST_TITLES,
    SATISFACTION_TITLES,
    STATUS_TITLES,
    TYPE_TITLES,
    URGENCY_TITLES,
    titles,
)

QUERIES = web.AppKey("workbench_queries", WorkbenchQueries)
TICKETS = web.AppKey("workbench_tickets", TicketStore)
CATALOGUE = web.AppKey("workbench_catalogue", DispatchCatalogue)
CALENDAR = web.AppKey("workbench_calendar", WorkingCalendar)
CALLBACKS = web.AppKey("workbench_callbacks", CallbackService)

#: 派单员 and 班长: who dispatch and review units' requests (the workflow's gate for both).
DISPATCH_DESK: frozenset[Role] = REVIEWERS
#: A handling unit's staff: their own unit's tickets only.
UNIT_DESK: frozenset[Role] = frozenset({Role.UNIT})
#: 班长 (质检): the quality team that handles complaints about hotline staff (the workflow's gate).
QUALITY_DESK: frozenset[Role] = QUALITY_TEAM
#: 回访员 and 班长: who record a callback's answer on a ticket.
CALLBACK_DESK: frozenset[Role] = frozenset({Role.CALLBACK_AGENT, Role.SUPERVISOR})

#: Why a citizen was not reached (zh-CN), the task's `result` code.
NOT_REACHED: dict[str, str] = {"no_answer": "无人接听", "busy": "占线", "switched_off": "关机/停机",
                               "wrong_number": "号码错误", "declined": "拒绝回访"}

routes = web.RouteTableDef()


def actor_of(request: web.Request, roles: frozenset[Role]) -> Actor:
    principal = auth.require(request, {r.value for r in roles})
    return Actor(principal.user, Role(principal.role), principal.unit)


def list_entry(ticket: Ticket, actor: Actor, now: datetime) -> dict[str, Any]:
    """A list entry: the ticket API's list shape without the caller's identity, plus the zh-CN
    names and the marks the pages show."""
    entry = ticket_list_json(ticket, actor, Read.TICKET_LIST)
    caller = entry["caller"]
    entry["caller"] = {"confidential": caller["confidential"], "anonymous": caller["anonymous"]}
    mark = deadline_mark(ticket.deadline, now)
    entry.update(
        status_title=STATUS_TITLES.get(ticket.status, ticket.status.value),
        ticket_type_title=TYPE_TITLES.get(ticket.ticket_type or "", "未分类"),
        urgency_title=URGENCY_TITLES.get(ticket.urgency, ""),
        waited_seconds=waited_seconds(ticket.updated_at, now),
        mark=mark.value, mark_title=MARK_TITLES[mark],
        request_title=REQUEST_TITLES.get(ticket.status, ""))
    if actor.unit is not None:
        entry["role_title"] = "牵头" if ticket.lead_unit == actor.unit else "配合"
    return entry


@dataclass(frozen=True)
class Titles:
    """`GET /api/workbench/titles`, made once when the app is built: the tables are code and the
    dispatch catalogue is read at start, so every answer is the same bytes until the next start
    (a deploy); nothing is computed or serialised per request. The ETag is the bytes' hash."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, catalogue: DispatchCatalogue) -> Titles:
        # Units that own knowledge articles without being in the dispatch catalogue (the hotline
        # centre, the housing fund...) are named by the knowledge seed; the catalogue wins.
        units = {**read_seed()[0], **{code: unit.name for code, unit in catalogue.units.items()}}
        body = json.dumps({**titles(), "unit": units}).encode()
        return cls(body, hashlib.sha256(body).hexdigest()[:32])


TITLES = web.AppKey("workbench_titles", Titles)
#: Every page loads the names first: the browser keeps them for a few minutes (no request at all
#: while moving between pages), then asks again with the ETag (an empty 304 until a deploy changes
#: them), so new names reach an open browser within minutes. Private: it takes a session.
TITLES_CACHE_CONTROL = "private, max-age=300"


@routes.get("/api/workbench/titles")
async def get_titles(request: web.Request) -> web.Response:
    auth.require(request)
    made = request.app[TITLES]
    headers = {"Cache-Control": TITLES_CACHE_CONTROL, "ETag": f'"{made.etag}"'}
    if any(tag.value in (made.etag, "*") for tag in request.if_none_match or ()):
        return web.Response(status=304, headers=headers)
    return web.Response(body=made.body, content_type="application/json", headers=headers)


Queue = Callable[[WorkbenchQueries, int, str], Awaitable[list[Ticket]]]


async def audit_list(request: web.Request, what: str, found: list[Ticket]) -> None:
    """A workbench list is a ticket list read (`Read.TICKET_LIST`): one audit row per read."""
    principal = auth.principal_of(request)
    await audit_read(request, principal, decide(reader_of(principal), Read.TICKET_LIST),
                     detail=f"{what}, {len(found)} found: {', '.join(t.ticket_no for t in found)}")


async def _queue(request: web.Request, which: Queue, roles: frozenset[Role] = REVIEWERS) -> web.Response:
    actor = actor_of(request, roles)
    found = await which(request.app[QUERIES], int_query(request, "limit", 100, 1, 500), actor.id)
    await audit_list(request, which.__name__.replace("_", " "), found)
    now = request.app[TICKETS].now()
    return web.json_response({"tickets": [list_entry(t, actor, now) for t in found], "now": now.isoformat()})


@routes.get("/api/workbench/dispatch-queue")
async def dispatch_queue(request: web.Request) -> web.Response:
    return await _queue(request, WorkbenchQueries.dispatch_queue)


@routes.get("/api/workbench/review-queue")
async def review_queue(request: web.Request) -> web.Response:
    return await _queue(request, WorkbenchQueries.review_queue)


@routes.get("/api/workbench/quality-queue")
async def quality_queue(request: web.Request) -> web.Response:
    """Complaints about hotline staff waiting for the quality team's finding (never the ones
    about the reader: `kernel.schema.visible_to`)."""
    return await _queue(request, WorkbenchQueries.quality_queue, QUALITY_DESK)


@routes.get("/api/workbench/tickets/{no}/deadline-preview")
async def deadline_preview(request: web.Request) -> web.Response:
    """The deadlines a dispatch to `?unit=` would set now (the dispatch computes them the same
    way, from the catalogue and the working-day calendar)."""
    actor = actor_of(request, DISPATCH_DESK)
    unit = request.query.get("unit", "")
    catalogue = request.app[CATALOGUE]
    if unit not in catalogue.units:
        raise InvalidInput("派单目录中没有这个单位", field="unit")
    store = request.app[TICKETS]
    ticket = await visible_ticket(store, request.match_info["no"][:32], actor)
    if ticket.ticket_type is None:
        raise InvalidInput("工单尚未分类，无法计算办理时限", field="ticket_type")
    terms = terms_for(catalogue, unit, ticket.ticket_type, ticket.urgency, request.query.get("matter") or None)
    deadline, sign_deadline = dispatch_deadlines(terms, store.now(), request.app[CALENDAR])
    return web.json_response({
        "unit": unit, "unit_name": catalogue.units[unit].name,
        "deadline": deadline.isoformat(), "sign_deadline": sign_deadline.isoformat(),
        "working_days": terms.handling.working_days, "hours": terms.handling.hours})


#: Lines of a call's transcript a dispatcher reads beside the ticket: the request, not the call.
EXCERPT_LINES = 12
#: A dispatcher reads a ticket's call only while the ticket is theirs to dispatch or review.
DISPATCHERS_WORK = frozenset({TicketStatus.DRAFT, TicketStatus.PENDING_DISPATCH, *map(TicketStatus, REVIEW_STATUSES)})


@routes.get("/api/workbench/tickets/{no}/transcript")
async def transcript_excerpt(request: web.Request) -> web.Response:
    """The words behind a ticket waiting for dispatch or review: what the caller asked, in their
    own words, to choose the unit. Only the excerpt (no recording: the calls' access rule lets a
    dispatcher hear only their own calls), each read audited as a transcript read."""
    principal = auth.require(request, {r.value for r in DISPATCH_DESK})
    actor = Actor(principal.user, Role(principal.role), principal.unit)
    ticket = await visible_ticket(request.app[TICKETS], request.match_info["no"][:32], actor)
    if ticket.status not in DISPATCHERS_WORK:
        # Past the role's gate: the ticket's state, not the person, stands in the way (409).
        raise Conflict("只有待派单或待审核的工单可以查看通话转写", ticket_no=ticket.ticket_no)
    calls = []
    for call_id in ticket.call_ids[:3]:
        lines = await request.app[QUERIES].transcript_excerpt(call_id, EXCERPT_LINES)
        await audit_access(request, principal, AccessKind.TRANSCRIPT, allowed=True, call_id=call_id,
                           ticket_no=ticket.ticket_no, detail=f"dispatch excerpt, {len(lines)} lines")
        calls.append({"call_id": call_id, "lines": [
            {"speaker": line.speaker, "start": line.start, "text": line.text} for line in lines]})
    return web.json_response({"calls": calls})


#: The inbox page shows the nearest deadlines first; the export takes more.
INBOX_PAGE, INBOX_EXPORT = 100, 5000


async def _inbox(request: web.Request, default: int) -> tuple[list[dict[str, Any]], int]:
    actor = actor_of(request, UNIT_DESK)
    assert actor.unit is not None  # a unit principal always has its unit (kernel.auth)
    limit = int_query(request, "limit", default, 1, INBOX_EXPORT)
    found = await request.app[QUERIES].unit_inbox(actor.unit, limit)
    await audit_list(request, "unit inbox", found)
    now = request.app[TICKETS].now()
    return [list_entry(t, actor, now) for t in found], limit


@routes.get("/api/workbench/unit-inbox")
async def unit_inbox(request: web.Request) -> web.Response:
    entries, limit = await _inbox(request, INBOX_PAGE)
    counts = {mark: sum(1 for e in entries if e["mark"] == mark) for mark in ("overdue", "due_soon")}
    return web.json_response({"tickets": entries, "counts": counts, "more": len(entries) == limit})


@routes.get("/api/workbench/unit-inbox.csv")
async def unit_inbox_csv(request: web.Request) -> web.Response:
    entries, _ = await _inbox(request, INBOX_EXPORT)
    return web.Response(text=csv_text(entries), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": "attachment; filename=\"unit-inbox.csv\"", "Cache-Control": "no-store"})


class AnswerBody(RequestBody):
    satisfaction: Satisfaction
    #: The callback agent's judgement of an unsatisfied citizen's request (临沂条例第二十条):
    #: reasonable, the ticket goes back to the unit (重办); unreasonable, it closes with the
    #: reason; None, it waits on the review list for a supervisor's judgement.
    reasonable: bool | None = None
    reason: str = Field(default="", max_length=2000)


class NotReachedBody(RequestBody):
    outcome: Literal["no_answer", "busy", "switched_off", "wrong_number", "declined"]
    #: Minutes until the next try; None: this is the final outcome, recorded on the ticket.
    retry_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)
    reason: str = Field(default="", max_length=2000)


def _task_id(request: web.Request) -> str:
    return request.match_info["id"][:64]


@routes.post("/api/workbench/callbacks/{id}/answer")
async def callback_answer(request: web.Request) -> web.Response:
    actor = actor_of(request, CALLBACK_DESK)
    body = await read_body(request, AnswerBody)
    if body.satisfaction is Satisfaction.UNSATISFIED and not body.reason:
        raise InvalidInput("请填写不满意的原因", field="reason")
    title = SATISFACTION_TITLES[body.satisfaction]
    reason = f"{title}：{body.reason}" if body.reason else title
    ticket = await request.app[CALLBACKS].record_by_person(
        _task_id(request), body.satisfaction, actor,
        reasonable=body.reasonable if body.satisfaction is Satisfaction.UNSATISFIED else None,
        reason=reason, outcome=body.satisfaction.value)
    return web.json_response({"ticket_no": ticket.ticket_no, "status": ticket.status.value,
                              "status_title": STATUS_TITLES[ticket.status]})


@routes.post("/api/workbench/callbacks/{id}/not-reached")
async def callback_not_reached(request: web.Request) -> web.Response:
    actor = actor_of(request, CALLBACK_DESK)
    body = await read_body(request, NotReachedBody)
    service = request.app[CALLBACKS]
    if body.retry_minutes is not None:
        at = request.app[TICKETS].now() + timedelta(minutes=body.retry_minutes)
        task = await service.retry_by_person(_task_id(request), at, body.outcome)
        return web.json_response({"task": task.to_json(), "retry_at": at.isoformat()})
    why = NOT_REACHED[body.outcome]
    reason = f"未能回访（{why}）" + (f"：{body.reason}" if body.reason else "")
    if body.outcome == "declined":  # reached, but would not rate: a callback without an answer
        ticket = await service.record_by_person(_task_id(request), None, actor, reasonable=None,
                                                reason=reason, outcome=f"final:{body.outcome}")
    else:  # never reached: 未回访成功, once the policy's attempts are made
        ticket = await service.close_unreached(_task_id(request), actor, reason=reason,
                                               outcome=f"final:{body.outcome}")
    return web.json_response({"ticket_no": ticket.ticket_no, "status": ticket.status.value,
                              "status_title": STATUS_TITLES[ticket.status]})


def operations() -> list[Operation]:
    limit: tuple[tuple[str, QueryType], ...] = (("limit", "integer"),)
    return [
        Operation("get", "/api/workbench/titles",
                  "zh-CN names of the workflow's values and the catalogue's units (the pages' labels)",
                  SIGNED_IN),
        Operation("get", "/api/workbench/dispatch-queue", "Tickets waiting for dispatch, longest wait first "
                  "(no caller identity)", DISPATCH_DESK, query=limit),
        Operation("get", "/api/workbench/review-queue", "Units' return, extension and termination requests "
                  "waiting for a review, oldest first", DISPATCH_DESK, query=limit),
        Operation("get", "/api/workbench/quality-queue", "Complaints about hotline staff waiting for the "
                  "quality team's finding, longest wait first (never those about the reader)", QUALITY_DESK,
                  query=limit),
        Operation("get", "/api/workbench/tickets/{no}/deadline-preview", "The deadlines a dispatch to `unit` "
                  "would set now (working days, the calendar)", DISPATCH_DESK,
                  query=(("unit", "string"), ("matter", "string"))),
        Operation("get", "/api/workbench/tickets/{no}/transcript", "The first lines of the ticket's call while "
                  "it waits for dispatch or review (audited)", DISPATCH_DESK),
        Operation("get", "/api/workbench/unit-inbox", "The unit's open tickets, nearest deadline first, "
                  "overdue and due-within-a-day marked", UNIT_DESK, query=limit),
        Operation("get", "/api/workbench/unit-inbox.csv", "The unit's inbox as CSV (UTF-8 with BOM)",
                  UNIT_DESK, query=limit, content_type="text/csv"),
        Operation("post", "/api/workbench/callbacks/{id}/answer", "A callback agent records the citizen's "
                  "answer, the reason when unsatisfied and whether it is reasonable (then 重办)",
                  CALLBACK_DESK, AnswerBody),
        Operation("post", "/api/workbench/callbacks/{id}/not-reached", "Not reached: try again in "
                  "`retry_minutes`, or (without it) the final outcome on the ticket", CALLBACK_DESK,
                  NotReachedBody),
    ]
