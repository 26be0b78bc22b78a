"""The ticket (工单) and the value types it is made of.

A `Ticket` is an immutable snapshot: the workflow (`tickets/workflow.py`) never mutates one, it
returns a new snapshot together with the event that produced it, and the snapshot can always be
rebuilt by folding the ticket's events. That is what lets a SQLAlchemy repository store events
and a projection side by side and check the `version` for optimistic locking.

This module must never do I/O and never import SQLAlchemy, aiohttp or Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from kernel.privacy import mask_phone


class Channel(StrEnum):
    """How the request reached the hotline (临沂条例第二条: 电话、网站、微信、短信、电子信箱、客户端)."""

    PHONE = "phone"
    WEB = "web"
    WECHAT = "wechat"
    SMS = "sms"
    EMAIL = "email"
    APP = "app"


class TicketType(StrEnum):
    CONSULTATION = "consultation"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 意见建议


class Urgency(StrEnum):
    NORMAL = "normal"
    #: Water, power, gas, heating, safety: the catalogue gives these a deadline in hours.
    URGENT = "urgent"


class TicketStatus(StrEnum):
    """Where a ticket stands. Statuses ending in `_REQUESTED` wait for a hotline review."""

    DRAFT = "draft"  # 受理中: being taken in by an agent
    PENDING_DISPATCH = "pending_dispatch"  # 退回后待重新派单
    DISPATCHED = "dispatched"  # 已派单, not yet signed by the lead unit
    IN_PROGRESS = "in_progress"  # 已签收, being handled
    RETURN_REQUESTED = "return_requested"  # 申请退回
    EXTENSION_REQUESTED = "extension_requested"  # 申请延期
    TERMINATION_REQUESTED = "termination_requested"  # 申请终止办理
    SUSPENSION_REQUESTED = "suspension_requested"  # 申请中止办理
    SUSPENDED = "suspended"  # 中止办理: the deadline clock stands still until resumed
    FEEDBACK_SUBMITTED = "feedback_submitted"  # 已反馈, waiting for review (or the callback)
    #: 反馈审核通过 (济南条例 逐一审核): the callback is due.
    FEEDBACK_ACCEPTED = "feedback_accepted"
    #: 回访不满意: the hotline judges whether the request is reasonable (临沂条例第二十条).
    REOPEN_REQUESTED = "reopen_requested"
    #: 待质检: a complaint about the hotline's own staff, with the quality team (班长/质检),
    #: never with a handling unit (`Ticket.about_staff`; 济南条例, 北京条例第三十三条第一项).
    QUALITY_CHECK = "quality_check"
    CLOSED = "closed"  # 办结
    ARCHIVED = "archived"  # 归档


#: Once in one of these, a ticket's substance never changes again; CLOSED may only be archived.
FINISHED_STATUSES: frozenset[TicketStatus] = frozenset({TicketStatus.CLOSED, TicketStatus.ARCHIVED})

#: A request waits for the hotline's own review (a deadline the supervision scanner watches).
HOTLINE_REVIEW_STATUSES: frozenset[TicketStatus] = frozenset(
    s for s in TicketStatus if s.value.endswith("_requested"))

#: The unit holds the ticket: its deadline runs and it can be overdue.
UNIT_HOLDS_STATUSES: frozenset[TicketStatus] = frozenset(
    {TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS}
)

#: Dispatched and not yet finished by the unit: it holds the ticket, or one of its requests
#: (return, extension, termination, suspension) waits for the hotline, or the handling is
#: suspended. The unit may still contact the caller (济南条例: 5个工作日内回复来电人).
UNIT_UNFINISHED_STATUSES: frozenset[TicketStatus] = UNIT_HOLDS_STATUSES | {
    TicketStatus.RETURN_REQUESTED, TicketStatus.EXTENSION_REQUESTED,
    TicketStatus.TERMINATION_REQUESTED, TicketStatus.SUSPENSION_REQUESTED,
    TicketStatus.SUSPENDED,
}

#: Where the callback when the deadline expires (北京条例第二十三条) may be recorded: the unit has
#: not finished and its clock runs (a suspended ticket's deadline has not expired: it stands).
DEADLINE_CALLBACK_STATUSES: frozenset[TicketStatus] = UNIT_UNFINISHED_STATUSES - {
    TicketStatus.SUSPENDED}


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意



class ContactMethod(StrEnum):
    """How a unit reached the caller (济南条例: 承办单位 5个工作日内回复来电人)."""

    PHONE = "phone"  # 电话 (a confidential caller's through the relay, 保密联络)
    SMS = "sms"  # 短信
    VISIT = "visit"  # 上门 / 现场


class QualityFinding(StrEnum):
    """The quality team's finding on a complaint about hotline staff (质检结论)."""

    SUBSTANTIATED = "substantiated"  # 属实
    PARTLY_SUBSTANTIATED = "partly_substantiated"  # 部分属实
    UNSUBSTANTIATED = "unsubstantiated"  # 不属实


