"""HTTP API of the ticket workflow (工单), an aiohttp route table.

    POST /api/tickets                                  register (受理) from any channel
    GET  /api/tickets?status=...&limit=&offset=         list; a unit sees only its own tickets
    GET  /api/tickets/{no}                              the ticket and its events
    POST /api/tickets/{no}/commands/{command}           one workflow command, with expected_version
    GET  /api/tickets/{no}/suggested-units              units from the dispatch catalogue
    GET  /api/callers/{number}/tickets                  a caller's history (hotline roles only)
    POST /api/tickets/{no}/reveal                       a confidential caller's number (supervisors)

The application holds a `TicketStore` under `TICKET_STORE`, the dispatch catalogue under
`DISPATCH_CATALOGUE` and the working-day calendar under `WORKING_CALENDAR`; the composition
root sets them. A dispatch without deadlines gets them from the catalogue and the calendar.

Authentication: a signed bearer token (`kernel.auth`) names the person, the role (values of
`tickets.model.Role`) and a unit's code; nothing the client merely claims is trusted.

Who reads which ticket, and whose number a view shows, is `kernel.access_policy`: an agent the
tickets they worked on, a unit its own (another unit's is 404, not 403: a unit never learns which
tickets exist), the hotline's back office every ticket. A complaint about a member of the hotline
staff (`classify` with `about_staff`) does not exist for that person: 404 on every route that
names it, and absent from every list (`kernel.schema.visible_to`). A confidential (保密) caller's number is
masked in every view, for every role; a supervisor reveals it with `POST .../reveal`, an audited
read of its own. A unit never sees an anonymous caller's name (`Ticket.view_for_unit`), nor the
numbers of related tickets (a supervision flag's group) that are not its own. Each read writes
exactly one row to the access audit, refusals too.

Errors from the one hierarchy (`kernel.errors`) become JSON `{"error": code, "message": ...}`
with `http_status_for`, as in the other APIs; invalid bodies are `InvalidInput` (400).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from kernel import auth
from kernel.access_policy import (
    Read,
    Reader,
    Related,
    Scope,
    Subject,
    decide,
    hidden_from,
    number_view,
    roles_for,
    scope_of,
    shows_number,
    visible_related,
)
from kernel.audit import audit_read, reader_of
from kernel.errors import InvalidInput, NotFound, PermissionDenied
from kernel.http_edge import RequestBody, int_query, read_body
from kernel.idempotency import IdempotencyStore, Replay, claim_for
from kernel.openapi import Operation
from kernel.phone_number import PhoneNumber, validated_digits
from kernel.roles import HOTLINE_STAFF, Actor, Role
from tickets import workflow
from tickets.deadlines import WorkingCalendar, working_day_deadline
from tickets.dispatch import (
    DispatchCatalogue,
    dispatch_deadlines,
    reopen_deadline,
    suggest_units,
    terms_for,
)
from tickets.events import SupervisionFlagged, TicketClassified, TicketEvent, TicketRegistered
from tickets.evidence_api import EVIDENCE_STORE
from tickets.evidence_store import EvidenceStore
from tickets.model import (
    Attachment,
    Caller,
    Channel,
    ContactMethod,
    EscalationGround,
    OutOfScope,
    QualityFinding,
    Satisfaction,
    SupervisionFlagKind,
    SupervisionLevel,
    TerminationGround,
    Ticket,
    TicketStatus,
    TicketType,
    Urgency,
)
from tickets.store import TicketFilter, TicketStore, Within, event_payload

TICKET_STORE = web.AppKey("ticket_store", TicketStore)
DISPATCH_CATALOGUE = web.AppKey("dispatch_catalogue", DispatchCatalogue)
WORKING_CALENDAR = web.AppKey("working_calendar", WorkingCalendar)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)
#: Staff of the hotline centre (suggested units).
HOTLINE_ROLES = HOTLINE_STAFF
#: Who may ask for a ticket: the policy then decides on the ticket itself.
TICKET_READERS = frozenset(Role(r) for r in roles_for(Read.TICKET))
#: Who lists tickets: the back office every ticket, a unit its own.
TICKET_LISTERS = frozenset(Role(r) for r in roles_for(Read.TICKET_LIST))
#: Who reads a caller's history (the first receiver, on the line).
HISTORY_READERS = frozenset(Role(r) for r in roles_for(Read.CALLER_HISTORY))
#: Who may reveal a confidential caller's number.
REVEALERS = frozenset(Role(r) for r in roles_for(Read.CONFIDENTIAL_NUMBER))
MAX_TEXT = 10_000
#: What an account name (工号) looks like (accounts.model.USERNAME; tokens carry it as `user`).
STAFF_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")

routes = web.RouteTableDef()

_M = TypeVar("_M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---- request bodies (pydantic at the edge) -------------------------------------------------


_Body = RequestBody


class AttachmentBody(_Body):
    """Metadata of a file already uploaded to evidence storage; the bytes never pass here."""

    name: str = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=2**40)
    kind: str = Field(default="document", min_length=1, max_length=32)
    uri: str | None = Field(default=None, max_length=1000)

    def to_domain(self) -> Attachment:
        return Attachment(kind=self.kind, uri=self.uri or f"sha256:{self.sha256}",
                          title=self.name, sha256=self.sha256, size=self.size)


class CallerBody(_Body):
    number: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=64)
    confidential: bool = False
    anonymous: bool = False
    #: The caller asked not to be told the result (济南条例: 要求不回复的除外): the unit owes no
    #: first contact within the working days.
    no_reply: bool = False

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: object) -> str | None:
        return validated_digits(value, field="caller.number")


class RegisterBody(_Body):
    channel: Channel
    caller: CallerBody = CallerBody()
    ticket_type: TicketType | None = None
    urgency: Urgency = Urgency.NORMAL
    summary: str = Field(default="", max_length=500)
    content: str = Field(default="", max_length=MAX_TEXT)
    location: str = Field(default="", max_length=500)
    district: str | None = Field(default=None, max_length=64)
    call_ids: list[str] = Field(default_factory=list, max_length=20)
    reason: str = Field(default="", max_length=2000)
    attachments: list[AttachmentBody] = Field(default_factory=list, max_length=20)


class CommandBody(_Body):
    """Every command names the version it was decided on; a mismatch is 409."""

    expected_version: int = Field(ge=1)
    reason: str = Field(default="", max_length=2000)
    attachments: list[AttachmentBody] = Field(default_factory=list, max_length=20)


class ClassifyBody(CommandBody):
    ticket_type: TicketType
    summary: str = Field(max_length=500)
    content: str = Field(default="", max_length=MAX_TEXT)
    location: str = Field(default="", max_length=500)
    district: str | None = Field(default=None, max_length=64)
    urgency: Urgency = Urgency.NORMAL
    callback_number: str | None = Field(default=None, max_length=32)

    #: 投诉热线工作人员: the account (工号) of the staff member the complaint is about; only with
    #: `ticket_type` complaint. The ticket then goes to the quality team and never to a unit.
    about_staff: str | None = Field(default=None, max_length=64)

    @field_validator("callback_number", mode="before")
    @classmethod
    def _callback_number(cls, value: object) -> str | None:
        return validated_digits(value, field="callback_number")

    @field_validator("about_staff", mode="before")
    @classmethod
    def _about_staff(cls, value: object) -> str | None:
        """An account name as sign-in spells it (lower case): blank means no one."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("about_staff is an account name")
        name = value.strip().lower()
        if name and not STAFF_ACCOUNT.match(name):
            raise ValueError("about_staff is an account name (工号): letters, digits and hyphens")
        return name or None


