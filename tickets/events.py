"""Ticket events: the immutable record of every transition (who, when, why, with what evidence).

Events are the source of truth. A ticket snapshot is `fold(events)` (see `tickets/workflow.py`),
so an event must carry every value the transition decided (a deadline, whether a joint meeting
is now required...), never something the fold would have to recompute from policy or a
calendar that may have changed since.

`version` is the ticket's version *after* the event: the first event has version 1 and each
following one adds 1, which is what a repository uses for optimistic locking and ordering.

Small frozen dataclasses only: no behaviour, no I/O, nothing a SQLAlchemy mapper cannot store
as (ticket_no, version, type, occurred_at, actor, payload JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kernel.roles import Actor
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
    TicketType,
    Urgency,
)


@dataclass(frozen=True, kw_only=True)
class TicketEvent:
    ticket_no: str
    version: int
    occurred_at: datetime
    actor: Actor
    reason: str = ""
    attachments: tuple[Attachment, ...] = ()

    @property
    def event_type(self) -> str:
        """Stable name for storage and messages (the class name, e.g. `ReturnApproved`)."""
        return type(self).__name__


@dataclass(frozen=True, kw_only=True)
class TicketRegistered(TicketEvent):
    """受理: the ticket exists, as a draft the agent is still filling in."""

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
class TicketClassified(TicketEvent):
    """The agent completed or corrected the draft (type, summary, place)."""

    ticket_type: TicketType
    urgency: Urgency
    summary: str
    content: str
    location: str
    district: str | None
    #: Where the caller wants to be called back, when not the number they called from.
    callback_number: str | None = None
    #: A complaint about hotline staff: the account of the staff member concerned. The ticket
    #: goes to the quality team (`TicketStatus.QUALITY_CHECK`); None in events before the rule.
    about_staff: str | None = None


@dataclass(frozen=True, kw_only=True)
class AnsweredDirectly(TicketEvent):
    """直接答复 from the knowledge base; closes the ticket."""

    answer: str
    knowledge_article_id: str | None = None
    #: The article's version whose approved wording (答复口径) was read to the caller.
    knowledge_article_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class AnsweredInThreeWayCall(TicketEvent):
    """三方连线: the unit answered the caller on line; closes the ticket."""

    unit: str
    answer: str
    call_id: str | None = None
    #: The caller agreed to the three-way call (临沂条例第十四条); False on events written
    #: before consent was recorded.
    caller_consented: bool = False


@dataclass(frozen=True, kw_only=True)
class ClosedOutOfScope(TicketEvent):
    """Closed at intake: emergency line, legal channel or duplicate of an open ticket."""

    scope: OutOfScope
    referred_to: str = ""
    duplicate_of: str | None = None


@dataclass(frozen=True, kw_only=True)
class Dispatched(TicketEvent):
    """派单 to a lead unit (and cooperating units) with the deadline written on the ticket."""

    lead_unit: str
    cooperating_units: tuple[str, ...]
    deadline: datetime
    sign_deadline: datetime
    joint_meeting_held: bool = False
    #: Last moment the unit may ask for a return (None in events written before the rule).
    return_deadline: datetime | None = None
    #: The lead unit contacts the caller by then (济南条例: 5个工作日内); None: the caller asked
    #: for no reply, or an event written before the rule.
    first_contact_deadline: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Signed(TicketEvent):
    """签收 by the lead unit."""


@dataclass(frozen=True, kw_only=True)
class ReturnRequested(TicketEvent):
    """申请退回: the unit says the request is not its duty, with evidence."""


@dataclass(frozen=True, kw_only=True)
class ReturnApproved(TicketEvent):
    """The hotline agrees; the ticket waits to be dispatched again."""

    return_count: int
    joint_meeting_required: bool


@dataclass(frozen=True, kw_only=True)
class ReturnRejected(TicketEvent):
    """The hotline holds the unit responsible (首接负责制); counts as a refusal to accept."""


@dataclass(frozen=True, kw_only=True)
class ExtensionRequested(TicketEvent):
    requested_deadline: datetime
    #: The unit told the caller why it needs more time (北京条例第十五条第二项); False in
    #: events written before the rule.
    caller_informed: bool = False


@dataclass(frozen=True, kw_only=True)
class ExtensionApproved(TicketEvent):
    new_deadline: datetime


@dataclass(frozen=True, kw_only=True)
class ExtensionDenied(TicketEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class TerminationRequested(TicketEvent):
    ground: TerminationGround
    explained_to_caller: bool


@dataclass(frozen=True, kw_only=True)
class TerminationApproved(TicketEvent):
    """终止办理 after review; closes the ticket."""


@dataclass(frozen=True, kw_only=True)
class TerminationRejected(TicketEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class SuspensionRequested(TicketEvent):
    """申请中止办理: the unit cannot go on for now (唐山条例 延期中止), with evidence."""


@dataclass(frozen=True, kw_only=True)
class SuspensionApproved(TicketEvent):
    """中止 approved: the deadline clock stops with `remaining` left on it."""

    remaining: timedelta


@dataclass(frozen=True, kw_only=True)
class SuspensionRejected(TicketEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class HandlingResumed(TicketEvent):
    """恢复办理 after a suspension: the clock runs again, to `new_deadline`."""

    new_deadline: datetime


@dataclass(frozen=True, kw_only=True)
class ProgressNoted(TicketEvent):
    """A note on progress; a cooperating unit's partial result (第十八条) is one too."""

    note: str