class SupervisionLevel(IntEnum):
    """The ladder of 临沂条例第二十九条, lowest first; ordering is the escalation order."""

    NONE = 0
    HOTLINE = 1  # 热线督办
    MEDIA = 2  # 媒体监督
    GOVERNMENT_INSPECTION = 3  # 政务督查
    PEOPLES_CONGRESS_CPPCC = 4  # 人大、政协监督
    DISCIPLINE_INSPECTION = 5  # 纪委监委 (线索移交)


class SupervisionFlagKind(StrEnum):
    """Reasons for hotline supervision (临沂条例第三十条)."""

    REFUSED_ACCEPTANCE = "refused_acceptance"  # 属于职责范围但拒不接收工单
    OVERDUE = "overdue"  # 超出办理时限未办结
    REPEATED = "repeated"  # 诉求人多次反映未解决
    CLUSTERED = "clustered"  # 多个诉求人集中反映同一类诉求未解决
    STALE_KNOWLEDGE = "stale_knowledge"  # 知识库更新不及时
    #: 济南条例: the unit did not contact the caller within the working days after dispatch.
    NO_FIRST_CONTACT = "no_first_contact"  # 未按时联系诉求人
    #: 北京条例第二十三条: called back when the deadline expired, the caller is not satisfied
    #: with the handling so far.
    UNSATISFIED_AT_DEADLINE = "unsatisfied_at_deadline"  # 时限届满回访不满意
    OTHER = "other"


class EscalationGround(StrEnum):
    """Why a ticket moves up the supervision ladder (临沂条例第三十条至第三十四条)."""

    HOTLINE_SUPERVISION = "hotline_supervision"  # 第三十条: any of its reasons
    UNRESOLVED_AFTER_HOTLINE = "unresolved_after_hotline"  # 第三十一条: 经热线督办仍未解决
    UNRESOLVED_AFTER_MEDIA = "unresolved_after_media"  # 第三十二条: 经媒体监督后仍未有效解决
    PROMISED_NOT_DONE = "promised_not_done"  # 第三十二条: 承办单位承诺办理但未办理
    HIGH_PUBLIC_ATTENTION = "high_public_attention"  # 第三十三条(一): 反映量大、关注度高
    LOW_SATISFACTION = "low_satisfaction"  # 第三十三条(二): 满意率低、不良影响
    REPEATED_FAILED_RECTIFICATION = "repeated_failed_rectification"  # 第三十三条(三)
    MISCONDUCT = "misconduct"  # 第三十四条: 推诿扯皮、弄虚作假、不作为、乱作为...