class AnswerDirectlyBody(CommandBody):
    answer: str = Field(max_length=MAX_TEXT)
    knowledge_article_id: str | None = Field(default=None, max_length=64)
    knowledge_article_version: int | None = Field(default=None, ge=1)


class ThreeWayCallBody(CommandBody):
    unit: str = Field(max_length=64)
    answer: str = Field(max_length=MAX_TEXT)
    call_id: str | None = Field(default=None, max_length=64)
    #: 临沂条例第十四条: the caller agreed to the three-way call (required: refused without).
    caller_consented: bool = False


class CloseOutOfScopeBody(CommandBody):
    scope: OutOfScope
    referred_to: str = Field(default="", max_length=200)
    duplicate_of: str | None = Field(default=None, max_length=32)


class DispatchBody(CommandBody):
    lead_unit: str = Field(min_length=1, max_length=64)
    cooperating_units: list[str] = Field(default_factory=list, max_length=20)
    #: Omitted: computed from the catalogue (unit, matter, type, urgency) and the calendar.
    deadline: AwareDatetime | None = None
    sign_deadline: AwareDatetime | None = None
    matter: str | None = Field(default=None, max_length=200)
    joint_meeting_minutes: AttachmentBody | None = None


class RequestExtensionBody(CommandBody):
    requested_deadline: AwareDatetime
    #: 北京条例第十五条第二项: the unit has told the caller why it needs more time.
    caller_informed: bool = False


class ApproveExtensionBody(CommandBody):
    new_deadline: AwareDatetime


class RequestTerminationBody(CommandBody):
    ground: TerminationGround
    explained_to_caller: bool = False


class ProgressNoteBody(CommandBody):
    note: str = Field(max_length=MAX_TEXT)


class RecordContactBody(CommandBody):
    method: ContactMethod
    note: str = Field(max_length=MAX_TEXT)


class DeadlineCallbackBody(CommandBody):
    #: What the caller says of the handling so far; None: declined, or not reached.
    satisfaction: Satisfaction | None
    reached: bool = True


class FeedbackBody(CommandBody):
    result: str = Field(max_length=MAX_TEXT)
    contacted_caller: bool = True


