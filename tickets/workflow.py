"""The ticket workflow as a pure state machine (sans-I/O).

`apply(ticket, command, actor, now)` checks the command against the actor's role and the
ticket's status, then returns `(new_ticket, event)`. It is split into two halves, in the manner
of an event-sourced aggregate:

* `decide` validates and produces the event (this is where the regulations are enforced);
* `evolve` applies an event to a snapshot and never refuses: events are facts.

So `fold(events)` rebuilds exactly the snapshot that `apply` returned, a repository can store
either or both, and every snapshot's `version` equals the number of events behind it.

Commands carry absolute deadlines: the service layer computes them with `tickets.deadlines`
and `tickets.dispatch`, so this module needs neither a calendar nor the catalogue and stays
deterministic. It must never read a clock, a file, a database or the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kernel.errors import IllegalTransition, InvalidInput, PermissionDenied
from kernel.roles import AGENTS, REVIEWERS, Actor, Role
from tickets.escalation import escalation_refusal
from tickets.events import (
    AnsweredDirectly,
    AnsweredInThreeWayCall,
    Archived,
    CallbackRecorded,
    CallbackUnreached,
    CallerContacted,
    ClosedOutOfScope,
    DeadlineCallbackRecorded,
    Dispatched,
    ExtensionApproved,
    ExtensionDenied,
    ExtensionRequested,
    FeedbackAccepted,
    FeedbackRejected,
    FeedbackSubmitted,
    HandlingResumed,
    ProgressNoted,
    QualityFindingRecorded,
    RelayCallHeld,
    ReopenReviewed,
    ReturnApproved,
    ReturnRejected,
    ReturnRequested,
    Signed,
    SupervisionEscalated,
    SupervisionFlagged,
    SuspensionApproved,
    SuspensionRejected,
    SuspensionRequested,
    TerminationApproved,
    TerminationRejected,
    TerminationRequested,
    TicketClassified,
    TicketEvent,
    TicketRegistered,
)
from tickets.model import (
    DEADLINE_CALLBACK_STATUSES,
    EMERGENCY_LINES,
    HOTLINE_REVIEW_STATUSES,
    UNIT_UNFINISHED_STATUSES,
    Attachment,
    Caller,
    Channel,
    ClosureReason,
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

S = TicketStatus


# --------------------------------------------------------------------------------------------
# Policy


@dataclass(frozen=True)
class WorkflowPolicy:
    """Numbers the regulations leave to the hotline centre."""

    #: After this many approved returns the ticket needs a joint meeting (联席会议, 临沂条例
    #: 第十五条第三项: 反复回退、难以确定承办单位) before it may be dispatched again.
    joint_meeting_after_returns: int = 2
    #: Re-opens after a reasonable dissatisfaction (临沂条例第二十条 再次办理) before the next
    #: reasonable one goes to 热线督办 (第三十条: 多次反映未解决) instead of another round.
    max_reopens: int = 2
    #: Extensions per ticket, and the clock time all of them together may add (北京条例第十五条
    #: 第二项 allows extending "确需", without numbers: the centre sets them).
    max_extensions: int = 2
    max_extension_total: timedelta = timedelta(days=30)
    #: Attempts to reach the caller before the callback's outcome may be 未回访成功.
    callback_attempts: int = 3
    #: 济南条例 逐一审核: the hotline reviews each feedback (`AcceptFeedback`) before the
    #: callback. Off, the callback follows the feedback directly (the behaviour before the
    #: rule; `[workflow] review_feedback` turns it on).
    review_feedback: bool = False
    #: Working days after dispatch within which the unit may ask for a return. The service
    #: layer turns it into `Dispatch.return_deadline` on the calendar; this module never does.
    return_window_working_days: int = 2
    #: Working days after dispatch within which the lead unit contacts the caller (济南条例:
    #: 承办单位应当在5个工作日内与来电人联系并答复, 要求不回复的除外). The service layer turns it
    #: into `Dispatch.first_contact_deadline` on the calendar, as for the return window.
    first_contact_working_days: int = 5


DEFAULT_POLICY = WorkflowPolicy()


# --------------------------------------------------------------------------------------------
# Commands: what an actor asks for. Validated here; untrusted input is validated at the edge.


@dataclass(frozen=True, kw_only=True)
class Command:
    reason: str = ""
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Register(Command):
    ticket_no: str
    channel: Channel
    caller: Caller
    ticket_type: TicketType | None = None
    urgency: Urgency = Urgency.NORMAL
    summary: str = ""
    content: str = ""
    location: str = ""
    district: str | None = None
    call_ids: tuple[str, ...] = ()
    recordings: tuple[Attachment, ...] = ()
    transcripts: tuple[Attachment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Classify(Command):
    ticket_type: TicketType
    summary: str
    content: str = ""
    location: str = ""
    district: str | None = None
    urgency: Urgency = Urgency.NORMAL
    callback_number: str | None = None
    #: 投诉热线工作人员: the account (工号) of the hotline staff member the complaint is about.
    #: Only with `ticket_type` complaint; the ticket then goes to the quality team
    #: (`QUALITY_CHECK`) and is never dispatched (`_decide_classify`).
    about_staff: str | None = None


@dataclass(frozen=True, kw_only=True)
class AnswerDirectly(Command):
    answer: str
    knowledge_article_id: str | None = None
    knowledge_article_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class AnswerInThreeWayCall(Command):
    """三方连线答复. 临沂条例第十四条: a request not answered directly is taken to the unit on
    line (三方连线) only 征得诉求人同意: `caller_consented` says the agent asked and the caller
    agreed (the desk rings no unit without it)."""

    unit: str
    answer: str
    call_id: str | None = None
    caller_consented: bool = False


@dataclass(frozen=True, kw_only=True)
class CloseOutOfScope(Command):
    scope: OutOfScope
    referred_to: str = ""
    duplicate_of: str | None = None


@dataclass(frozen=True, kw_only=True)
class Dispatch(Command):
    lead_unit: str
    deadline: datetime
    sign_deadline: datetime
    cooperating_units: tuple[str, ...] = ()
    #: The unit may ask for a return until then (the service computes it from the policy's
    #: working days); None: no window.
    return_deadline: datetime | None = None
    #: Minutes of the joint meeting that chose the unit; required once one is due.
    joint_meeting_minutes: Attachment | None = None
    #: The lead unit contacts the caller by then (the service computes it from the policy's
    #: working days). Dropped when the caller asked for no reply; None: no such deadline.
    first_contact_deadline: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Sign(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RequestReturn(Command):
    """Reason in `reason`, evidence (证明材料) in `attachments`: both required."""


@dataclass(frozen=True, kw_only=True)
class ApproveReturn(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RejectReturn(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RequestExtension(Command):
    requested_deadline: datetime
    #: 北京条例第十五条第二项: 确需延长办理时限的，向诉求人说明理由. Required.
    caller_informed: bool = False


@dataclass(frozen=True, kw_only=True)
class ApproveExtension(Command):
    """`new_deadline` may be shorter than what the unit asked for, never before the old one."""

    new_deadline: datetime


@dataclass(frozen=True, kw_only=True)
class DenyExtension(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RequestTermination(Command):
    ground: TerminationGround
    #: 第十九条 requires that the unit has already explained the rules to the caller.
    explained_to_caller: bool = False


@dataclass(frozen=True, kw_only=True)
class ApproveTermination(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RejectTermination(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RequestSuspension(Command):
    """申请中止办理 (唐山条例 延期中止): reason and evidence, both required."""


@dataclass(frozen=True, kw_only=True)
class ApproveSuspension(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RejectSuspension(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class ResumeHandling(Command):
    """恢复办理: what stopped the handling is over; the clock runs on from where it stood."""


@dataclass(frozen=True, kw_only=True)
class AddProgressNote(Command):
    note: str


@dataclass(frozen=True, kw_only=True)
class RecordContact(Command):
    """The lead unit contacted the caller (济南条例: 承办单位应当在5个工作日内与来电人联系并答复,
    要求不回复的除外): how (phone, SMS, visit) and what was said (`note`, required). Allowed
    while the unit has not finished; the first contact meets the first-contact deadline, later
    ones go on the record. A connected relay call (保密联络) counts as a contact by itself, and
    so does a feedback saying the caller was contacted when none was recorded before."""

    method: ContactMethod
    note: str


@dataclass(frozen=True, kw_only=True)
class SubmitFeedback(Command):
    """反馈. `contacted_caller`: the unit says it contacted the caller; with no contact recorded
    before, the feedback counts as the first contact (at its own time: a late one was late)."""

    result: str
    contacted_caller: bool = True


@dataclass(frozen=True, kw_only=True)
class RecordQualityFinding(Command):
    """质检结论 on a complaint about hotline staff: the quality team's `finding` and the `result`
    (what was done: 批评教育、培训、调离岗位..., and what the caller is told).

    北京条例第三十三条第一项 names 对诉求人服务态度恶劣粗暴 among the failings to correct; 济南条例:
    对热线受理人员态度生硬、作风粗暴、敷衍塞责等不规范的服务行为，来电人有权投诉举报, which the hotline
    answers through its own quality checks, not through a handling unit. The finding stands for
    a unit's feedback (反馈): the callback is due at once (`FEEDBACK_ACCEPTED`, no review of the
    hotline's own answer), so the caller is called back and the ticket closes as any other.
    """

    finding: QualityFinding
    result: str


@dataclass(frozen=True, kw_only=True)
class AcceptFeedback(Command):
    """济南条例: 对承办单位反馈的热线事项，市热线工作机构应逐一审核. Accepted: the callback is due."""


@dataclass(frozen=True, kw_only=True)
class RejectFeedback(Command):
    """The feedback does not answer the request: back to the unit (reason required)."""


@dataclass(frozen=True, kw_only=True)
class RecordCallback(Command):
    """回访. `satisfaction` None: the caller was reached but declined to rate (a caller never
    reached is `CloseUnreached`).

    The ticket goes back to the same unit when the unit did not do what it had to
    (`handled_as_required=False`, 应办未办); `new_deadline` is then required. An unsatisfied
    caller's request waits for the hotline's judgement (`ReviewReopen`): dissatisfaction alone
    re-opens nothing (临沂条例第二十条: 不满意**且**诉求合理). `reasonable` is kept for old
    clients and ignored.
    """

    satisfaction: Satisfaction | None
    reasonable: bool = False
    handled_as_required: bool = True
    new_deadline: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ReviewReopen(Command):
    """The hotline judges an unsatisfied caller's request (临沂条例第二十条).

    Reasonable: back to the same unit by `new_deadline` (再次办理), or, once the ticket was
    re-opened `max_reopens` times, back under 热线督办 (flag `repeated`, 第三十条: 多次反映未解决)
    rather than as one more routine round. Unreasonable: closed; `reason` says why.
    """

    reasonable: bool
    new_deadline: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RecordDeadlineCallback(Command):
    """时限届满回访 (北京条例第二十三条: 诉求办理时限届满，市民热线服务工作机构应当…对诉求人进行
    回访，了解诉求办理情况), whether or not the unit has given feedback. Refused before the
    deadline. What the caller says of the handling so far is recorded and the ticket stays with
    the unit (it has not finished: nothing closes, nothing re-opens); an unsatisfied caller puts
    the unit under 热线督办 (临沂条例第三十条). `satisfaction` None: declined to say, or (with
    `reached` False) never reached after the tries."""

    satisfaction: Satisfaction | None
    reached: bool = True


@dataclass(frozen=True, kw_only=True)
class CloseUnreached(Command):
    """未回访成功 (北京条例第二十三条): the caller was tried `attempts` times and never reached.
    Refused before `callback_attempts` attempts; closes with its own outcome."""

    attempts: int


@dataclass(frozen=True, kw_only=True)
class RecordRelayCall(Command):
    """保密联络 (临沂条例第十七条第四项): the relay call a unit placed through the hotline goes
    on the ticket, so the contact with the confidential caller is on the record."""

    call_id: str
    calling_number: str
    connected: bool
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class FlagForSupervision(Command):
    kind: SupervisionFlagKind
    related_ticket_nos: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Escalate(Command):
    to_level: SupervisionLevel
    ground: EscalationGround


@dataclass(frozen=True, kw_only=True)
class Archive(Command):
    pass


# --------------------------------------------------------------------------------------------
# Who may do what, from which status. One table each, so a reader can audit them at a glance.

_HOTLINE_DESK = AGENTS | {Role.DISPATCHER, Role.SUPERVISOR}
_UNIT = frozenset({Role.UNIT})
_ALL_OPEN = frozenset(s for s in TicketStatus if s not in (S.CLOSED, S.ARCHIVED))
_SUPERVISABLE = _ALL_OPEN - {S.DRAFT}
#: Where a callback may be made: after the feedback, or after its review when that is policy
#: (`_callback_refusal`).
_CALLBACK_DUE = frozenset({S.FEEDBACK_SUBMITTED, S.FEEDBACK_ACCEPTED})
#: 回访员 and 班长: the callback, its outcome and the judgement of a dissatisfaction.
_CALLBACK_DESK = frozenset({Role.CALLBACK_AGENT, Role.SUPERVISOR})
#: The quality team (质检组) that handles complaints about hotline staff: the supervisors (班长,
#: who already hold the floor's quality checks, listen to calls and see every ticket). No role
#: of its own: a 质检 role would touch accounts and every rule table for what 班长 already do.
QUALITY_TEAM = frozenset({Role.SUPERVISOR})

ROLES: dict[type[Command], frozenset[Role]] = {
    Register: AGENTS | {Role.SUPERVISOR, Role.SYSTEM},
    Classify: _HOTLINE_DESK,
    AnswerDirectly: AGENTS | {Role.SUPERVISOR},
    AnswerInThreeWayCall: AGENTS | {Role.SUPERVISOR},
    # 不予受理: judged at intake by whoever of the hotline has the draft (the agent on the call, or
    # the dispatcher the agent submitted it to).
    CloseOutOfScope: _HOTLINE_DESK,
    Dispatch: REVIEWERS,
    Sign: _UNIT,
    RequestReturn: _UNIT,
    ApproveReturn: REVIEWERS,
    RejectReturn: REVIEWERS,
    RequestExtension: _UNIT,
    ApproveExtension: REVIEWERS,
    DenyExtension: REVIEWERS,
    RequestTermination: _UNIT,
    ApproveTermination: REVIEWERS,
    RejectTermination: REVIEWERS,
    AddProgressNote: AGENTS | {Role.DISPATCHER, Role.CALLBACK_AGENT, Role.SUPERVISOR, Role.UNIT},
    RecordContact: _UNIT,
    SubmitFeedback: _UNIT,
    AcceptFeedback: REVIEWERS | _CALLBACK_DESK,
    RejectFeedback: REVIEWERS | _CALLBACK_DESK,
    RecordCallback: _CALLBACK_DESK,
    ReviewReopen: _CALLBACK_DESK,
    CloseUnreached: _CALLBACK_DESK,
    RecordDeadlineCallback: _CALLBACK_DESK,
    RecordQualityFinding: QUALITY_TEAM,
    RequestSuspension: _UNIT,
    ApproveSuspension: REVIEWERS,
    RejectSuspension: REVIEWERS,
    ResumeHandling: _UNIT | REVIEWERS,
    FlagForSupervision: frozenset({Role.SUPERVISOR, Role.SYSTEM}),
    RecordRelayCall: frozenset({Role.SYSTEM}),
    Escalate: frozenset({Role.SUPERVISOR}),
    Archive: frozenset({Role.SUPERVISOR, Role.SYSTEM}),
}

FROM_STATUSES: dict[type[Command], frozenset[TicketStatus]] = {
    Classify: frozenset({S.DRAFT, S.PENDING_DISPATCH}),
    AnswerDirectly: frozenset({S.DRAFT}),
    AnswerInThreeWayCall: frozenset({S.DRAFT}),
    CloseOutOfScope: frozenset({S.DRAFT}),
    Dispatch: frozenset({S.DRAFT, S.PENDING_DISPATCH}),
    Sign: frozenset({S.DISPATCHED}),
    RequestReturn: frozenset({S.DISPATCHED, S.IN_PROGRESS}),
    ApproveReturn: frozenset({S.RETURN_REQUESTED}),
    RejectReturn: frozenset({S.RETURN_REQUESTED}),
    RequestExtension: frozenset({S.IN_PROGRESS}),
    ApproveExtension: frozenset({S.EXTENSION_REQUESTED}),
    DenyExtension: frozenset({S.EXTENSION_REQUESTED}),
    RequestTermination: frozenset({S.IN_PROGRESS}),
    ApproveTermination: frozenset({S.TERMINATION_REQUESTED}),
    RejectTermination: frozenset({S.TERMINATION_REQUESTED}),
    AddProgressNote: _ALL_OPEN,
    RecordContact: UNIT_UNFINISHED_STATUSES,
    SubmitFeedback: frozenset({S.IN_PROGRESS}),
    AcceptFeedback: frozenset({S.FEEDBACK_SUBMITTED}),
    RejectFeedback: frozenset({S.FEEDBACK_SUBMITTED}),
    RecordCallback: _CALLBACK_DUE,
    ReviewReopen: frozenset({S.REOPEN_REQUESTED}),
    CloseUnreached: _CALLBACK_DUE,
    RecordDeadlineCallback: DEADLINE_CALLBACK_STATUSES,
    RecordQualityFinding: frozenset({S.QUALITY_CHECK}),
    RequestSuspension: frozenset({S.IN_PROGRESS}),
    ApproveSuspension: frozenset({S.SUSPENSION_REQUESTED}),
    RejectSuspension: frozenset({S.SUSPENSION_REQUESTED}),
    ResumeHandling: frozenset({S.SUSPENDED}),
    FlagForSupervision: _SUPERVISABLE,
    RecordRelayCall: _SUPERVISABLE,
    Escalate: _SUPERVISABLE,
    Archive: frozenset({S.CLOSED}),
}

#: Commands only the lead unit may send (when the actor is a unit).
_LEAD_UNIT_ONLY = (Sign, RequestReturn, RequestExtension, RequestTermination, SubmitFeedback,
                   RequestSuspension, ResumeHandling, RecordContact)


# --------------------------------------------------------------------------------------------
# Entry points


def apply(
    ticket: Ticket | None,
    command: Command,
    actor: Actor,
    now: datetime,
    policy: WorkflowPolicy = DEFAULT_POLICY,
) -> tuple[Ticket, TicketEvent]:
    """Perform one transition. Raises PermissionDenied, IllegalTransition or InvalidInput."""
    event = decide(ticket, command, actor, now, policy)
    return evolve(ticket, event), event


def fold(events: Iterable[TicketEvent]) -> Ticket:
    """Rebuild a ticket from its events (oldest first)."""
    ticket: Ticket | None = None
    for event in events:
        expected = 1 if ticket is None else ticket.version + 1
        if event.version != expected:
            raise InvalidInput(
                "events out of order", ticket_no=event.ticket_no,
                version=event.version, expected=expected,
            )
        ticket = evolve(ticket, event)
    if ticket is None:
        raise InvalidInput("no events to fold")
    return ticket


def decide(
    ticket: Ticket | None,
    command: Command,
    actor: Actor,
    now: datetime,
    policy: WorkflowPolicy = DEFAULT_POLICY,
) -> TicketEvent:
    """Check a command and return the event it produces; never changes anything."""
    if now.tzinfo is None:
        raise InvalidInput("naive datetime given to the workflow", command=type(command).__name__)
    _check_role(ticket, command, actor)
    if ticket is None:
        if not isinstance(command, Register):
            raise IllegalTransition(
                "a ticket must be registered first", command=type(command).__name__
            )
        return _decide_register(command, actor, now)
    if isinstance(command, Register):
        raise IllegalTransition(
            "ticket already registered", ticket_no=ticket.ticket_no, command="Register"
        )
    _check_concerned_staff(ticket, command, actor)
    _check_staff_complaint(ticket, command)
    _check_status(ticket, command, actor)
    _check_unit(ticket, command, actor)
    handler = _DECIDERS[type(command)]
    base = {
        "ticket_no": ticket.ticket_no,
        "version": ticket.version + 1,
        "occurred_at": now,
        "actor": actor,
        "reason": command.reason,
        "attachments": command.attachments,
    }
    return handler(ticket, command, now, policy, base)


# --------------------------------------------------------------------------------------------
# Checks shared by all commands


def _context(
    ticket: Ticket | None, command: Command, actor: Actor, **extra: object
) -> dict[str, object]:
    return {
        "ticket_no": ticket.ticket_no if ticket else getattr(command, "ticket_no", None),
        "status": ticket.status.value if ticket else None,
        "command": type(command).__name__,
        "actor": actor.id,
        "role": actor.role.value,
        **extra,
    }


def _role_refusal(kind: type[Command], actor: Actor) -> str | None:
    """Why `actor`'s role may not send `kind` at all, or None."""
    if actor.role not in ROLES[kind]:
        return f"role {actor.role.value} may not {kind.__name__}"
    if actor.role is Role.UNIT and not actor.unit:
        return "unit actor without a unit"
    return None