class ClosureReason(StrEnum):
    ANSWERED_DIRECTLY = "answered_directly"  # 直接答复 (knowledge base)
    THREE_WAY_CALL = "three_way_call"  # 三方连线在线答复
    EMERGENCY_LINE = "emergency_line"  # 转 110/119/120/122
    LEGAL_CHANNEL = "legal_channel"  # 诉讼、仲裁、行政复议、信访等法定途径
    DUPLICATE = "duplicate"  # 重复件
    CALLBACK_COMPLETED = "callback_completed"  # 回访后办结
    #: 未回访成功: the caller was tried up to the cap and never reached (北京条例第二十三条).
    CALLBACK_UNREACHED = "callback_unreached"
    TERMINATED = "terminated"  # 终止办理
    # Closed at intake as 北京条例第十一条第四至六项 (唐山 不予受理) say; never counted as intake.
    SECRET_OR_PRIVACY = "secret_or_privacy"  # 涉及国家秘密、商业秘密、个人隐私
    OUTSIDE_DUTIES = "outside_duties"  # 超出职责范围: 告知通过市场、社会等渠道解决
    UNLAWFUL_OR_HARASSING = "unlawful_or_harassing"  # 违法、违背公序良俗、恶意攻击骚扰: 劝导教育
    INVALID_CALL = "invalid_call"  # 无效来电: silent, dropped, misdialled


class OutOfScope(StrEnum):
    """Requests the hotline closes at intake instead of dispatching (北京条例第十一条; 唐山条例
    不予受理的情形). Each closes the draft with the `ClosureReason` of the same value."""

    EMERGENCY_LINE = "emergency_line"  # 第一项
    LEGAL_CHANNEL = "legal_channel"  # 第二项
    DUPLICATE = "duplicate"  # 第三项
    SECRET_OR_PRIVACY = "secret_or_privacy"  # 第四项: 向诉求人做好解释工作
    OUTSIDE_DUTIES = "outside_duties"  # 第五项: 告知通过市场、社会等其他渠道解决
    UNLAWFUL_OR_HARASSING = "unlawful_or_harassing"  # 第六项: 做好劝导、教育工作
    INVALID_CALL = "invalid_call"  # 无效来电 (静默、骚扰挂断、误拨): no request at all


#: Intake closures that are no request the hotline took in (受理): left out of intake totals.
NOT_INTAKE: frozenset[ClosureReason] = frozenset({
    ClosureReason.SECRET_OR_PRIVACY, ClosureReason.OUTSIDE_DUTIES,
    ClosureReason.UNLAWFUL_OR_HARASSING, ClosureReason.INVALID_CALL,
})


class TerminationGround(StrEnum):
    CALLER_REFUSES_TO_COOPERATE = "caller_refuses_to_cooperate"  # 临沂条例第十八条
    UNLAWFUL_OR_AGAINST_PUBLIC_ORDER = "unlawful_or_against_public_order"  # 第十九条


#: Lines a request is transferred to instead of being ticketed (北京条例第十一条第一项).
EMERGENCY_LINES: frozenset[str] = frozenset({"110", "119", "120", "122"})



@dataclass(frozen=True)
class Caller:
    """The person behind a request (诉求人).

    `confidential`: the caller asked that units never see who they are; units contact them
    through the hotline's confidential relay (保密联络, 临沂条例第十七条第四项).
    `anonymous`: the caller gave no name (real names are encouraged, not required).
    `no_reply`: the caller asked not to be told how the request was handled (济南条例:
    5个工作日内回复来电人, 要求不回复的除外): the unit owes no first contact.
    """

    number: str | None = None
    name: str | None = None
    confidential: bool = False
    anonymous: bool = False
    no_reply: bool = False

    def masked_for_unit(self) -> Caller:
        """What a unit may see: nothing identifying for confidential callers."""
        if self.confidential:
            return Caller(number=None, name=None, confidential=True, anonymous=self.anonymous,
                          no_reply=self.no_reply)
        return Caller(
            number=self.number,
            name=None if self.anonymous else self.name,
            confidential=False,
            anonymous=self.anonymous,
            no_reply=self.no_reply,
        )

    @property
    def masked_number(self) -> str:
        return mask_phone(self.number)