class CallbackBody(CommandBody):
    satisfaction: Satisfaction | None
    reasonable: bool = False
    handled_as_required: bool = True
    #: Used when the ticket is reopened; omitted: the unit's handling term from now.
    new_deadline: AwareDatetime | None = None


class ReviewReopenBody(CommandBody):
    reasonable: bool
    #: Used when reasonable; omitted: the unit's handling term from now.
    new_deadline: AwareDatetime | None = None


class QualityFindingBody(CommandBody):
    finding: QualityFinding
    result: str = Field(max_length=MAX_TEXT)


class CloseUnreachedBody(CommandBody):
    attempts: int = Field(ge=0, le=100)


class FlagSupervisionBody(CommandBody):
    kind: SupervisionFlagKind
    related_ticket_nos: list[str] = Field(default_factory=list, max_length=100)


class EscalateBody(CommandBody):
    to_level: SupervisionLevel
    ground: EscalationGround


# ---- commands: URL name -> body model -> workflow command ----------------------------------


@dataclass(frozen=True)
class _Context:
    ticket: Ticket
    now: datetime
    catalogue: DispatchCatalogue
    calendar: WorkingCalendar
    policy: workflow.WorkflowPolicy


def check_evidence(store: EvidenceStore, attachments: list[AttachmentBody]) -> None:
    """Every attachment names an uploaded file with its true size (issue 25: a `uri` of another
    system used to be taken as given, so a review could rest on evidence nobody can open);
    `uri`, when sent, can only say the same thing again."""
    for attachment in attachments:
        if attachment.uri is not None and attachment.uri != f"sha256:{attachment.sha256}":
            raise InvalidInput("an attachment is an uploaded evidence file: upload it to "
                               "/api/evidence and name it by its sha256 (uri, if sent, is sha256:<hex>)",
                               uri=attachment.uri[:80])
        store.check_reference(attachment.sha256, attachment.size)


def _common(body: CommandBody) -> dict[str, Any]:
    return {"reason": body.reason, "attachments": tuple(a.to_domain() for a in body.attachments)}


def _known_unit(catalogue: DispatchCatalogue, code: str) -> None:
    if code not in catalogue.units:
        raise InvalidInput("unit not in the dispatch catalogue", unit=code)


def _handling_term_from_now(ctx: _Context) -> datetime | None:
    return reopen_deadline(ctx.catalogue, ctx.ticket, ctx.now, ctx.calendar)


def _dispatch(body: DispatchBody, ctx: _Context) -> workflow.Command:
    for unit in (body.lead_unit, *body.cooperating_units):
        _known_unit(ctx.catalogue, unit)
    deadline, sign_deadline = body.deadline, body.sign_deadline
    if deadline is None or sign_deadline is None:
        if ctx.ticket.ticket_type is None:
            raise InvalidInput("classify the ticket before dispatch (its type sets the deadline)",
                               ticket_no=ctx.ticket.ticket_no)
        terms = terms_for(ctx.catalogue, body.lead_unit, ctx.ticket.ticket_type,
                          ctx.ticket.urgency, body.matter)
        computed, computed_sign = dispatch_deadlines(terms, ctx.now, ctx.calendar)
        deadline = deadline or computed
        sign_deadline = sign_deadline or min(computed_sign, deadline)
    minutes = body.joint_meeting_minutes
    return_deadline = working_day_deadline(ctx.now, ctx.policy.return_window_working_days,
                                           ctx.calendar)
    # Never after the handling deadline (an urgent ticket's is hours away); the workflow drops
    # it for a caller who asked for no reply.
    first_contact_deadline = min(deadline, working_day_deadline(
        ctx.now, ctx.policy.first_contact_working_days, ctx.calendar))
    return workflow.Dispatch(
        **_common(body), lead_unit=body.lead_unit, cooperating_units=tuple(body.cooperating_units),
        deadline=deadline, sign_deadline=sign_deadline, return_deadline=return_deadline,
        first_contact_deadline=first_contact_deadline,
        joint_meeting_minutes=replace(minutes.to_domain(), kind="minutes") if minutes else None,
    )


def _callback(body: CallbackBody, ctx: _Context) -> workflow.Command:
    return workflow.RecordCallback(
        **_common(body), satisfaction=body.satisfaction, reasonable=body.reasonable,
        handled_as_required=body.handled_as_required,
        new_deadline=body.new_deadline or _handling_term_from_now(ctx))


def _review_reopen(body: ReviewReopenBody, ctx: _Context) -> workflow.Command:
    return workflow.ReviewReopen(
        **_common(body), reasonable=body.reasonable,
        new_deadline=(body.new_deadline or _handling_term_from_now(ctx)) if body.reasonable else None)


Builder = Callable[[Any, _Context], workflow.Command]