def _unit_refusal(ticket: Ticket, kind: type[Command], actor: Actor) -> str | None:
    """Units act only on tickets dispatched to them; most acts belong to the lead unit."""
    if actor.role is not Role.UNIT:
        return None
    if issubclass(kind, _LEAD_UNIT_ONLY):
        return None if actor.unit == ticket.lead_unit else "only the lead unit may do this"
    return None if actor.unit and ticket.involves_unit(actor.unit) else "ticket not dispatched to this unit"


def _check_role(ticket: Ticket | None, command: Command, actor: Actor) -> None:
    if type(command) not in ROLES:
        raise InvalidInput("unknown command", command=type(command).__name__)
    if (refusal := _role_refusal(type(command), actor)) is not None:
        raise PermissionDenied(refusal, **_context(ticket, command, actor))


def offered_commands(ticket: Ticket, actor: Actor) -> list[type[Command]]:
    """The commands `actor` may send to `ticket` as it stands: the same role, status and unit
    rules `decide` applies first (`_role_refusal`, `FROM_STATUSES`, `_unit_refusal`). What pages
    offer a person, so a page never shows a button the server would refuse for who or where;
    the command's own checks (deadlines, texts) still come at `decide`."""
    return [kind for kind in ROLES
            if kind in FROM_STATUSES  # Register has no status to come from: never offered
            and ticket.status in FROM_STATUSES[kind]
            and _role_refusal(kind, actor) is None and _unit_refusal(ticket, kind, actor) is None
            and _concerned_refusal(ticket, actor) is None]


