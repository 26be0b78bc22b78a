"""Supervision scanner (督办): which tickets and articles need the hotline to step in.

`scan` looks at a batch of tickets and knowledge-base articles and returns `SupervisionFlag`s for
each reason of 临沂条例第三十条: refused acceptance, overdue, the same caller repeating the same
request, many callers on the same issue, stale knowledge; and for a unit that did not contact the
caller within the working days after dispatch (济南条例: 5个工作日内回复来电人). The job
(`supervision/job.py`) loads the batch, calls `scan`, and applies each ticket flag as a
`FlagForSupervision` command from the SYSTEM actor; flags already on a ticket are skipped here
so a rescan is harmless. The escalation ladder itself is a ticket rule (`tickets/escalation.py`).

Never reads the clock or any store: `now` and the data are arguments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from kernel.clock import hotline_time
from kernel.text_match import ngrams, request_similarity
from tickets.model import (
    HOTLINE_REVIEW_STATUSES,
    UNIT_HOLDS_STATUSES,
    EscalationGround,
    SupervisionFlagKind,
    SupervisionLevel,
    Ticket,
    TicketStatus,
)

L = SupervisionLevel
G = EscalationGround

# --------------------------------------------------------------------------------------------
# The scanner


@dataclass(frozen=True)
class SupervisionPolicy:
    """Thresholds the hotline centre sets; defaults are conservative starting points."""

    #: 诉求人多次反映: this many similar requests from one caller within the window.
    repeat_min_requests: int = 3
    repeat_window: timedelta = timedelta(days=30)
    repeat_similarity: float = 0.4
    #: 多个诉求人集中反映: this many distinct callers on one issue within the window.
    cluster_min_callers: int = 5
    cluster_window: timedelta = timedelta(days=3)
    cluster_similarity: float = 0.4
    #: The hotline's own reviews (return, extension, termination, suspension, dissatisfaction)
    #: are due this long after the request ([supervision] review_hours).
    review_within: timedelta = timedelta(hours=24)
    #: A draft nobody touched for this long is reported ([supervision] draft_max_age_hours).
    draft_max_age: timedelta = timedelta(hours=24)
    #: A complaint about hotline staff waits for the quality team's finding at most this long
    #: ([supervision] quality_check_hours; 济南: 5 working days, about a week).
    quality_check_within: timedelta = timedelta(hours=168)


DEFAULT_SUPERVISION_POLICY = SupervisionPolicy()


@dataclass(frozen=True)
class KnowledgeArticleStatus:
    """What the scanner needs to know about one knowledge-base article (知识库)."""

    article_id: str
    unit: str
    updated_at: datetime
    #: How long the unit may leave the article without review (policy-dependent).
    review_interval: timedelta


@dataclass(frozen=True)
class SupervisionFlag:
    """A reason to supervise. `ticket_no` is the ticket to flag (None for knowledge articles)."""

    kind: SupervisionFlagKind
    detected_at: datetime
    detail: str
    ticket_no: str | None = None
    unit: str | None = None
    related_ticket_nos: tuple[str, ...] = ()
    knowledge_article_id: str | None = None


def _flaggable(ticket: Ticket, kind: SupervisionFlagKind) -> bool:
    return (
        ticket.is_open
        and ticket.status is not TicketStatus.DRAFT
        and kind not in ticket.supervision_flags
    )


def scan_overdue(tickets: Iterable[Ticket], now: datetime) -> list[SupervisionFlag]:
    """Tickets a unit holds past their deadline (超出办理时限未办结).

    Only statuses where the unit holds the ticket count: while a return, extension or
    termination request waits for the hotline's review, the delay is not the unit's.
    """
    kind = SupervisionFlagKind.OVERDUE
    return [
        SupervisionFlag(
            kind=kind, detected_at=now, ticket_no=t.ticket_no, unit=t.lead_unit,
            detail=f"超过办理时限 {hotline_time(t.deadline)} 未办结",
        )
        for t in tickets
        if t.status in UNIT_HOLDS_STATUSES
        and t.deadline is not None
        and now >= t.deadline
        and _flaggable(t, kind)
    ]


def scan_first_contact_overdue(tickets: Iterable[Ticket], now: datetime) -> list[SupervisionFlag]:
    """济南条例: 承办单位应当在5个工作日内与来电人联系并答复 (要求不回复的除外). The first-contact
    deadline set at dispatch passed and no contact is on the ticket (recorded, a connected relay
    call, or a feedback saying so): the lead unit is at fault. A caller who asked for no reply
    has no such deadline, nor has a ticket dispatched before the rule."""
    kind = SupervisionFlagKind.NO_FIRST_CONTACT
    return [
        SupervisionFlag(
            kind=kind, detected_at=now, ticket_no=t.ticket_no, unit=t.lead_unit,
            detail=f"派单后至 {hotline_time(t.first_contact_deadline)} 未联系诉求人",
        )
        for t in tickets
        if t.first_contact_deadline is not None
        and t.first_contacted_at is None
        and now >= t.first_contact_deadline
        and _flaggable(t, kind)
    ]


def scan_refused_acceptance(tickets: Iterable[Ticket], now: datetime) -> list[SupervisionFlag]:
    """拒不接收工单: not signed by the sign deadline, or a return the hotline rejected."""
    kind = SupervisionFlagKind.REFUSED_ACCEPTANCE
    flags: list[SupervisionFlag] = []
    for t in tickets:
        if not _flaggable(t, kind):
            continue
        unsigned = (
            t.status is TicketStatus.DISPATCHED
            and t.sign_deadline is not None
            and now >= t.sign_deadline
        )
        if unsigned:
            detail = "超过签收时限未签收工单"
        elif t.rejected_return_count > 0 and t.status in UNIT_HOLDS_STATUSES:
            detail = f"退回申请被驳回 {t.rejected_return_count} 次（属于职责范围）"
        else:
            continue
        flags.append(SupervisionFlag(
            kind=kind, detected_at=now, ticket_no=t.ticket_no, unit=t.lead_unit, detail=detail,
        ))
    return flags


def _request_text(t: Ticket) -> str:
    return f"{t.summary} {t.content}"


def _clusters(tickets: Sequence[Ticket], threshold: float) -> list[list[Ticket]]:
    """Single-link clustering by request similarity, oldest first; deterministic, O(n²).

    A ticket joins the first cluster holding a similar ticket: paraphrases chain together
    ("停水两天" ~ "小区停水两天还没恢复" ~ "小区又停水，两天没水"). Batches are one caller's
    or one district's tickets within a window, so n stays small.
    """
    clusters: list[list[tuple[frozenset[str], Ticket]]] = []
    for t in sorted(tickets, key=lambda t: (t.created_at, t.ticket_no)):
        grams = ngrams(_request_text(t))
        for members in clusters:
            if any(request_similarity(g, grams) >= threshold for g, _ in members):
                members.append((grams, t))
                break
        else:
            clusters.append([(grams, t)])
    return [[t for _, t in members] for members in clusters]


def scan_repeated(
    tickets: Iterable[Ticket], now: datetime, policy: SupervisionPolicy = DEFAULT_SUPERVISION_POLICY
) -> list[SupervisionFlag]:
    """诉求人多次反映未解决: one caller, the same request, several times in the window.

    Closed tickets count towards the repetition (the caller came back after all); only the
    open ones are flagged, since supervision acts on what is still unresolved.
    """
    kind = SupervisionFlagKind.REPEATED
    by_caller: dict[str, list[Ticket]] = defaultdict(list)
    for t in tickets:
        if t.caller.number and t.created_at >= now - policy.repeat_window:
            by_caller[t.caller.number].append(t)
    flags: list[SupervisionFlag] = []
    for group in by_caller.values():
        if len(group) < policy.repeat_min_requests:
            continue
        for cluster in _clusters(group, policy.repeat_similarity):
            if len(cluster) < policy.repeat_min_requests:
                continue
            flags.extend(_flag_cluster(cluster, kind, now,
                                       f"同一诉求人 {len(cluster)} 次反映同一诉求"))
    return flags


def _flag_cluster(cluster: list[Ticket], kind: SupervisionFlagKind, now: datetime,
                  detail: str) -> list[SupervisionFlag]:
    """One flag per ticket of a group, each naming the whole group (not yet flagged ones)."""
    related = tuple(t.ticket_no for t in cluster)
    return [SupervisionFlag(kind=kind, detected_at=now, ticket_no=t.ticket_no, unit=t.lead_unit,
                            related_ticket_nos=related, detail=detail)
            for t in cluster if _flaggable(t, kind)]


def scan_clustered(
    tickets: Iterable[Ticket], now: datetime, policy: SupervisionPolicy = DEFAULT_SUPERVISION_POLICY
) -> list[SupervisionFlag]:
    """多个诉求人集中反映同一类诉求: many distinct callers, one district, one issue.

    A caller without a number (web form, withheld) counts once per ticket: we cannot tell
    them apart, and under-counting a real cluster is worse than over-counting a few.
    """
    kind = SupervisionFlagKind.CLUSTERED
    by_district: dict[str | None, list[Ticket]] = defaultdict(list)
    for t in tickets:
        if t.created_at >= now - policy.cluster_window:
            by_district[t.district].append(t)
    flags: list[SupervisionFlag] = []
    for group in by_district.values():
        if len(group) < policy.cluster_min_callers:
            continue
        for cluster in _clusters(group, policy.cluster_similarity):
            callers = {t.caller.number or f"ticket:{t.ticket_no}" for t in cluster}
            if len(callers) < policy.cluster_min_callers:
                continue
            flags.extend(_flag_cluster(cluster, kind, now,
                                       f"{len(callers)} 位诉求人集中反映同一问题"))
    return flags


def scan_stale_knowledge(
    articles: Iterable[KnowledgeArticleStatus], now: datetime
) -> list[SupervisionFlag]:
    """热线知识库更新不及时: the unit left an article unreviewed past its interval."""
    return [
        SupervisionFlag(
            kind=SupervisionFlagKind.STALE_KNOWLEDGE, detected_at=now, unit=a.unit,
            knowledge_article_id=a.article_id,
            detail=f"知识库条目自 {a.updated_at.date().isoformat()} 起未更新",
        )
        for a in articles
        if now - a.updated_at > a.review_interval
    ]


class NoticeKind(StrEnum):
    """What the hotline itself owes: no unit is at fault, so these are notices, not flags."""

    REVIEW_OVERDUE = "review_overdue"  # a request waits past the review deadline
    STALE_DRAFT = "stale_draft"  # a draft nobody closed or dispatched
    CALLBACK_AT_DEADLINE = "callback_at_deadline"  # 北京条例第二十三条: 时限届满即回访
    #: A complaint about hotline staff waits past `quality_check_within` for the finding (济南).
    QUALITY_CHECK_OVERDUE = "quality_check_overdue"


@dataclass(frozen=True)
class HotlineNotice:
    kind: NoticeKind
    ticket_no: str
    detected_at: datetime
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "ticket_no": self.ticket_no, "detail": self.detail}


def scan_review_overdue(tickets: Iterable[Ticket], now: datetime,
                        policy: SupervisionPolicy = DEFAULT_SUPERVISION_POLICY) -> list[HotlineNotice]:
    """Requests the hotline has not reviewed within `review_within`: without this a return,
    extension or termination request could wait forever, with no unit clock running."""
    notices = []
    for t in tickets:
        if t.status in HOTLINE_REVIEW_STATUSES and t.requested_at is not None:
            since, what = t.requested_at, f"{_REVIEW_TITLES.get(t.status, t.status.value)}待审核"
        elif t.status in _FEEDBACK_WAITING and t.feedback_at is not None:
            # 济南条例: the feedback is reviewed and the caller called back, not left lying.
            since, what = t.feedback_at, "承办单位反馈待审核或回访"
        else:
            continue
        if now >= since + policy.review_within:
            notices.append(HotlineNotice(NoticeKind.REVIEW_OVERDUE, t.ticket_no, now,
                                         f"{what}（自 {hotline_time(since)} 起），已超过审核时限"))
    return notices


_FEEDBACK_WAITING = frozenset({TicketStatus.FEEDBACK_SUBMITTED, TicketStatus.FEEDBACK_ACCEPTED})


_REVIEW_TITLES = {
    TicketStatus.RETURN_REQUESTED: "退回申请", TicketStatus.EXTENSION_REQUESTED: "延期申请",
    TicketStatus.TERMINATION_REQUESTED: "终止办理申请",
    TicketStatus.SUSPENSION_REQUESTED: "中止办理申请",
    TicketStatus.REOPEN_REQUESTED: "回访不满意研判",
}


def scan_stale_drafts(tickets: Iterable[Ticket], now: datetime,
                      policy: SupervisionPolicy = DEFAULT_SUPERVISION_POLICY) -> list[HotlineNotice]:
    """Drafts left untouched: every finished call becomes one, and a silent or harassing call
    must be closed at intake (北京条例第十一条) rather than sit in the totals forever."""
    return [
        HotlineNotice(NoticeKind.STALE_DRAFT, t.ticket_no, now,
                      f"受理草稿自 {hotline_time(t.updated_at)} 起无人处理")
        for t in tickets
        if t.status is TicketStatus.DRAFT and now - t.updated_at >= policy.draft_max_age
    ]


def scan_quality_checks_overdue(tickets: Iterable[Ticket], now: datetime,
                                policy: SupervisionPolicy = DEFAULT_SUPERVISION_POLICY) -> list[HotlineNotice]:
    """Complaints about hotline staff the quality team has not found on within
    `quality_check_within` (济南: the hotline answers such a complaint like any other, in 5
    working days): the hotline owes it, no unit, so a notice and not a flag."""
    return [
        HotlineNotice(NoticeKind.QUALITY_CHECK_OVERDUE, t.ticket_no, now,
                      f"投诉热线工作人员自 {hotline_time(t.requested_at)} 起待质检，已超过质检时限")
        for t in tickets
        if t.status is TicketStatus.QUALITY_CHECK and t.requested_at is not None
        and now - t.requested_at >= policy.quality_check_within
    ]


def scan_callbacks_at_deadline(tickets: Iterable[Ticket], now: datetime) -> list[HotlineNotice]:
    """北京条例第二十三条: 诉求办理时限届满 the hotline calls the caller back, whether or not the
    unit has given feedback. Tickets a unit holds past the deadline without feedback, until the
    callback is on the ticket (`RecordDeadlineCallback`); the job puts it on the callback list."""
    return [
        HotlineNotice(NoticeKind.CALLBACK_AT_DEADLINE, t.ticket_no, now,
                      f"办理时限 {hotline_time(t.deadline)} 已届满、承办单位未反馈：应回访诉求人")
        for t in tickets
        if t.status in UNIT_HOLDS_STATUSES and t.deadline is not None and now >= t.deadline
        and t.feedback_at is None and t.deadline_callback_at is None
    ]


@dataclass(frozen=True)
class ScanResult:
    flags: tuple[SupervisionFlag, ...] = field(default_factory=tuple)
    notices: tuple[HotlineNotice, ...] = field(default_factory=tuple)

    def for_ticket(self, ticket_no: str) -> list[SupervisionFlag]:
        return [f for f in self.flags if f.ticket_no == ticket_no]


def scan(
    tickets: Sequence[Ticket],
    now: datetime,
    articles: Iterable[KnowledgeArticleStatus] = (),
    policy: SupervisionPolicy = DEFAULT_SUPERVISION_POLICY,
) -> ScanResult:
    """Every supervision flag due at `now`, at most one per (ticket, kind), and the notices of
    what the hotline itself owes (overdue reviews, stale drafts, callbacks at the deadline)."""
    flags = [
        *scan_refused_acceptance(tickets, now),
        *scan_overdue(tickets, now),
        *scan_first_contact_overdue(tickets, now),
        *scan_repeated(tickets, now, policy),
        *scan_clustered(tickets, now, policy),
        *scan_stale_knowledge(articles, now),
    ]
    notices = [
        *scan_review_overdue(tickets, now, policy),
        *scan_stale_drafts(tickets, now, policy),
        *scan_callbacks_at_deadline(tickets, now),
        *scan_quality_checks_overdue(tickets, now, policy),
    ]
    return ScanResult(tuple(flags), tuple(notices))