def _copy_fields(command: type[workflow.Command]) -> Builder:
    """A builder passing the body's own fields (lists as tuples) to the command."""
    def build(body: CommandBody, ctx: _Context) -> workflow.Command:
        extra = {name: getattr(body, name) for name in type(body).model_fields
                 if name not in CommandBody.model_fields}
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in extra.items()}
        return command(**_common(body), **fields)
    return build


@dataclass(frozen=True)
class CommandSpec:
    command: type[workflow.Command]
    body: type[CommandBody]
    summary: str
    #: None: the body's fields are the command's (`_copy_fields`).
    build: Builder | None = None

    def to_command(self, body: CommandBody, ctx: _Context) -> workflow.Command:
        return (self.build or _copy_fields(self.command))(body, ctx)


#: URL name -> command, in the order of the regulations' lifecycle.
COMMANDS: dict[str, CommandSpec] = {
    "classify": CommandSpec(workflow.Classify, ClassifyBody, "Complete or correct the draft"),
    "answer-directly": CommandSpec(workflow.AnswerDirectly, AnswerDirectlyBody,
                                   "直接答复 from the knowledge base; closes the ticket"),
    "three-way-call": CommandSpec(workflow.AnswerInThreeWayCall, ThreeWayCallBody,
                                  "三方连线: the unit answered on line; closes the ticket"),
    "close-out-of-scope": CommandSpec(workflow.CloseOutOfScope, CloseOutOfScopeBody,
                                      "Close a draft at intake: emergency line, legal channel, "
                                      "duplicate, secret/privacy, outside duties, unlawful or "
                                      "harassing, invalid call"),
    "dispatch": CommandSpec(workflow.Dispatch, DispatchBody,
                            "派单; deadlines from the catalogue and calendar when omitted",
                            _dispatch),
    "sign": CommandSpec(workflow.Sign, CommandBody, "签收 by the lead unit"),
    "request-return": CommandSpec(workflow.RequestReturn, CommandBody,
                                  "申请退回 with reason and evidence attachments"),
    "approve-return": CommandSpec(workflow.ApproveReturn, CommandBody, "Approve a return"),
    "reject-return": CommandSpec(workflow.RejectReturn, CommandBody,
                                 "Reject a return (reason required)"),
    "request-extension": CommandSpec(workflow.RequestExtension, RequestExtensionBody,
                                     "申请延期 before the deadline"),
    "approve-extension": CommandSpec(workflow.ApproveExtension, ApproveExtensionBody,
                                     "Approve an extension"),
    "deny-extension": CommandSpec(workflow.DenyExtension, CommandBody,
                                  "Deny an extension (reason required)"),
    "request-termination": CommandSpec(workflow.RequestTermination, RequestTerminationBody,
                                       "申请终止办理 with evidence"),
    "approve-termination": CommandSpec(workflow.ApproveTermination, CommandBody,
                                       "Approve termination; closes the ticket"),
    "reject-termination": CommandSpec(workflow.RejectTermination, CommandBody,
                                      "Reject termination (reason required)"),
    "progress-note": CommandSpec(workflow.AddProgressNote, ProgressNoteBody,
                                 "A progress note (also a cooperating unit's partial result)"),
    "record-contact": CommandSpec(workflow.RecordContact, RecordContactBody,
                                  "The lead unit contacted the caller (phone, SMS, visit; 济南条例 "
                                  "5个工作日内联系)"),
    "feedback": CommandSpec(workflow.SubmitFeedback, FeedbackBody, "反馈 by the lead unit"),
    "request-suspension": CommandSpec(workflow.RequestSuspension, CommandBody,
                                      "申请中止办理 with reason and evidence"),
    "approve-suspension": CommandSpec(workflow.ApproveSuspension, CommandBody,
                                      "Approve a suspension: the deadline clock stops"),
    "reject-suspension": CommandSpec(workflow.RejectSuspension, CommandBody,
                                     "Reject a suspension (reason required)"),
    "resume": CommandSpec(workflow.ResumeHandling, CommandBody,
                          "恢复办理 after a suspension: the clock runs on"),
    "accept-feedback": CommandSpec(workflow.AcceptFeedback, CommandBody,
                                   "逐一审核: the unit's feedback accepted; the callback is due"),
    "reject-feedback": CommandSpec(workflow.RejectFeedback, CommandBody,
                                   "The feedback sent back to the unit (reason required)"),
    "callback": CommandSpec(workflow.RecordCallback, CallbackBody,
                            "回访; 应办未办 reopens, an unsatisfied answer waits for review-reopen",
                            _callback),
    "review-reopen": CommandSpec(workflow.ReviewReopen, ReviewReopenBody,
                                 "Judge an unsatisfied caller's request: reasonable reopens "
                                 "(督办 past the cap), unreasonable closes", _review_reopen),
    "close-unreached": CommandSpec(workflow.CloseUnreached, CloseUnreachedBody,
                                   "未回访成功 after the attempt cap; closes the ticket"),
    "deadline-callback": CommandSpec(workflow.RecordDeadlineCallback, DeadlineCallbackBody,
                                     "时限届满回访 (北京条例第二十三条): the caller's view of the handling "
                                     "so far; the ticket stays with the unit, unsatisfied is 督办"),
    "quality-finding": CommandSpec(workflow.RecordQualityFinding, QualityFindingBody,
                                   "质检: the quality team's finding on a complaint about hotline "
                                   "staff and what was done; the callback is due"),
    "flag-supervision": CommandSpec(workflow.FlagForSupervision, FlagSupervisionBody,
                                    "热线督办 for one reason"),
    "escalate": CommandSpec(workflow.Escalate, EscalateBody, "Escalate up the supervision ladder"),
    "archive": CommandSpec(workflow.Archive, CommandBody, "归档 of a closed ticket"),
}