@dataclass(frozen=True)
class Attachment:
    """Evidence or a record linked to a ticket: a file in object storage, a recording, a call.

    Only a reference is kept here; the bytes live elsewhere.
    """

    kind: str  # "document", "photo", "recording", "transcript", "minutes", ...
    uri: str
    title: str = ""
    #: Hex SHA-256 and byte size of the file, when known: proof that the evidence a review
    #: relied on is the file later produced (证明材料 must not be swapped after the fact).
    sha256: str | None = None
    size: int | None = None



@dataclass(frozen=True)
class Ticket:
    """One request and everything the regulations need to follow it to its end.

    Fields that name a unit hold unit codes from the dispatch catalogue. Times are UTC.
    """

    ticket_no: str
    channel: Channel
    caller: Caller
    created_at: datetime
    updated_at: datetime
    status: TicketStatus = TicketStatus.DRAFT
    version: int = 1
    ticket_type: TicketType | None = None
    urgency: Urgency = Urgency.NORMAL
    summary: str = ""
    content: str = ""
    location: str = ""
    district: str | None = None
    #: Where the caller asked to be called back (回电号码), when not the calling number.
    callback_number: str | None = None
    call_ids: tuple[str, ...] = ()
    recordings: tuple[Attachment, ...] = ()
    transcripts: tuple[Attachment, ...] = ()
    lead_unit: str | None = None
    cooperating_units: tuple[str, ...] = ()
    dispatched_at: datetime | None = None
    sign_deadline: datetime | None = None
    signed_at: datetime | None = None
    deadline: datetime | None = None
    requested_deadline: datetime | None = None
    termination_ground: TerminationGround | None = None
    return_count: int = 0
    rejected_return_count: int = 0
    extension_count: int = 0
    reopen_count: int = 0
    #: Clock time all approved extensions added to the deadline (the cap is policy).
    extended_by: timedelta = timedelta(0)
    #: The unit may ask for a return until then (None: dispatched before the rule).
    return_deadline: datetime | None = None
    #: The lead unit contacts the caller by then (济南条例; None: the caller wants no reply,
    #: or dispatched before the rule), and when it first did (a recorded contact, a connected
    #: relay call, or a feedback saying so).
    first_contact_deadline: datetime | None = None
    first_contacted_at: datetime | None = None
    #: 北京条例第二十三条: when the hotline called the caller back at the expired deadline, and
    #: what the caller said of the handling so far (None: declined to say, or not reached).
    deadline_callback_at: datetime | None = None
    deadline_callback_view: Satisfaction | None = None
    #: When the request now waiting for the hotline's review was made (its review deadline).
    requested_at: datetime | None = None
    #: 中止: the handling time that was left when the clock stopped.
    suspended_remaining: timedelta | None = None
    joint_meeting_required: bool = False
    feedback_at: datetime | None = None
    satisfaction: Satisfaction | None = None
    supervision_level: SupervisionLevel = SupervisionLevel.NONE
    supervision_flags: frozenset[SupervisionFlagKind] = field(default_factory=frozenset)
    duplicate_of: str | None = None
    closure_reason: ClosureReason | None = None
    closed_at: datetime | None = None
    archived_at: datetime | None = None
    #: A complaint about hotline staff (投诉热线工作人员): the account (工号) of the staff member
    #: concerned. Handled by the quality team, never dispatched, never shown to that person
    #: (`kernel.access_policy`). None: an ordinary request.
    about_staff: str | None = None
    #: The quality team's finding, once recorded (`QualityFindingRecorded`).
    quality_finding: QualityFinding | None = None

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def is_open(self) -> bool:
        return not self.is_finished

    @property
    def is_staff_complaint(self) -> bool:
        return self.about_staff is not None

    def involves_unit(self, unit: str) -> bool:
        return unit == self.lead_unit or unit in self.cooperating_units

    def view_for_unit(self) -> Ticket:
        """The ticket as shown to a unit: the caller masked as the regulations require (a
        confidential caller's callback number is theirs too)."""
        hidden = self.caller.confidential
        return replace(self, caller=self.caller.masked_for_unit(),
                       callback_number=None if hidden else self.callback_number)
