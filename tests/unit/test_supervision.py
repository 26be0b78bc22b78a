"""Supervision flags from the scanner, and the escalation ladder."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supervision.scan import (
    KnowledgeArticleStatus,
    SupervisionPolicy,
    scan,
    scan_clustered,
    scan_overdue,
    scan_refused_acceptance,
    scan_repeated,
    scan_stale_knowledge,
)
from tickets.escalation import escalation_refusal
from tickets.model import (
    Caller,
    Channel,
    ClosureReason,
    EscalationGround,
    SupervisionFlagKind,
    SupervisionLevel,
    Ticket,
    TicketStatus,
    TicketType,
)

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
K = SupervisionFlagKind
L = SupervisionLevel
G = EscalationGround


def ticket(n: int, *, status: TicketStatus = TicketStatus.IN_PROGRESS, caller: str = "13800000000",
           summary: str = "小区电梯停运一周无人维修", age: timedelta = timedelta(days=2),
           **changes: Any) -> Ticket:
    created = NOW - age
    base = Ticket(
        ticket_no=f"20261120-N01-{n:06d}", channel=Channel.PHONE, caller=Caller(number=caller),
        created_at=created, updated_at=created, status=status, ticket_type=TicketType.COMPLAINT,
        summary=summary, district="兰山区", lead_unit="city-housing",
        dispatched_at=created, sign_deadline=created + timedelta(days=1),
        signed_at=created + timedelta(hours=2), deadline=NOW + timedelta(days=3),
    )
    if status in (TicketStatus.CLOSED, TicketStatus.ARCHIVED):
        base = dataclasses.replace(base, closure_reason=ClosureReason.CALLBACK_COMPLETED,
                                   closed_at=created)
    return dataclasses.replace(base, **changes)


# --------------------------------------------------------------------------------------------
# Overdue and refused acceptance


def test_overdue_ticket_held_by_unit_is_flagged() -> None:
    late = ticket(1, deadline=NOW - timedelta(minutes=1))
    on_time = ticket(2)
    flags = scan_overdue([late, on_time], NOW)
    assert [(f.kind, f.ticket_no, f.unit) for f in flags] == [
        (K.OVERDUE, late.ticket_no, "city-housing")]


def test_deadline_instant_itself_is_overdue() -> None:
    assert scan_overdue([ticket(1, deadline=NOW)], NOW)


def test_overdue_is_not_flagged_while_hotline_reviews_or_after_closure() -> None:
    past = NOW - timedelta(days=1)
    tickets = [
        ticket(1, status=TicketStatus.EXTENSION_REQUESTED, deadline=past),
        ticket(2, status=TicketStatus.RETURN_REQUESTED, deadline=past),
        ticket(3, status=TicketStatus.CLOSED, deadline=past),
        ticket(4, deadline=past, supervision_flags=frozenset({K.OVERDUE})),  # already flagged
    ]
    assert scan_overdue(tickets, NOW) == []


def test_unsigned_past_sign_deadline_is_refused_acceptance() -> None:
    unsigned = ticket(1, status=TicketStatus.DISPATCHED, signed_at=None,
                      sign_deadline=NOW - timedelta(hours=1))
    in_time = ticket(2, status=TicketStatus.DISPATCHED, signed_at=None,
                     sign_deadline=NOW + timedelta(hours=1))
    flags = scan_refused_acceptance([unsigned, in_time], NOW)
    assert [f.ticket_no for f in flags] == [unsigned.ticket_no]
    assert flags[0].kind is K.REFUSED_ACCEPTANCE


def test_rejected_return_is_refused_acceptance() -> None:
    flags = scan_refused_acceptance([ticket(1, rejected_return_count=1)], NOW)
    assert [f.kind for f in flags] == [K.REFUSED_ACCEPTANCE]


# --------------------------------------------------------------------------------------------
# Repeated and clustered


def test_same_caller_repeating_the_same_request_is_flagged() -> None:
    tickets = [
        ticket(1, status=TicketStatus.CLOSED, summary="小区电梯停运一周无人维修", age=timedelta(days=20)),
        ticket(2, status=TicketStatus.CLOSED, summary="小区电梯又停运了，没人修", age=timedelta(days=9)),
        ticket(3, summary="电梯停运无人维修，第三次反映", age=timedelta(days=1)),
        ticket(4, summary="楼下饭店油烟扰民", age=timedelta(days=1)),  # other matter
    ]
    flags = scan_repeated(tickets, NOW)
    assert [f.ticket_no for f in flags] == [tickets[2].ticket_no]  # only the open one
    assert set(flags[0].related_ticket_nos) == {t.ticket_no for t in tickets[:3]}


def test_repetition_outside_the_window_does_not_count() -> None:
    tickets = [
        ticket(1, status=TicketStatus.CLOSED, age=timedelta(days=90)),
        ticket(2, status=TicketStatus.CLOSED, age=timedelta(days=60)),
        ticket(3, age=timedelta(days=1)),
    ]
    assert scan_repeated(tickets, NOW) == []


def test_different_callers_are_not_repetition() -> None:
    tickets = [ticket(i, caller=f"1380000000{i}") for i in range(3)]
    assert scan_repeated(tickets, NOW) == []


def test_many_callers_on_one_issue_is_a_cluster() -> None:
    texts = ["兰山路小区停水两天", "我们小区停水两天了", "小区又停水，两天没水",
             "小区停水两天还没恢复", "停水两天，小区居民没法做饭"]
    tickets = [ticket(i, caller=f"1390000000{i}", summary=t, age=timedelta(hours=5 + i))
               for i, t in enumerate(texts)]
    flags = scan_clustered(tickets, NOW)
    assert {f.ticket_no for f in flags} == {t.ticket_no for t in tickets}
    assert all(f.kind is K.CLUSTERED and len(f.related_ticket_nos) == 5 for f in flags)


def test_one_caller_calling_five_times_is_not_a_cluster() -> None:
    tickets = [ticket(i, summary="小区停水两天") for i in range(5)]
    assert scan_clustered(tickets, NOW) == []


def test_cluster_is_per_district() -> None:
    tickets = [ticket(i, caller=f"1390000000{i}", summary="小区停水两天",
                      district="兰山区" if i % 2 else "河东区") for i in range(6)]
    assert scan_clustered(tickets, NOW) == []
    assert scan_clustered(tickets, NOW, SupervisionPolicy(cluster_min_callers=3))


# --------------------------------------------------------------------------------------------
# Knowledge base and the full scan


def test_stale_knowledge_article_is_flagged_against_its_unit() -> None:
    articles = [
        KnowledgeArticleStatus("kb-1", "city-hrss", NOW - timedelta(days=200), timedelta(days=180)),
        KnowledgeArticleStatus("kb-2", "city-hrss", NOW - timedelta(days=10), timedelta(days=180)),
    ]
    flags = scan_stale_knowledge(articles, NOW)
    assert [(f.knowledge_article_id, f.unit, f.ticket_no) for f in flags] == [
        ("kb-1", "city-hrss", None)]


def test_scan_combines_all_reasons_and_skips_drafts() -> None:
    late = ticket(1, deadline=NOW - timedelta(days=1))
    draft = ticket(2, status=TicketStatus.DRAFT, deadline=NOW - timedelta(days=1))
    result = scan([late, draft], NOW, articles=[
        KnowledgeArticleStatus("kb-1", "city-hrss", NOW - timedelta(days=400), timedelta(days=365))
    ])
    assert {(f.kind, f.ticket_no) for f in result.flags} == {
        (K.OVERDUE, late.ticket_no), (K.STALE_KNOWLEDGE, None)}
    assert [f.kind for f in result.for_ticket(late.ticket_no)] == [K.OVERDUE]


# --------------------------------------------------------------------------------------------
# The ladder


@pytest.mark.parametrize("current, target, ground", [
    (L.NONE, L.HOTLINE, G.HOTLINE_SUPERVISION),
    (L.HOTLINE, L.MEDIA, G.UNRESOLVED_AFTER_HOTLINE),
    (L.MEDIA, L.GOVERNMENT_INSPECTION, G.UNRESOLVED_AFTER_MEDIA),
    (L.HOTLINE, L.GOVERNMENT_INSPECTION, G.PROMISED_NOT_DONE),
    (L.HOTLINE, L.PEOPLES_CONGRESS_CPPCC, G.LOW_SATISFACTION),
    (L.GOVERNMENT_INSPECTION, L.PEOPLES_CONGRESS_CPPCC, G.HIGH_PUBLIC_ATTENTION),
    (L.HOTLINE, L.DISCIPLINE_INSPECTION, G.MISCONDUCT),
])
def test_allowed_escalations(current: L, target: L, ground: G) -> None:
    assert escalation_refusal(current, target, ground) is None


@pytest.mark.parametrize("current, target, ground", [
    (L.NONE, L.MEDIA, G.UNRESOLVED_AFTER_HOTLINE),  # hotline supervision first
    (L.HOTLINE, L.GOVERNMENT_INSPECTION, G.UNRESOLVED_AFTER_MEDIA),  # media first
    (L.MEDIA, L.MEDIA, G.UNRESOLVED_AFTER_HOTLINE),  # not up
    (L.MEDIA, L.HOTLINE, G.HOTLINE_SUPERVISION),  # down
    (L.HOTLINE, L.DISCIPLINE_INSPECTION, G.LOW_SATISFACTION),  # wrong ground
    (L.NONE, L.DISCIPLINE_INSPECTION, G.MISCONDUCT),  # no supervision yet
])
def test_refused_escalations(current: L, target: L, ground: G) -> None:
    assert escalation_refusal(current, target, ground)


# --------------------------------------------------------------------------------------------
# What the hotline itself owes (issue 24): notices, not flags against a unit


def test_a_request_waiting_past_the_review_deadline_is_reported() -> None:
    from supervision.scan import NoticeKind, scan_review_overdue

    policy = SupervisionPolicy(review_within=timedelta(hours=24))
    waiting = [
        ticket(1, status=TicketStatus.RETURN_REQUESTED, requested_at=NOW - timedelta(hours=25)),
        ticket(2, status=TicketStatus.SUSPENSION_REQUESTED, requested_at=NOW - timedelta(hours=24)),
        ticket(3, status=TicketStatus.REOPEN_REQUESTED, requested_at=NOW - timedelta(hours=23)),
        ticket(4, status=TicketStatus.IN_PROGRESS),
    ]
    notices = scan_review_overdue(waiting, NOW, policy)
    assert [(n.ticket_no[-1], n.kind) for n in notices] == [("1", NoticeKind.REVIEW_OVERDUE),
                                                           ("2", NoticeKind.REVIEW_OVERDUE)]
    assert "退回申请" in notices[0].detail and "中止办理申请" in notices[1].detail


def test_a_draft_left_untouched_is_reported() -> None:
    from supervision.scan import scan_stale_drafts

    policy = SupervisionPolicy(draft_max_age=timedelta(hours=24))
    drafts = [ticket(1, status=TicketStatus.DRAFT, age=timedelta(hours=30)),
              ticket(2, status=TicketStatus.DRAFT, age=timedelta(hours=2))]
    assert [n.ticket_no for n in scan_stale_drafts(drafts, NOW, policy)] == [drafts[0].ticket_no]
    # A draft is never flagged against a unit: no unit holds it.
    assert not scan(drafts, NOW).flags


def test_a_deadline_passed_without_feedback_calls_for_a_callback() -> None:
    from supervision.scan import NoticeKind, scan_callbacks_at_deadline

    late = ticket(1, deadline=NOW - timedelta(hours=1))
    answered = ticket(2, status=TicketStatus.FEEDBACK_SUBMITTED, deadline=NOW - timedelta(hours=1),
                      feedback_at=NOW - timedelta(hours=2))
    suspended = ticket(3, status=TicketStatus.SUSPENDED, deadline=NOW - timedelta(hours=1),
                       suspended_remaining=timedelta(days=2))
    notices = scan_callbacks_at_deadline([late, answered, suspended], NOW)
    assert [(n.ticket_no, n.kind) for n in notices] == [(late.ticket_no,
                                                         NoticeKind.CALLBACK_AT_DEADLINE)]
    assert {n.ticket_no for n in scan([late, answered], NOW).notices} == {late.ticket_no}


def test_a_complaint_about_staff_waiting_past_the_quality_check_time_is_reported() -> None:
    """济南: a complaint about hotline staff is answered like any other, in 5 working days; the
    quality team (not a unit) owes it, so the scanner reports it as a notice, never a flag."""
    from supervision.scan import NoticeKind, scan_quality_checks_overdue

    policy = SupervisionPolicy(quality_check_within=timedelta(hours=168))
    waiting = [ticket(1, status=TicketStatus.QUALITY_CHECK, about_staff="a-9", lead_unit=None,
                      requested_at=NOW - timedelta(hours=170)),
               ticket(2, status=TicketStatus.QUALITY_CHECK, about_staff="a-9", lead_unit=None,
                      requested_at=NOW - timedelta(hours=20))]
    notices = scan_quality_checks_overdue(waiting, NOW, policy)
    assert [(n.ticket_no, n.kind) for n in notices] == [(waiting[0].ticket_no, NoticeKind.QUALITY_CHECK_OVERDUE)]
    assert "待质检" in notices[0].detail
    result = scan(waiting, NOW, policy=policy)
    assert not result.flags and [n.ticket_no for n in result.notices] == [waiting[0].ticket_no]


def test_a_suspended_ticket_is_never_overdue() -> None:
    suspended = ticket(1, status=TicketStatus.SUSPENDED, deadline=NOW - timedelta(days=1),
                       suspended_remaining=timedelta(days=2))
    assert scan_overdue([suspended], NOW) == []


# --------------------------------------------------------------------------------------------
# 济南条例: the first contact within the working days after dispatch


def test_a_unit_that_did_not_contact_the_caller_by_the_first_contact_deadline_is_flagged() -> None:
    from supervision.scan import scan_first_contact_overdue

    silent = ticket(1, first_contact_deadline=NOW - timedelta(minutes=1))
    contacted = ticket(2, first_contact_deadline=NOW - timedelta(days=1),
                       first_contacted_at=NOW - timedelta(days=2))
    not_yet = ticket(3, first_contact_deadline=NOW + timedelta(hours=1))
    no_reply = ticket(4)  # the caller asked for no reply: dispatched without such a deadline
    flagged = ticket(5, first_contact_deadline=NOW - timedelta(days=1),
                     supervision_flags=frozenset({K.NO_FIRST_CONTACT}))
    closed = ticket(6, status=TicketStatus.CLOSED, first_contact_deadline=NOW - timedelta(days=1))
    flags = scan_first_contact_overdue([silent, contacted, not_yet, no_reply, flagged, closed], NOW)
    assert [(f.kind, f.ticket_no, f.unit) for f in flags] == [
        (K.NO_FIRST_CONTACT, silent.ticket_no, "city-housing")]
    assert "未联系诉求人" in flags[0].detail and "T" not in flags[0].detail  # local time, not ISO
    assert (K.NO_FIRST_CONTACT, silent.ticket_no) in {(f.kind, f.ticket_no) for f in scan([silent], NOW).flags}


def test_the_deadline_callback_is_no_longer_owed_once_it_is_on_the_ticket() -> None:
    from supervision.scan import scan_callbacks_at_deadline

    called = ticket(1, deadline=NOW - timedelta(hours=1), deadline_callback_at=NOW - timedelta(minutes=5))
    assert scan_callbacks_at_deadline([called], NOW) == []