# ---- plumbing ------------------------------------------------------------------------------



def _actor(request: web.Request, allowed: frozenset[Role] | None = None) -> Actor:
    """The token's principal as a workflow actor, if its role may do this."""
    principal = auth.require(request, None if allowed is None else {r.value for r in allowed})
    try:
        role = Role(principal.role)
    except ValueError:
        raise PermissionDenied(f"role {principal.role!r} may not work on tickets",
                               user=principal.user) from None
    return Actor(principal.user, role, principal.unit)


_body = read_body


def _ticket_no(request: web.Request) -> str:
    no = request.match_info["no"]
    if len(no) > 32:
        raise InvalidInput("ticket number too long", field="no")
    return no


def hide_from(actor: Actor) -> Callable[[Ticket], None]:
    """Not found, rather than forbidden (`kernel.access_policy.hidden_from`): a unit must not
    learn which tickets exist, nor a member of staff that a complaint about them exists."""
    def guard(ticket: Ticket) -> None:
        if hidden_from(_reader(actor), subject_of(ticket)):
            raise NotFound("no such ticket", ticket_no=ticket.ticket_no)
    return guard


async def visible_ticket(store: TicketStore, no: str, actor: Actor) -> Ticket:
    """The ticket `no` as it stands, or NotFound for a reader it is hidden from (`hide_from`):
    for routes that read a ticket's fields without showing the ticket (suggestions, previews)."""
    ticket = await store.get(no)
    hide_from(actor)(ticket)
    return ticket


# ---- JSON shapes ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _attachment_json(a: Attachment) -> dict[str, Any]:
    return {"kind": a.kind, "uri": a.uri, "name": a.title, "sha256": a.sha256, "size": a.size}


def subject_of(ticket: Ticket, events: list[TicketEvent] | None = None, *, acting: str | None = None,
               answered_by: frozenset[str] = frozenset()) -> Subject:
    """The ticket as the policy sees it: who took part in it (the agents who answered its calls,
    its events' actors, whoever acts on it now), the units it is dispatched to, and whether its
    caller is confidential."""
    people = {e.actor.id for e in events or ()} | ({acting} if acting else set()) | answered_by
    units = {u for u in (ticket.lead_unit, *ticket.cooperating_units) if u}
    concerned = frozenset({ticket.about_staff}) if ticket.about_staff else frozenset()
    return Subject(people=frozenset(people), units=frozenset(units), confidential=ticket.caller.confidential,
                   concerned=concerned)


def _reader(actor: Actor) -> Reader:
    return Reader(actor.id, actor.role.value, actor.unit)


def ticket_json(ticket: Ticket, actor: Actor, *, shown: bool) -> dict[str, Any]:
    """The ticket as `actor` sees it; `shown`: the policy shows its caller's number in full."""
    if actor.role is Role.UNIT:
        ticket = ticket.view_for_unit()
    caller = ticket.caller
    return {
        "ticket_no": ticket.ticket_no,
        "version": ticket.version,
        "status": ticket.status.value,
        "channel": ticket.channel.value,
        "caller": {"number": number_view(caller.number, shown), "name": caller.name,
                   "confidential": caller.confidential, "anonymous": caller.anonymous,
                   "no_reply": caller.no_reply},
        "ticket_type": ticket.ticket_type.value if ticket.ticket_type else None,
        "urgency": ticket.urgency.value,
        "summary": ticket.summary,
        "content": ticket.content,
        "location": ticket.location,
        "district": ticket.district,
        "callback_number": number_view(ticket.callback_number, shown),
        "call_ids": list(ticket.call_ids),
        "lead_unit": ticket.lead_unit,
        "cooperating_units": list(ticket.cooperating_units),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "dispatched_at": _iso(ticket.dispatched_at),
        "sign_deadline": _iso(ticket.sign_deadline),
        "signed_at": _iso(ticket.signed_at),
        "deadline": _iso(ticket.deadline),
        "requested_deadline": _iso(ticket.requested_deadline),
        "first_contact_deadline": _iso(ticket.first_contact_deadline),
        "first_contacted_at": _iso(ticket.first_contacted_at),
        "deadline_callback_at": _iso(ticket.deadline_callback_at),
        "deadline_callback_view": (ticket.deadline_callback_view.value
                                   if ticket.deadline_callback_view else None),
        "return_count": ticket.return_count,
        "extension_count": ticket.extension_count,
        "reopen_count": ticket.reopen_count,
        "joint_meeting_required": ticket.joint_meeting_required,
        "satisfaction": ticket.satisfaction.value if ticket.satisfaction else None,
        "supervision_level": ticket.supervision_level.name.lower(),
        "supervision_flags": sorted(f.value for f in ticket.supervision_flags),
        "duplicate_of": ticket.duplicate_of,
        "closure_reason": ticket.closure_reason.value if ticket.closure_reason else None,
        "closed_at": _iso(ticket.closed_at),
        "archived_at": _iso(ticket.archived_at),
        "about_staff": ticket.about_staff,
        "quality_finding": ticket.quality_finding.value if ticket.quality_finding else None,
    }