def _concerned_refusal(ticket: Ticket, actor: Actor) -> str | None:
    """The staff member a complaint is about never acts on it (nor reads it:
    `kernel.access_policy`): the complainant is protected from the person complained about."""
    if ticket.about_staff is not None and actor.id == ticket.about_staff:
        return "投诉涉及本人的工单由质检组处理，本人不得办理"
    return None


def _check_concerned_staff(ticket: Ticket, command: Command, actor: Actor) -> None:
    if (refusal := _concerned_refusal(ticket, actor)) is not None:
        raise PermissionDenied(refusal, **_context(ticket, command, actor, rule="concerned_staff"))


#: What a complaint about hotline staff never goes through: a handling unit has no say over the
#: hotline's own staff, so it is neither dispatched nor answered by a unit on line.
_NOT_FOR_STAFF_COMPLAINTS = (Dispatch,)


def _check_staff_complaint(ticket: Ticket, command: Command) -> None:
    """A complaint about hotline staff is the quality team's (北京条例第三十三条第一项; 济南条例:
    投诉热线受理人员 is answered by the hotline's own quality checks): never dispatched to a unit.
    Checked before the status, so the refusal names this rule rather than the status."""
    if ticket.about_staff is not None and isinstance(command, _NOT_FOR_STAFF_COMPLAINTS):
        _refuse(ticket, command, "投诉热线工作人员的工单由质检组（班长）处理，不派发承办单位",
                "staff_complaint_not_dispatched")


