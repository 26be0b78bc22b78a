"""The supervision scanner job against real SQLite and PostgreSQL (and its lease on real Redis)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import FixedClock
from kernel.http_edge import new_app
from kernel.leader_lease import LeaderLease
from kernel.roles import Actor, Role
from supervision.job import SCANNER, SupervisionJob
from supervision.plugin import SupervisionDeps, install
from tests.auth_tokens import bearer, with_test_signer
from tickets import events as ev
from tickets.callbacks import CallbackService
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.model import (
    Caller,
    Channel,
    ContactMethod,
    Satisfaction,
    SupervisionFlagKind,
    TicketStatus,
    TicketType,
)
from tickets.store import TicketStore
from tickets.workflow import (
    AnswerDirectly,
    Classify,
    Dispatch,
    RecordContact,
    Register,
    Sign,
    SubmitFeedback,
)

AGENT = Actor("agent7", Role.AGENT)
DISPATCHER = Actor("disp1", Role.DISPATCHER)
HOUSING = Actor("zhang", Role.UNIT, unit="city-housing")
K = SupervisionFlagKind




@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))


@pytest.fixture
def store(engine: AsyncEngine, clock: FixedClock) -> TicketStore:
    return TicketStore(engine, "N01", clock=clock)


async def new_ticket(store: TicketStore, number: str, summary: str, content: str,
                     *, dispatch: bool = True, sign: bool = False) -> str:
    ticket, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=number),
        summary=summary, content=content), AGENT)
    no = ticket.ticket_no
    await store.transition(no, Classify(ticket_type=TicketType.COMPLAINT, summary=summary), AGENT, 1)
    if dispatch:
        now = store.now()
        await store.transition(no, Dispatch(
            lead_unit="city-housing", deadline=now + timedelta(days=5),
            sign_deadline=now + timedelta(days=1)), DISPATCHER, 2)
    if sign:
        await store.transition(no, Sign(), HOUSING, 3)
    return no


async def test_overdue_and_unsigned_tickets_are_flagged_once_by_the_scanner(
    store: TicketStore, clock: FixedClock
) -> None:
    unsigned = await new_ticket(store, "13800000001", "路灯不亮", "解放路路灯坏了一个月")
    late = await new_ticket(store, "13800000002", "噪音扰民", "夜间施工噪音", sign=True)
    fresh = await new_ticket(store, "13800000003", "井盖缺失", "人民路井盖丢失", sign=True)
    job = SupervisionJob(store, clock=clock)

    assert (await job.run_once()).flagged == []  # nothing is due yet

    clock.now += timedelta(days=2)  # past the sign deadline only
    report = await job.run_once()
    assert report.flagged == [(unsigned, K.REFUSED_ACCEPTANCE)]

    clock.now += timedelta(days=4)  # past the handling deadline too
    report = await job.run_once()
    # Unsigned and past the handling deadline as well: overdue too.
    assert sorted(report.flagged) == sorted([(unsigned, K.OVERDUE), (late, K.OVERDUE),
                                             (fresh, K.OVERDUE)])
    assert (await job.run_once()).flagged == []  # a rescan changes nothing

    ticket, events = await store.get_with_events(late)
    flagged = [e for e in events if isinstance(e, ev.SupervisionFlagged)]
    assert len(flagged) == 1 and flagged[0].kind is K.OVERDUE
    assert flagged[0].actor == SCANNER and "超过办理时限" in flagged[0].reason
    assert K.OVERDUE in ticket.supervision_flags


async def test_a_caller_repeating_the_same_request_is_flagged_even_after_a_closure(
    store: TicketStore, clock: FixedClock
) -> None:
    first = await new_ticket(store, "13911112222", "小区停水", "幸福小区停水两天还没恢复",
                             dispatch=False)
    await store.transition(first, AnswerDirectly(answer="供水公司正在抢修，预计今晚恢复"), AGENT, 2)
    clock.now += timedelta(days=3)
    second = await new_ticket(store, "13911112222", "又停水了", "幸福小区又停水，两天没水")
    clock.now += timedelta(days=3)
    third = await new_ticket(store, "13911112222", "停水", "幸福小区停水还是没人管")
    other = await new_ticket(store, "13911112222", "噪音", "楼下饭店油烟噪音扰民")
    report = await SupervisionJob(store, clock=clock).run_once()
    repeated = {no for no, kind in report.flagged if kind is K.REPEATED}
    # The closed first request counts towards the repetition; only the open ones are flagged.
    assert repeated == {second, third} and other not in repeated
    _, events = await store.get_with_events(third)
    flag = next(e for e in events if isinstance(e, ev.SupervisionFlagged))
    assert set(flag.related_ticket_nos) == {first, second, third}


async def test_supervisors_can_run_a_scan_through_the_api(store: TicketStore, clock: FixedClock) -> None:
    unsigned = await new_ticket(store, "13800000009", "路灯不亮", "解放路路灯坏了")
    clock.now += timedelta(days=2)
    app = with_test_signer(new_app())
    install(app, SupervisionDeps(SupervisionJob(store, clock=clock)))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        refused = await client.post("/api/supervision/scan", headers=bearer("agent", "agent7"))
        assert refused.status == 403
        response = await client.post("/api/supervision/scan", headers=bearer("supervisor", "sup1"))
        assert response.status == 200
        report = await response.json()
    assert report["flagged"] == [{"ticket_no": unsigned, "kind": "refused_acceptance"}]


async def test_one_node_per_round_holds_the_lease(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    key = f"{redis_key_prefix}lease:supervision"
    first = LeaderLease(redis_client, key, ttl_seconds=30)
    second = LeaderLease(redis_client, key, ttl_seconds=30)
    assert await first.acquire() and not await second.acquire()
    await second.release()  # not the holder: changes nothing
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()


async def test_overdue_reviews_and_stale_drafts_are_reported_not_flagged(
    store: TicketStore, clock: FixedClock
) -> None:
    from supervision.scan import NoticeKind, SupervisionPolicy
    from tickets.model import Attachment
    from tickets.workflow import RequestReturn

    asked = await new_ticket(store, "13800000021", "占道经营", "人民路占道经营")
    await store.transition(asked, RequestReturn(reason="非本单位职责", attachments=(
        Attachment("document", "s3://evidence/1.pdf", "职责说明"),)), HOUSING, 3)
    draft, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number="13800000022")), AGENT)
    job = SupervisionJob(store, clock=clock, policy=SupervisionPolicy(
        review_within=timedelta(hours=24), draft_max_age=timedelta(hours=24)))
    assert (await job.run_once()).notices == []

    clock.now += timedelta(hours=25)
    report = await job.run_once()
    assert sorted((n.ticket_no, n.kind) for n in report.notices) == sorted([
        (asked, NoticeKind.REVIEW_OVERDUE), (draft.ticket_no, NoticeKind.STALE_DRAFT)])
    assert report.flagged == []  # the hotline's own delay: no unit is flagged for it
    assert {n["kind"] for n in report.as_json()["notices"]} == {"review_overdue", "stale_draft"}


# ---- issue 24: first contact (济南条例) and the callback at the deadline (北京条例第二十三条) ----


async def dispatched_with_first_contact(store: TicketStore, number: str, *, no_reply: bool = False,
                                        contact_days: int = 3, deadline_days: int = 5) -> str:
    ticket, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=number, no_reply=no_reply),
        summary="电梯停运", content="3号楼电梯停运一周"), AGENT)
    no = ticket.ticket_no
    await store.transition(no, Classify(ticket_type=TicketType.COMPLAINT, summary="电梯停运"), AGENT, 1)
    now = store.now()
    await store.transition(no, Dispatch(
        lead_unit="city-housing", deadline=now + timedelta(days=deadline_days),
        sign_deadline=now + timedelta(days=1),
        first_contact_deadline=now + timedelta(days=contact_days)), DISPATCHER, 2)
    await store.transition(no, Sign(), HOUSING, 3)
    return no


async def test_a_unit_that_never_contacted_the_caller_is_flagged_after_the_first_contact_deadline(
    store: TicketStore, clock: FixedClock
) -> None:
    silent = await dispatched_with_first_contact(store, "13800000011")
    contacted = await dispatched_with_first_contact(store, "13800000012")
    await store.transition(contacted, RecordContact(method=ContactMethod.SMS, note="短信告知维修安排"),
                           HOUSING, 4)
    no_reply = await dispatched_with_first_contact(store, "13800000013", no_reply=True)
    job = SupervisionJob(store, clock=clock)
    clock.now += timedelta(days=2)
    assert [kind for _, kind in (await job.run_once()).flagged] == []
    clock.now += timedelta(days=1, minutes=1)  # past the first-contact deadline, not the handling one
    report = await job.run_once()
    assert report.flagged == [(silent, K.NO_FIRST_CONTACT)]
    assert (await job.run_once()).flagged == []  # once
    ticket = await store.get(silent)
    assert K.NO_FIRST_CONTACT in ticket.supervision_flags
    assert K.NO_FIRST_CONTACT not in (await store.get(contacted)).supervision_flags
    assert (await store.get(no_reply)).first_contact_deadline is None


async def test_an_expired_deadline_puts_one_callback_on_the_agents_list_whatever_the_scans_and_nodes(
    engine: AsyncEngine, store: TicketStore, clock: FixedClock
) -> None:
    late = await dispatched_with_first_contact(store, "13800000021")
    callbacks = CallbackService(engine, store, load_catalogue(), load_calendar(), clock=clock)
    # Two nodes, each with its own job and store, scanning the same database.
    other_store = TicketStore(engine, "N02", clock=clock)
    other_callbacks = CallbackService(engine, other_store, load_catalogue(), load_calendar(), clock=clock)
    jobs = [SupervisionJob(store, clock=clock, deadline_callbacks=callbacks),
            SupervisionJob(other_store, clock=clock, deadline_callbacks=other_callbacks)]
    assert (await jobs[0].run_once()).deadline_callbacks == []
    clock.now += timedelta(days=5, minutes=1)
    reports = await asyncio.gather(*(job.run_once() for job in jobs))
    assert sorted(no for report in reports for no in report.deadline_callbacks) == [late]
    assert (await jobs[0].run_once()).deadline_callbacks == []  # a rescan owes nothing new
    listed = [t for t in await callbacks.listed() if t.ticket_no == late]
    assert [(t.reason, t.status) for t in listed] == [("deadline", "agent")]
    assert await callbacks.due_surveys() == []  # never the automatic dialer's

    # The callback agent reaches the caller: unsatisfied with the handling so far.
    desk = Actor("cb1", Role.CALLBACK_AGENT)
    ticket = await callbacks.record_by_person(listed[0].id, Satisfaction.UNSATISFIED, desk, reasonable=True,
                                              reason="不满意：至今无人联系", outcome="unsatisfied")
    assert ticket.status is TicketStatus.IN_PROGRESS and ticket.deadline_callback_view is Satisfaction.UNSATISFIED
    assert K.UNSATISFIED_AT_DEADLINE in ticket.supervision_flags and ticket.reopen_count == 0
    task = next(t for t in await callbacks.listed() if t.id == listed[0].id)
    assert task.status == "done"
    clock.now += timedelta(hours=1)
    report = await jobs[0].run_once()
    assert report.deadline_callbacks == [] and late not in {n.ticket_no for n in report.notices}


async def test_a_feedback_after_the_deadline_supersedes_the_deadline_callback(
    engine: AsyncEngine, store: TicketStore, clock: FixedClock
) -> None:
    late = await dispatched_with_first_contact(store, "13800000031")
    callbacks = CallbackService(engine, store, load_catalogue(), load_calendar(), clock=clock)
    clock.now += timedelta(days=5, minutes=1)
    assert (await SupervisionJob(store, clock=clock, deadline_callbacks=callbacks).run_once()
            ).deadline_callbacks == [late]
    # The scan flagged the ticket meanwhile (overdue, no first contact): the current version.
    await store.transition(late, SubmitFeedback(result="已修复电梯"), HOUSING,
                           (await store.get(late)).version)
    tasks = {t.reason: t for t in await callbacks.listed() if t.ticket_no == late}
    assert (tasks["deadline"].status, tasks["deadline"].result) == ("done", "superseded")
    assert tasks["survey"].status == "due"  # the survey of the finished handling takes over


async def test_a_deadline_callback_not_reached_is_recorded_and_closes_nothing(
    engine: AsyncEngine, store: TicketStore, clock: FixedClock
) -> None:
    late = await dispatched_with_first_contact(store, "13800000041")
    callbacks = CallbackService(engine, store, load_catalogue(), load_calendar(), clock=clock)
    clock.now += timedelta(days=5, minutes=1)
    await SupervisionJob(store, clock=clock, deadline_callbacks=callbacks).run_once()
    task = next(t for t in await callbacks.listed() if t.ticket_no == late)
    ticket = await callbacks.close_unreached(task.id, Actor("cb1", Role.CALLBACK_AGENT),
                                             reason="未能回访（无人接听）", outcome="final:no_answer")
    assert ticket.status is TicketStatus.IN_PROGRESS and ticket.deadline_callback_at == clock.now
    _, events = await store.get_with_events(late)
    assert isinstance(events[-1], ev.DeadlineCallbackRecorded) and not events[-1].reached