#: What a list entry carries: the columns of the `tickets` projection. The rest of a ticket
#: (signed_at, extension and re-open counts, supervision flags...) lives in its events and is
#: shown by `GET /api/tickets/{no}` only, rather than listed with made-up default values.
PROJECTED_FIELDS = (
    "ticket_no", "version", "status", "channel", "caller", "ticket_type", "urgency", "summary",
    "content", "location", "district", "lead_unit", "cooperating_units", "created_at",
    "updated_at", "dispatched_at", "sign_deadline", "deadline", "return_count", "satisfaction",
    "supervision_level", "closure_reason", "closed_at", "about_staff",
)


def ticket_list_json(ticket: Ticket, actor: Actor, read: Read) -> dict[str, Any]:
    full = ticket_json(ticket, actor, shown=shows_number(_reader(actor), read, subject_of(ticket)))
    return {name: full[name] for name in PROJECTED_FIELDS}


def event_json(event: TicketEvent, actor: Actor, *, shown: bool,
               related: tuple[str, ...] | None = None) -> dict[str, Any]:
    """An event as `actor` sees it: the caller's numbers as `shown` says, and a supervision
    flag's related tickets cut to `related` (those the reader may read)."""
    if isinstance(event, TicketRegistered):
        caller = event.caller.masked_for_unit() if actor.role is Role.UNIT else event.caller
        event = replace(event, caller=replace(caller, number=number_view(caller.number, shown)))
    if isinstance(event, TicketClassified):
        event = replace(event, callback_number=number_view(event.callback_number, shown))
    if isinstance(event, SupervisionFlagged) and related is not None:
        event = replace(event, related_ticket_nos=tuple(n for n in event.related_ticket_nos if n in related))
    return {
        "type": event.event_type,
        "version": event.version,
        "at": event.occurred_at.isoformat(),
        "actor": {"id": event.actor.id, "role": event.actor.role.value, "unit": event.actor.unit},
        "data": json.loads(event_payload(event)),
    }


# ---- handlers ------------------------------------------------------------------------------


def _saved_json(ticket: Ticket, event: TicketEvent, actor: Actor) -> dict[str, Any]:
    """The answer to a save: the ticket and its new event, as the actor who saved it sees them."""
    shown = shows_number(_reader(actor), Read.TICKET, subject_of(ticket, acting=actor.id))
    return {"ticket": ticket_json(ticket, actor, shown=shown), "event": event_json(event, actor, shown=shown)}


async def _saved_once(request: web.Request, actor: Actor, status: int,
                      save: Callable[[Within | None], Awaitable[tuple[Ticket, TicketEvent]]]) -> web.Response:
    """Run `save` once per `Idempotency-Key` (`kernel.idempotency`): a retry of a request that
    succeeded gets its first answer and saves nothing; the answer is remembered in the save's
    own transaction. Without a key, `save` simply runs."""
    idempotency = request.app[IDEMPOTENCY]
    claim = await claim_for(request, idempotency)
    if isinstance(claim, Replay):
        return claim.response()
    within: Within | None = None
    if claim is not None:
        held = claim

        async def within(conn: Any, ticket: Ticket, event: TicketEvent) -> None:
            await idempotency.complete(conn, held, status, _saved_json(ticket, event, actor))
    try:
        ticket, event = await save(within)
    except BaseException:
        if claim is not None:
            await idempotency.release(claim)
        raise
    return web.json_response(_saved_json(ticket, event, actor), status=status)



@routes.post("/api/tickets")
async def register_ticket(request: web.Request) -> web.Response:
    actor = _actor(request, workflow.ROLES[workflow.Register])  # the workflow checks it again
    body = await _body(request, RegisterBody)
    check_evidence(request.app[EVIDENCE_STORE], body.attachments)
    command = workflow.Register(
        ticket_no="", channel=body.channel,
        caller=Caller(**body.caller.model_dump()), ticket_type=body.ticket_type,
        urgency=body.urgency, summary=body.summary, content=body.content,
        location=body.location, district=body.district, call_ids=tuple(body.call_ids),
        reason=body.reason, attachments=tuple(a.to_domain() for a in body.attachments),
    )
    store = request.app[TICKET_STORE]
    return await _saved_once(request, actor, 201,
                             lambda within: store.register(command, actor, within=within))