def _check_status(ticket: Ticket, command: Command, actor: Actor) -> None:
    if ticket.status not in FROM_STATUSES[type(command)]:
        raise IllegalTransition(
            f"{type(command).__name__} is not allowed in status {ticket.status.value}",
            **_context(ticket, command, actor),
        )


def _check_unit(ticket: Ticket, command: Command, actor: Actor) -> None:
    if (refusal := _unit_refusal(ticket, type(command), actor)) is not None:
        lead = {"lead_unit": ticket.lead_unit} if issubclass(type(command), _LEAD_UNIT_ONLY) else {}
        raise PermissionDenied(refusal, **_context(ticket, command, actor, unit=actor.unit, **lead))


def _refuse(ticket: Ticket, command: Command, message: str, rule: str, **extra: object) -> None:
    raise IllegalTransition(
        message,
        ticket_no=ticket.ticket_no, status=ticket.status.value,
        command=type(command).__name__, rule=rule, **extra,
    )


def _require_text(ticket: Ticket, command: Command, value: str, name: str) -> None:
    if not value.strip():
        raise InvalidInput(
            f"{name} must not be empty",
            ticket_no=ticket.ticket_no, command=type(command).__name__, field=name,
        )


def _require_evidence(ticket: Ticket, command: Command, message: str) -> None:
    """A unit's request that ends or pauses its duty needs a reason and evidence (证明材料,
    临沂条例第十六条、第十八条、第十九条)."""
    if not command.reason.strip() or not command.attachments:
        _refuse(ticket, command, message, "evidence_required")


def _require_aware(ticket: Ticket, command: Command, value: datetime, name: str) -> None:
    if value.tzinfo is None:
        raise InvalidInput(
            f"{name} must be timezone-aware",
            ticket_no=ticket.ticket_no, command=type(command).__name__, field=name,
        )


# --------------------------------------------------------------------------------------------
# Deciders: one per command