@dataclass(frozen=True, kw_only=True)
class CallerContacted(TicketEvent):
    """The lead unit contacted the caller (济南条例: 承办单位 5个工作日内回复来电人): how, and
    what was said. The first one meets the first-contact deadline; later ones are on the record."""

    method: ContactMethod
    note: str


@dataclass(frozen=True, kw_only=True)
class FeedbackSubmitted(TicketEvent):
    """反馈: the lead unit reports the result to the hotline."""

    result: str
    contacted_caller: bool


@dataclass(frozen=True, kw_only=True)
class QualityFindingRecorded(TicketEvent):
    """质检: the quality team's finding on a complaint about hotline staff and what was done
    (`result`, what the caller is told at the callback). The hotline's own answer needs no
    review: the callback is due at once (北京条例第三十三条第一项; 济南条例: 对热线受理人员态度生硬、
    作风粗暴、敷衍塞责等不规范的服务行为，来电人有权投诉举报)."""

    finding: QualityFinding
    result: str


@dataclass(frozen=True, kw_only=True)
class FeedbackAccepted(TicketEvent):
    """The hotline reviewed the unit's feedback and found it complete (济南条例 逐一审核):
    the callback is due."""


@dataclass(frozen=True, kw_only=True)
class FeedbackRejected(TicketEvent):
    """The feedback does not answer the request: back to the unit, with why in `reason`."""


@dataclass(frozen=True, kw_only=True)
class CallbackRecorded(TicketEvent):
    """回访. `reopened`: sent back to the same unit (应办未办; before the review rule also
    不满意且诉求合理). `review_pending`: unsatisfied, the hotline's judgement comes next."""

    satisfaction: Satisfaction | None
    reasonable: bool
    handled_as_required: bool
    reopened: bool
    new_deadline: datetime | None = None
    review_pending: bool = False


@dataclass(frozen=True, kw_only=True)
class ReopenReviewed(TicketEvent):
    """The hotline's judgement of an unsatisfied caller's request (临沂条例第二十条).

    `reasonable` and under the re-open cap: `reopened` to the same unit by `new_deadline`.
    `reasonable` past the cap: not re-opened, `supervised` (热线督办) instead. Unreasonable:
    closed, with why in `reason`.
    """

    reasonable: bool
    reopened: bool
    supervised: bool = False
    new_deadline: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class DeadlineCallbackRecorded(TicketEvent):
    """时限届满回访 (北京条例第二十三条): the hotline called the caller when the deadline expired,
    the unit not having finished. What the caller said of the handling so far goes on the
    ticket, which stays with the unit; `supervised`: unsatisfied, so the unit is under 热线督办
    (flag `unsatisfied_at_deadline`). `reached` False: tried and never reached."""

    satisfaction: Satisfaction | None
    reached: bool = True
    supervised: bool = False


@dataclass(frozen=True, kw_only=True)
class CallbackUnreached(TicketEvent):
    """未回访成功: the caller was tried `attempts` times and never reached; closes the ticket
    with that outcome, never as a completed callback (北京条例第二十三条, 临沂条例第二十条)."""

    attempts: int


@dataclass(frozen=True, kw_only=True)
class SupervisionFlagged(TicketEvent):
    """热线督办 started for one of the reasons of 临沂条例第三十条."""

    kind: SupervisionFlagKind
    related_ticket_nos: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SupervisionEscalated(TicketEvent):
    """Moved up the ladder (media, inspection, congress/CPPCC, discipline referral)."""

    from_level: SupervisionLevel
    to_level: SupervisionLevel
    ground: EscalationGround


@dataclass(frozen=True, kw_only=True)
class RelayCallHeld(TicketEvent):
    """保密联络: a unit phoned a confidential caller through the hotline's relay (the caller's
    number was never shown to the unit). `connected` False: the caller was not reached."""

    call_id: str
    calling_number: str
    connected: bool
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Archived(TicketEvent):
    """归档 of a closed ticket."""


ALL_EVENT_TYPES: tuple[type[TicketEvent], ...] = (
    TicketRegistered,
    TicketClassified,
    AnsweredDirectly,
    AnsweredInThreeWayCall,
    ClosedOutOfScope,
    Dispatched,
    Signed,
    ReturnRequested,
    ReturnApproved,
    ReturnRejected,
    ExtensionRequested,
    ExtensionApproved,
    ExtensionDenied,
    TerminationRequested,
    TerminationApproved,
    TerminationRejected,
    ProgressNoted,
    CallerContacted,
    FeedbackSubmitted,
    FeedbackAccepted,
    FeedbackRejected,
    QualityFindingRecorded,
    CallbackRecorded,
    ReopenReviewed,
    CallbackUnreached,
    SuspensionRequested,
    SuspensionApproved,
    SuspensionRejected,
    HandlingResumed,
    SupervisionFlagged,
    SupervisionEscalated,
    RelayCallHeld,
    DeadlineCallbackRecorded,
    Archived,
)

EVENT_TYPES_BY_NAME: dict[str, type[TicketEvent]] = {cls.__name__: cls for cls in ALL_EVENT_TYPES}