def _listed(tickets: list[Ticket]) -> str:
    return f"{len(tickets)} found: {', '.join(t.ticket_no for t in tickets)}"


@routes.get("/api/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    actor = _actor(request, TICKET_LISTERS)
    try:
        statuses = tuple(TicketStatus(s) for s in request.query.getall("status", []))
    except ValueError as exc:
        raise InvalidInput("unknown status", field="status") from exc
    query = TicketFilter(
        unit=actor.unit if actor.role is Role.UNIT else None, statuses=statuses,
        limit=int_query(request, "limit", 50, 1, 500),
        offset=int_query(request, "offset", 0, 0, 1_000_000), reader=actor.id,
    )
    found = await request.app[TICKET_STORE].list_tickets(query)
    await audit_read(request, auth.principal_of(request), decide(_reader(actor), Read.TICKET_LIST),
                     detail=f"ticket list, {_listed(found)}")
    return web.json_response({"tickets": [ticket_list_json(t, actor, Read.TICKET_LIST) for t in found]})


async def _readable(request: web.Request, actor: Actor, read: Read) -> tuple[Ticket, list[TicketEvent], Subject]:
    """The ticket of the path, once the policy has let `actor` make `read` of it: the one audit
    row of the read is written either way. A refusal that hides the ticket (`Decision.absent`:
    another unit's, a complaint about the reader) is told 404; anyone else 403."""
    store = request.app[TICKET_STORE]
    ticket, events = await store.get_with_events(_ticket_no(request))
    subject = subject_of(ticket, events, answered_by=await store.call_agents(ticket.call_ids))
    decision = decide(_reader(actor), read, subject)
    await audit_read(request, auth.principal_of(request), decision, ticket_no=ticket.ticket_no,
                     caller_number=ticket.caller.number, confidential=ticket.caller.confidential,
                     detail="number revealed" if read is Read.CONFIDENTIAL_NUMBER else "ticket and events")
    if not decision.allowed:
        if decision.absent or actor.role is Role.UNIT:
            raise NotFound("no such ticket", ticket_no=ticket.ticket_no)
        raise PermissionDenied(f"you may not read this ticket: {decision.reason}",
                               ticket_no=ticket.ticket_no, user=actor.id)
    return ticket, events, subject


async def _related(store: TicketStore, events: list[TicketEvent], reader: Reader) -> tuple[str, ...] | None:
    """The related tickets named by the ticket's supervision flags that `reader` may read
    (None: every one, for a reader of every ticket, without reading them)."""
    if scope_of(Read.TICKET, reader.role) is Scope.ANY:
        return None
    named = {n for e in events if isinstance(e, SupervisionFlagged) for n in e.related_ticket_nos}
    related = []
    for no in sorted(named):
        try:
            other, other_events = await store.get_with_events(no)
        except NotFound:
            continue
        related.append(Related(no, subject_of(other, other_events,
                                              answered_by=await store.call_agents(other.call_ids))))
    return visible_related(reader, related)


@routes.get("/api/tickets/{no}")
async def get_ticket(request: web.Request) -> web.Response:
    actor = _actor(request, TICKET_READERS)
    ticket, events, subject = await _readable(request, actor, Read.TICKET)
    shown = shows_number(_reader(actor), Read.TICKET, subject)
    related = await _related(request.app[TICKET_STORE], events, _reader(actor))
    return web.json_response({
        "ticket": ticket_json(ticket, actor, shown=shown),
        "events": [event_json(e, actor, shown=shown, related=related) for e in events],
        "actions": offered_actions(ticket, actor),
    })


def offered_actions(ticket: Ticket, actor: Actor) -> list[str]:
    """The command names (`POST .../commands/{name}`) the reader may send to the ticket as it
    stands (`workflow.offered_commands`): pages show those buttons and no others."""
    offered = set(workflow.offered_commands(ticket, actor))
    return [name for name, spec in COMMANDS.items() if spec.command in offered]


@routes.post("/api/tickets/{no}/reveal")
async def reveal_number(request: web.Request) -> web.Response:
    """A confidential caller's numbers, shown in no view: each reveal is one audited read."""
    actor = _actor(request, REVEALERS)
    ticket, _, _ = await _readable(request, actor, Read.CONFIDENTIAL_NUMBER)
    return web.json_response({"ticket_no": ticket.ticket_no, "caller_number": ticket.caller.number,
                              "callback_number": ticket.callback_number},
                             headers={"Cache-Control": "no-store"})


def _may_run(actor: Actor, spec: CommandSpec) -> None:
    """The command's role gate (`workflow.ROLES`, which `decide` checks again), at the edge."""
    if actor.role not in workflow.ROLES[spec.command]:
        raise PermissionDenied(f"role {actor.role.value} may not {spec.command.__name__}", user=actor.id)


@routes.post("/api/tickets/{no}/commands/{command}")
async def run_command(request: web.Request) -> web.Response:
    actor = _actor(request)
    spec = COMMANDS.get(request.match_info["command"])
    if spec is None:
        raise NotFound("no such command", command=request.match_info["command"][:64])
    no = _ticket_no(request)
    store = request.app[TICKET_STORE]
    guard = hide_from(actor)
    if actor.role is not Role.UNIT:
        _may_run(actor, spec)  # before anything is read: a refused role learns nothing of tickets
    ticket = await store.get(no)
    guard(ticket)
    if actor.role is Role.UNIT:
        _may_run(actor, spec)  # only now: a unit learns first whether the ticket is its own (404)
    body = await _body(request, spec.body)
    check_evidence(request.app[EVIDENCE_STORE], body.attachments)

    async def save(within: Within | None) -> tuple[Ticket, TicketEvent]:
        context = _Context(ticket, store.now(), request.app[DISPATCH_CATALOGUE],
                           request.app[WORKING_CALENDAR], store.policy)
        command = spec.to_command(body, context)
        return await store.transition(no, command, actor, body.expected_version, guard=guard,
                                      within=within)

    return await _saved_once(request, actor, 200, save)


@routes.get("/api/tickets/{no}/suggested-units")
async def suggested_units(request: web.Request) -> web.Response:
    actor = _actor(request, HOTLINE_ROLES)
    ticket = await visible_ticket(request.app[TICKET_STORE], _ticket_no(request), actor)
    text = " ".join(p for p in (ticket.summary, ticket.content, ticket.location) if p)
    suggestions = suggest_units(request.app[DISPATCH_CATALOGUE], text, ticket.ticket_type,
                                ticket.district, ticket.urgency)
    return web.json_response({"suggestions": [{
        "unit": s.unit, "unit_name": s.unit_name, "score": s.score, "matter": s.matter,
        "matched_keywords": list(s.matched_keywords),
        "term": {"working_days": s.term.working_days, "hours": s.term.hours},
    } for s in suggestions]})


@routes.get("/api/callers/{number}/tickets")
async def caller_history(request: web.Request) -> web.Response:
    """A caller's history is personal data: every read, and every refused attempt, is audited."""
    principal = auth.require(request)
    key = PhoneNumber.parse(request.match_info["number"], field="number").digits
    decision = decide(reader_of(principal), Read.CALLER_HISTORY)
    if not decision.allowed:
        await audit_read(request, principal, decision, caller_number=key, detail="caller's tickets")
        raise PermissionDenied(decision.reason, user=principal.user)
    actor = _actor(request, HISTORY_READERS)
    found = await request.app[TICKET_STORE].caller_history(
        key, limit=int_query(request, "limit", 50, 1, 500), reader=actor.id)
    await audit_read(request, principal, decision, caller_number=key,
                     confidential=any(t.caller.confidential for t in found),
                     detail=f"caller's tickets, {_listed(found)}")
    return web.json_response({"tickets": [ticket_list_json(t, actor, Read.CALLER_HISTORY) for t in found]})


# ---- OpenAPI -------------------------------------------------------------------------------

def operations() -> list[Operation]:
    """Every operation of this API; the app's document is held to its routes by a test."""
    ops = [
        Operation("post", "/api/tickets", "Register a ticket (受理)", workflow.ROLES[workflow.Register],
                  RegisterBody, success=201, idempotent=True),
        Operation("get", "/api/tickets", "List tickets, newest first; a unit sees its own only (audited)",
                  TICKET_LISTERS,
                  query=(("status", "string"), ("limit", "integer"), ("offset", "integer"))),
        Operation("get", "/api/tickets/{no}", "A ticket and its events (audited)", TICKET_READERS,
                  note="kernel.access_policy: an agent the tickets they worked on; a unit the tickets "
                       "dispatched to it; confidential callers' numbers masked"),
        Operation("post", "/api/tickets/{no}/reveal",
                  "A confidential caller's full numbers (supervisors; each reveal audited)", REVEALERS),
        Operation("get", "/api/tickets/{no}/suggested-units", "Units for the ticket", HOTLINE_ROLES),
        Operation("get", "/api/callers/{number}/tickets", "A caller's tickets, newest first (audited, "
                  "refusals too)", HISTORY_READERS, query=(("limit", "integer"),)),
    ]
    for name, spec in COMMANDS.items():
        ops.append(Operation("post", f"/api/tickets/{{no}}/commands/{name}", spec.summary,
                             workflow.ROLES[spec.command], spec.body, idempotent=True))
    return ops