def _decide_register(command: Register, actor: Actor, now: datetime) -> TicketRegistered:
    if not command.ticket_no:
        raise InvalidInput("ticket_no must not be empty", command="Register")
    return TicketRegistered(
        ticket_no=command.ticket_no, version=1, occurred_at=now, actor=actor,
        reason=command.reason, attachments=command.attachments,
        channel=command.channel, caller=command.caller, ticket_type=command.ticket_type,
        urgency=command.urgency, summary=command.summary, content=command.content,
        location=command.location, district=command.district, call_ids=command.call_ids,
        recordings=command.recordings, transcripts=command.transcripts,
    )


def _decide_classify(
    t: Ticket, c: Classify, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.summary, "summary")
    about_staff = (c.about_staff or "").strip() or None
    if about_staff is not None and c.ticket_type is not TicketType.COMPLAINT:
        # 投诉 is the regulations' own type (北京条例第二条): a complaint about staff stays one,
        # in every count by type; the mark says whom it is about, and so who handles it.
        _refuse(t, c, "只有投诉类工单可以标记为投诉热线工作人员", "staff_complaint_is_complaint",
                ticket_type=c.ticket_type.value)
    # Fields the agent leaves empty keep what intake recorded: classifying must never erase the
    # caller's own account of the request (the event still records the full resulting values).
    return TicketClassified(
        **base, ticket_type=c.ticket_type, urgency=c.urgency, summary=c.summary,
        content=c.content or t.content, location=c.location or t.location,
        district=c.district or t.district, callback_number=c.callback_number or t.callback_number,
        about_staff=about_staff,
    )


def _decide_answer_directly(
    t: Ticket, c: AnswerDirectly, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.answer, "answer")
    return AnsweredDirectly(**base, answer=c.answer, knowledge_article_id=c.knowledge_article_id,
                            knowledge_article_version=c.knowledge_article_version)


def _decide_three_way(
    t: Ticket, c: AnswerInThreeWayCall, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.unit, "unit")
    _require_text(t, c, c.answer, "answer")
    if not c.caller_consented:
        raise InvalidInput("a three-way call needs the caller's consent (临沂条例第十四条: 征得诉求人同意)",
                           ticket_no=t.ticket_no, command=type(c).__name__, field="caller_consented")
    return AnsweredInThreeWayCall(**base, unit=c.unit, answer=c.answer, call_id=c.call_id,
                                  caller_consented=True)


def _decide_out_of_scope(
    t: Ticket, c: CloseOutOfScope, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    if c.scope is OutOfScope.EMERGENCY_LINE and c.referred_to not in EMERGENCY_LINES:
        _refuse(t, c, "emergency requests are transferred to 110/119/120/122",
                "emergency_line_required", referred_to=c.referred_to)
    if c.scope is OutOfScope.LEGAL_CHANNEL:
        _require_text(t, c, c.referred_to, "referred_to")
    if c.scope is OutOfScope.DUPLICATE:
        if not c.duplicate_of or c.duplicate_of == t.ticket_no:
            _refuse(t, c, "a duplicate must name the open ticket it repeats",
                    "duplicate_of_required", duplicate_of=c.duplicate_of)
    elif c.duplicate_of is not None:
        raise InvalidInput("duplicate_of only for duplicates", ticket_no=t.ticket_no)
    if c.scope is OutOfScope.OUTSIDE_DUTIES:
        # 第五项: the caller is told which market or social channel to use.
        _require_text(t, c, c.referred_to, "referred_to")
    if c.scope in (OutOfScope.SECRET_OR_PRIVACY, OutOfScope.UNLAWFUL_OR_HARASSING):
        # 第四项 解释工作, 第六项 劝导、教育: what the caller was told goes on the record.
        _require_text(t, c, c.reason, "reason")
    return ClosedOutOfScope(
        **base, scope=c.scope, referred_to=c.referred_to, duplicate_of=c.duplicate_of
    )


def _decide_dispatch(
    t: Ticket, c: Dispatch, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    if t.ticket_type is None or not t.summary.strip():
        _refuse(t, c, "classify the ticket (type and summary) before dispatch",
                "classification_required")
    _require_text(t, c, c.lead_unit, "lead_unit")
    _require_aware(t, c, c.deadline, "deadline")
    _require_aware(t, c, c.sign_deadline, "sign_deadline")
    if c.lead_unit in c.cooperating_units or len(set(c.cooperating_units)) != len(
        c.cooperating_units
    ) or any(not u.strip() for u in c.cooperating_units):
        raise InvalidInput(
            "cooperating units must be distinct and differ from the lead unit",
            ticket_no=t.ticket_no, lead_unit=c.lead_unit, cooperating_units=c.cooperating_units,
        )
    if c.deadline <= now:
        _refuse(t, c, "deadline must be in the future", "deadline_in_future",
                deadline=c.deadline.isoformat())
    if not now < c.sign_deadline <= c.deadline:
        _refuse(t, c, "sign deadline must fall between now and the deadline",
                "sign_deadline_in_range", sign_deadline=c.sign_deadline.isoformat())
    if c.return_deadline is not None:
        _require_aware(t, c, c.return_deadline, "return_deadline")
        if c.return_deadline <= now:
            _refuse(t, c, "退回时限须晚于当前时间", "return_window",
                    return_deadline=c.return_deadline.isoformat())
    first_contact_deadline = None if t.caller.no_reply else c.first_contact_deadline
    if first_contact_deadline is not None:
        _require_aware(t, c, first_contact_deadline, "first_contact_deadline")
        if first_contact_deadline <= now:
            _refuse(t, c, "联系诉求人的时限须晚于当前时间", "first_contact_window",
                    first_contact_deadline=first_contact_deadline.isoformat())
    if t.joint_meeting_required and c.joint_meeting_minutes is None:
        _refuse(t, c, "returned repeatedly: a joint meeting (联席会议) must choose the unit",
                "joint_meeting_required", return_count=t.return_count)
    attachments = c.attachments + (
        (c.joint_meeting_minutes,) if c.joint_meeting_minutes is not None else ()
    )
    return Dispatched(
        **{**base, "attachments": attachments},
        lead_unit=c.lead_unit, cooperating_units=c.cooperating_units, deadline=c.deadline,
        sign_deadline=c.sign_deadline, joint_meeting_held=c.joint_meeting_minutes is not None,
        return_deadline=c.return_deadline, first_contact_deadline=first_contact_deadline,
    )


def _decide_sign(
    t: Ticket, c: Sign, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    return Signed(**base)


def _decide_request_return(
    t: Ticket, c: RequestReturn, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_evidence(t, c, "a return needs a reason and evidence (证明材料)")
    if t.return_deadline is not None and now > t.return_deadline:
        # 首接负责制: past the window the unit keeps the ticket (an objection goes to review).
        _refuse(t, c, "已超过派单后申请退回的时限，请按首接负责制办理", "return_window",
                return_deadline=t.return_deadline.isoformat())
    return ReturnRequested(**base)


def _decide_approve_return(
    t: Ticket, c: ApproveReturn, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    count = t.return_count + 1
    return ReturnApproved(
        **base, return_count=count,
        joint_meeting_required=count >= p.joint_meeting_after_returns,
    )


def _decide_reject_return(
    t: Ticket, c: RejectReturn, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.reason, "reason")
    return ReturnRejected(**base)


def _decide_request_extension(
    t: Ticket, c: RequestExtension, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.reason, "reason")
    _require_aware(t, c, c.requested_deadline, "requested_deadline")
    assert t.deadline is not None
    if now >= t.deadline:
        _refuse(t, c, "an extension must be asked for before the deadline",
                "extension_before_deadline", deadline=t.deadline.isoformat())
    if c.requested_deadline <= t.deadline:
        _refuse(t, c, "the requested deadline must be later than the current one",
                "extension_extends", deadline=t.deadline.isoformat())
    if not c.caller_informed:
        _refuse(t, c, "申请延期前须向诉求人说明理由（北京条例第十五条第二项）",
                "caller_informed_required")
    _check_extension_caps(t, c, c.requested_deadline, p)
    return ExtensionRequested(**base, requested_deadline=c.requested_deadline,
                              caller_informed=c.caller_informed)


def _check_extension_caps(t: Ticket, c: Command, new_deadline: datetime, p: WorkflowPolicy) -> None:
    """At most `max_extensions` extensions adding at most `max_extension_total` altogether."""
    assert t.deadline is not None
    if t.extension_count >= p.max_extensions:
        _refuse(t, c, f"每件工单最多延期 {p.max_extensions} 次", "extension_count_cap",
                extension_count=t.extension_count, max_extensions=p.max_extensions)
    total = t.extended_by + (new_deadline - t.deadline)
    if total > p.max_extension_total:
        _refuse(t, c, f"延期累计不得超过 {p.max_extension_total.days} 天",
                "extension_total_cap", extended_days=round(total / timedelta(days=1), 2),
                max_days=p.max_extension_total.days)


def _decide_approve_extension(
    t: Ticket, c: ApproveExtension, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_aware(t, c, c.new_deadline, "new_deadline")
    assert t.deadline is not None
    if c.new_deadline <= t.deadline or c.new_deadline <= now:
        _refuse(t, c, "the new deadline must be later than the current one and than now",
                "extension_extends", deadline=t.deadline.isoformat())
    _check_extension_caps(t, c, c.new_deadline, p)
    return ExtensionApproved(**base, new_deadline=c.new_deadline)


def _decide_deny_extension(
    t: Ticket, c: DenyExtension, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.reason, "reason")
    return ExtensionDenied(**base)


def _decide_request_termination(
    t: Ticket, c: RequestTermination, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_evidence(t, c, "termination needs a reason and evidence (证明材料)")
    if (c.ground is TerminationGround.UNLAWFUL_OR_AGAINST_PUBLIC_ORDER
            and not c.explained_to_caller):
        _refuse(t, c, "the unit must first explain the rules to the caller (第十九条)",
                "explained_to_caller_required")
    return TerminationRequested(
        **base, ground=c.ground, explained_to_caller=c.explained_to_caller
    )


def _decide_approve_termination(
    t: Ticket, c: ApproveTermination, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    return TerminationApproved(**base)


def _decide_reject_termination(
    t: Ticket, c: RejectTermination, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.reason, "reason")
    return TerminationRejected(**base)


def _decide_request_suspension(
    t: Ticket, c: RequestSuspension, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_evidence(t, c, "申请中止办理须说明理由并提供证明材料")
    return SuspensionRequested(**base)


def _decide_approve_suspension(
    t: Ticket, c: ApproveSuspension, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    assert t.deadline is not None
    return SuspensionApproved(**base, remaining=max(t.deadline - now, timedelta(0)))


def _decide_reject_suspension(
    t: Ticket, c: RejectSuspension, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.reason, "reason")
    return SuspensionRejected(**base)


def _decide_resume(
    t: Ticket, c: ResumeHandling, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    assert t.suspended_remaining is not None
    return HandlingResumed(**base, new_deadline=now + t.suspended_remaining)


def _decide_progress(
    t: Ticket, c: AddProgressNote, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.note, "note")
    return ProgressNoted(**base, note=c.note)


def _decide_relay_call(
    t: Ticket, c: RecordRelayCall, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.call_id, "call_id")
    return RelayCallHeld(**base, call_id=c.call_id, calling_number=c.calling_number,
                         connected=c.connected, seconds=round(max(0.0, c.seconds), 1))


def _decide_contact(
    t: Ticket, c: RecordContact, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.note, "note")
    return CallerContacted(**base, method=c.method, note=c.note)


def _decide_deadline_callback(
    t: Ticket, c: RecordDeadlineCallback, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    assert t.deadline is not None  # every status it may come from is after a dispatch
    if now < t.deadline:
        _refuse(t, c, "办理时限届满后方可进行时限届满回访（北京条例第二十三条）",
                "deadline_callback_after_deadline", deadline=t.deadline.isoformat())
    if not c.reached and c.satisfaction is not None:
        raise InvalidInput("a caller never reached gave no view", ticket_no=t.ticket_no,
                           command=type(c).__name__, field="satisfaction")
    return DeadlineCallbackRecorded(**base, satisfaction=c.satisfaction, reached=c.reached,
                                    supervised=c.satisfaction is Satisfaction.UNSATISFIED)


def _decide_feedback(
    t: Ticket, c: SubmitFeedback, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.result, "result")
    return FeedbackSubmitted(**base, result=c.result, contacted_caller=c.contacted_caller)


def _require_new_deadline(t: Ticket, c: Command, new_deadline: datetime | None,
                          now: datetime) -> datetime:
    if new_deadline is None:
        raise InvalidInput("reopening needs a new deadline", ticket_no=t.ticket_no,
                           command=type(c).__name__, field="new_deadline")
    _require_aware(t, c, new_deadline, "new_deadline")
    if new_deadline <= now:
        _refuse(t, c, "deadline must be in the future", "deadline_in_future")
    return new_deadline


def _check_feedback_reviewed(t: Ticket, c: Command, p: WorkflowPolicy) -> None:
    if p.review_feedback and t.status is S.FEEDBACK_SUBMITTED:
        _refuse(t, c, "承办单位的反馈须先经热线审核，方可回访（济南条例 逐一审核）",
                "feedback_review_required")


def _decide_quality_finding(
    t: Ticket, c: RecordQualityFinding, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.result, "result")
    return QualityFindingRecorded(**base, finding=c.finding, result=c.result)


def _decide_accept_feedback(
    t: Ticket, c: AcceptFeedback, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    return FeedbackAccepted(**base)


def _decide_reject_feedback(
    t: Ticket, c: RejectFeedback, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.reason, "reason")
    return FeedbackRejected(**base)


def _decide_callback(
    t: Ticket, c: RecordCallback, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _check_feedback_reviewed(t, c, p)
    reopened = not c.handled_as_required
    review_pending = not reopened and c.satisfaction is Satisfaction.UNSATISFIED
    # A staff complaint goes back to the quality team, which keeps no unit's deadline.
    new_deadline = (_require_new_deadline(t, c, c.new_deadline, now)
                    if reopened and not t.is_staff_complaint else None)
    return CallbackRecorded(
        **base, satisfaction=c.satisfaction, reasonable=False,
        handled_as_required=c.handled_as_required, reopened=reopened,
        new_deadline=new_deadline, review_pending=review_pending,
    )


def _decide_review_reopen(
    t: Ticket, c: ReviewReopen, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    if not c.reasonable:
        _require_text(t, c, c.reason, "reason")
        return ReopenReviewed(**base, reasonable=False, reopened=False)
    new_deadline = (None if t.is_staff_complaint
                    else _require_new_deadline(t, c, c.new_deadline, now))
    supervised = t.reopen_count >= p.max_reopens
    return ReopenReviewed(**base, reasonable=True, reopened=not supervised,
                          supervised=supervised, new_deadline=new_deadline)


def _decide_close_unreached(
    t: Ticket, c: CloseUnreached, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _check_feedback_reviewed(t, c, p)
    if c.attempts < p.callback_attempts:
        _refuse(t, c, f"须先尝试联系诉求人 {p.callback_attempts} 次，方可记为未回访成功",
                "callback_attempts", attempts=c.attempts, required=p.callback_attempts)
    return CallbackUnreached(**base, attempts=c.attempts)


def _decide_flag(
    t: Ticket, c: FlagForSupervision, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    if c.kind in t.supervision_flags:
        _refuse(t, c, "already under supervision for this reason", "flag_once",
                kind=c.kind.value)
    return SupervisionFlagged(**base, kind=c.kind, related_ticket_nos=c.related_ticket_nos)


def _decide_escalate(
    t: Ticket, c: Escalate, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    _require_text(t, c, c.reason, "reason")
    refusal = escalation_refusal(t.supervision_level, c.to_level, c.ground)
    if refusal:
        _refuse(t, c, refusal, "escalation_ladder", from_level=t.supervision_level.name,
                to_level=c.to_level.name, ground=c.ground.value)
    return SupervisionEscalated(
        **base, from_level=t.supervision_level, to_level=c.to_level, ground=c.ground
    )


def _decide_archive(
    t: Ticket, c: Archive, now: datetime, p: WorkflowPolicy, base: dict[str, Any]
) -> TicketEvent:
    return Archived(**base)


_DECIDERS: dict[type[Command], Callable[..., TicketEvent]] = {
    Classify: _decide_classify,
    AnswerDirectly: _decide_answer_directly,
    AnswerInThreeWayCall: _decide_three_way,
    CloseOutOfScope: _decide_out_of_scope,
    Dispatch: _decide_dispatch,
    Sign: _decide_sign,
    RequestReturn: _decide_request_return,
    ApproveReturn: _decide_approve_return,
    RejectReturn: _decide_reject_return,
    RequestExtension: _decide_request_extension,
    ApproveExtension: _decide_approve_extension,
    DenyExtension: _decide_deny_extension,
    RequestTermination: _decide_request_termination,
    ApproveTermination: _decide_approve_termination,
    RejectTermination: _decide_reject_termination,
    AddProgressNote: _decide_progress,
    RecordRelayCall: _decide_relay_call,
    RecordContact: _decide_contact,
    SubmitFeedback: _decide_feedback,
    AcceptFeedback: _decide_accept_feedback,
    RejectFeedback: _decide_reject_feedback,
    RecordQualityFinding: _decide_quality_finding,
    RecordCallback: _decide_callback,
    ReviewReopen: _decide_review_reopen,
    CloseUnreached: _decide_close_unreached,
    RecordDeadlineCallback: _decide_deadline_callback,
    RequestSuspension: _decide_request_suspension,
    ApproveSuspension: _decide_approve_suspension,
    RejectSuspension: _decide_reject_suspension,
    ResumeHandling: _decide_resume,
    FlagForSupervision: _decide_flag,
    Escalate: _decide_escalate,
    Archive: _decide_archive,
}


# --------------------------------------------------------------------------------------------
# Evolve: event -> new snapshot. Total and unconditional; the checks were made in `decide`.


def _contacted(t: Ticket, e: TicketEvent) -> Ticket:
    """The caller was contacted: the first time meets the first-contact deadline."""
    return t if t.first_contacted_at is not None else replace(t, first_contacted_at=e.occurred_at)


def _close(t: Ticket, e: TicketEvent, reason: ClosureReason, **changes: Any) -> Ticket:
    return replace(t, status=S.CLOSED, closure_reason=reason, closed_at=e.occurred_at, **changes)


def evolve(ticket: Ticket | None, event: TicketEvent) -> Ticket:
    """The snapshot after `event`. Bumps `version` and `updated_at` for every event."""
    if ticket is None:
        if not isinstance(event, TicketRegistered):
            raise InvalidInput("the first event must be TicketRegistered",
                               ticket_no=event.ticket_no, event=event.event_type)
        return Ticket(
            ticket_no=event.ticket_no, channel=event.channel, caller=event.caller,
            created_at=event.occurred_at, updated_at=event.occurred_at, version=event.version,
            ticket_type=event.ticket_type, urgency=event.urgency, summary=event.summary,
            content=event.content, location=event.location, district=event.district,
            call_ids=event.call_ids, recordings=event.recordings, transcripts=event.transcripts,
        )
    t = replace(ticket, version=event.version, updated_at=event.occurred_at)
    after = _evolve_open(t, event)
    # A request now waiting for the hotline's review starts its review deadline, and a complaint
    # about staff now with the quality team its clock; any other status has none (a flag or a
    # note while it waits keeps the original time).
    if after.status not in HOTLINE_REVIEW_STATUSES and after.status is not S.QUALITY_CHECK:
        return replace(after, requested_at=None) if after.requested_at is not None else after
    if ticket.status is not after.status:
        return replace(after, requested_at=event.occurred_at)
    return after


def _handled_again(t: Ticket, new_deadline: datetime | None) -> Ticket:
    """Back to whoever handles the request: the same unit by `new_deadline`, or, for a complaint
    about hotline staff, the quality team (a new finding is due; no unit's deadline)."""
    if t.is_staff_complaint:
        return replace(t, status=S.QUALITY_CHECK, feedback_at=None, quality_finding=None)
    return replace(t, status=S.IN_PROGRESS, deadline=new_deadline, feedback_at=None)


def _evolve_open(t: Ticket, event: TicketEvent) -> Ticket:
    match event:
        case TicketClassified():
            classified = replace(
                t, ticket_type=event.ticket_type, urgency=event.urgency, summary=event.summary,
                content=event.content, location=event.location, district=event.district,
                callback_number=event.callback_number,
            )
            if event.about_staff is None:
                return classified
            return replace(classified, status=S.QUALITY_CHECK, about_staff=event.about_staff)
        case QualityFindingRecorded():
            return replace(t, status=S.FEEDBACK_ACCEPTED, feedback_at=event.occurred_at,
                           quality_finding=event.finding)
        case AnsweredDirectly():
            return _close(t, event, ClosureReason.ANSWERED_DIRECTLY)
        case AnsweredInThreeWayCall():
            return _close(t, event, ClosureReason.THREE_WAY_CALL)
        case ClosedOutOfScope():
            return _close(t, event, ClosureReason(event.scope.value),
                          duplicate_of=event.duplicate_of)
        case Dispatched():
            return replace(
                t, status=S.DISPATCHED, lead_unit=event.lead_unit,
                cooperating_units=event.cooperating_units, dispatched_at=event.occurred_at,
                deadline=event.deadline, sign_deadline=event.sign_deadline, signed_at=None,
                joint_meeting_required=t.joint_meeting_required and not event.joint_meeting_held,
                return_deadline=event.return_deadline,
                # A new unit owes its own first contact.
                first_contact_deadline=event.first_contact_deadline, first_contacted_at=None,
            )
        case Signed():
            return replace(t, status=S.IN_PROGRESS, signed_at=event.occurred_at)
        case ReturnRequested():
            return replace(t, status=S.RETURN_REQUESTED)
        case ReturnApproved():
            return replace(
                t, status=S.PENDING_DISPATCH, return_count=event.return_count,
                joint_meeting_required=event.joint_meeting_required, lead_unit=None,
                cooperating_units=(), dispatched_at=None, sign_deadline=None, signed_at=None,
                deadline=None, return_deadline=None, first_contact_deadline=None,
                first_contacted_at=None,
            )
        case ReturnRejected():
            back = S.IN_PROGRESS if t.signed_at is not None else S.DISPATCHED
            return replace(t, status=back, rejected_return_count=t.rejected_return_count + 1)
        case ExtensionRequested():
            return replace(
                t, status=S.EXTENSION_REQUESTED, requested_deadline=event.requested_deadline
            )
        case ExtensionApproved():
            assert t.deadline is not None
            return replace(
                t, status=S.IN_PROGRESS, deadline=event.new_deadline, requested_deadline=None,
                extension_count=t.extension_count + 1,
                extended_by=t.extended_by + (event.new_deadline - t.deadline),
            )
        case ExtensionDenied():
            return replace(t, status=S.IN_PROGRESS, requested_deadline=None)
        case TerminationRequested():
            return replace(t, status=S.TERMINATION_REQUESTED, termination_ground=event.ground)
        case TerminationApproved():
            return _close(t, event, ClosureReason.TERMINATED)
        case TerminationRejected():
            return replace(t, status=S.IN_PROGRESS, termination_ground=None)
        case SuspensionRequested():
            return replace(t, status=S.SUSPENSION_REQUESTED)
        case SuspensionApproved():
            return replace(t, status=S.SUSPENDED, suspended_remaining=event.remaining)
        case SuspensionRejected():
            return replace(t, status=S.IN_PROGRESS)
        case HandlingResumed():
            return replace(t, status=S.IN_PROGRESS, deadline=event.new_deadline,
                           suspended_remaining=None)
        case ProgressNoted():
            return t
        case RelayCallHeld():
            # A unit's call through the relay reached the caller; none counts before a dispatch.
            return _contacted(t, event) if event.connected and t.lead_unit else t
        case CallerContacted():
            return _contacted(t, event)
        case FeedbackSubmitted():
            fed_back = replace(t, status=S.FEEDBACK_SUBMITTED, feedback_at=event.occurred_at)
            return _contacted(fed_back, event) if event.contacted_caller else fed_back
        case FeedbackAccepted():
            return replace(t, status=S.FEEDBACK_ACCEPTED)
        case FeedbackRejected():
            return replace(t, status=S.IN_PROGRESS, feedback_at=None)
        case CallbackRecorded():
            if event.reopened:
                return replace(
                    _handled_again(t, event.new_deadline),
                    reopen_count=t.reopen_count + 1, satisfaction=event.satisfaction,
                )
            if event.review_pending:
                return replace(t, status=S.REOPEN_REQUESTED, satisfaction=event.satisfaction)
            return _close(
                t, event, ClosureReason.CALLBACK_COMPLETED, satisfaction=event.satisfaction
            )
        case ReopenReviewed():
            if not event.reasonable:
                return _close(t, event, ClosureReason.CALLBACK_COMPLETED)
            handled_again = _handled_again(t, event.new_deadline)
            if event.reopened:
                return replace(handled_again, reopen_count=t.reopen_count + 1)
            return replace(
                handled_again, supervision_flags=t.supervision_flags | {SupervisionFlagKind.REPEATED},
                supervision_level=max(t.supervision_level, SupervisionLevel.HOTLINE),
            )
        case CallbackUnreached():
            return _close(t, event, ClosureReason.CALLBACK_UNREACHED)
        case DeadlineCallbackRecorded():
            called = replace(t, deadline_callback_at=event.occurred_at,
                             deadline_callback_view=event.satisfaction)
            if not event.supervised:
                return called
            return replace(
                called,
                supervision_flags=t.supervision_flags | {SupervisionFlagKind.UNSATISFIED_AT_DEADLINE},
                supervision_level=max(t.supervision_level, SupervisionLevel.HOTLINE),
            )
        case SupervisionFlagged():
            return replace(
                t, supervision_flags=t.supervision_flags | {event.kind},
                supervision_level=max(t.supervision_level, SupervisionLevel.HOTLINE),
            )
        case SupervisionEscalated():
            return replace(t, supervision_level=event.to_level)
        case Archived():
            return replace(t, status=S.ARCHIVED, archived_at=event.occurred_at)
    raise InvalidInput("unknown event", ticket_no=event.ticket_no, event=event.event_type)
