"""The workflow rules of issue 24 over HTTP, on real SQLite and PostgreSQL: each new command (and
each changed one) through `POST /api/tickets/{no}/commands/{name}`, its refusals in Chinese with
the rule that refused, and its event in the history. The server is `test_ticket_api.py`'s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import FixedClock
from kernel.errors import IllegalTransition

# The server fixture and the fixtures it needs: pytest looks them up in this module.
from tests.integration.test_ticket_api import (  # noqa: F401
    AGENT,
    CALLBACK,
    DISPATCHER,
    EVIDENCE,
    HOUSING,
    SUPERVISOR,
    URBAN,
    catalogue_and_calendar,
    client,
    clock,
    command,
    dispatched_to_housing,
    ok,
    register,
)
from tickets.deadlines import working_day_deadline
from tickets.workflow import DEFAULT_POLICY


async def signed(client: TestClient) -> dict[str, Any]:
    ticket = await dispatched_to_housing(client)
    return await ok(client, ticket["ticket_no"], "sign", HOUSING, ticket["version"])


async def fed_back(client: TestClient) -> dict[str, Any]:
    ticket = await signed(client)
    return await ok(client, ticket["ticket_no"], "feedback", HOUSING, ticket["version"],
                    result="已督促物业修复")


async def history(client: TestClient, no: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)
    return list((await response.json())["events"])


def refused(status: int, data: dict[str, Any], http: int, code: str) -> None:
    assert status == http and data["error"] == code, data


# ---- 1. review-reopen ----------------------------------------------------------------------


async def test_an_unsatisfied_callback_waits_for_review_reopen_which_reopens_or_closes(
        client: TestClient) -> None:
    ticket = await fed_back(client)
    no = ticket["ticket_no"]
    ticket = await ok(client, no, "callback", CALLBACK, ticket["version"], satisfaction="unsatisfied",
                      reasonable=True, reason="电梯仍不能用")
    assert ticket["status"] == "reopen_requested" and ticket["reopen_count"] == 0
    status, data = await command(client, no, "review-reopen", DISPATCHER, ticket["version"],
                                 reasonable=True)
    refused(status, data, 403, "permission_denied")
    reopened = await ok(client, no, "review-reopen", SUPERVISOR, ticket["version"], reasonable=True,
                        reason="诉求合理")
    # Without a deadline given, the unit's handling term from now (catalogue and calendar).
    assert reopened["status"] == "in_progress" and reopened["reopen_count"] == 1
    assert datetime.fromisoformat(reopened["deadline"]).astimezone(UTC).hour == 16
    again = await ok(client, no, "feedback", HOUSING, reopened["version"], result="已更换主板")
    again = await ok(client, no, "callback", CALLBACK, again["version"], satisfaction="unsatisfied")
    status, data = await command(client, no, "review-reopen", CALLBACK, again["version"],
                                 reasonable=False)
    refused(status, data, 400, "invalid_input")
    closed = await ok(client, no, "review-reopen", CALLBACK, again["version"], reasonable=False,
                      reason="诉求超出政策规定，已解释")
    assert closed["status"] == "closed" and closed["closure_reason"] == "callback_completed"
    assert closed["satisfaction"] == "unsatisfied"
    last = (await history(client, no))[-1]
    assert last["type"] == "ReopenReviewed" and last["data"]["reason"] == "诉求超出政策规定，已解释"


# ---- 2. close-unreached --------------------------------------------------------------------


async def test_close_unreached_needs_the_attempts_and_closes_as_unreached(client: TestClient) -> None:
    ticket = await fed_back(client)
    no, version = ticket["ticket_no"], ticket["version"]
    status, data = await command(client, no, "close-unreached", CALLBACK, version,
                                 attempts=DEFAULT_POLICY.callback_attempts - 1)
    refused(status, data, 422, "illegal_transition")
    assert "未回访成功" in data["message"]
    closed = await ok(client, no, "close-unreached", CALLBACK, version,
                      attempts=DEFAULT_POLICY.callback_attempts, reason="三次无人接听")
    assert closed["closure_reason"] == "callback_unreached" and closed["satisfaction"] is None
    assert (await history(client, no))[-1]["data"]["attempts"] == DEFAULT_POLICY.callback_attempts


# ---- 3. request-extension: the caller told, caps -------------------------------------------


async def test_extension_needs_the_caller_told_and_is_capped(client: TestClient,
                                                             clock: FixedClock) -> None:
    ticket = await signed(client)
    no = ticket["ticket_no"]
    deadline = datetime.fromisoformat(ticket["deadline"])

    def later(days: int) -> str:
        return (deadline + timedelta(days=days)).isoformat()

    status, data = await command(client, no, "request-extension", HOUSING, ticket["version"],
                                 reason="需协调", requested_deadline=later(5))
    refused(status, data, 422, "illegal_transition")
    assert "向诉求人说明理由" in data["message"]
    for n in range(DEFAULT_POLICY.max_extensions):
        ticket = await ok(client, no, "request-extension", HOUSING, ticket["version"], reason="需协调",
                          requested_deadline=later(5 * (n + 1)), caller_informed=True)
        ticket = await ok(client, no, "approve-extension", DISPATCHER, ticket["version"],
                          new_deadline=later(5 * (n + 1)))
    assert ticket["extension_count"] == DEFAULT_POLICY.max_extensions
    status, data = await command(client, no, "request-extension", HOUSING, ticket["version"],
                                 reason="还需协调", requested_deadline=later(20), caller_informed=True)
    refused(status, data, 422, "illegal_transition")
    assert "最多延期" in data["message"]
    events = await history(client, no)
    assert [e["data"]["caller_informed"] for e in events if e["type"] == "ExtensionRequested"] == [
        True] * DEFAULT_POLICY.max_extensions


# ---- 4. close-out-of-scope: intake closures ------------------------------------------------


async def test_drafts_close_at_intake_for_each_reason_with_what_the_caller_was_told(
        client: TestClient) -> None:
    cases = [("secret_or_privacy", {"reason": "涉及他人隐私，已解释"}),
             ("outside_duties", {"referred_to": "消费者协会"}),
             ("unlawful_or_harassing", {"reason": "已告知相关规定及法律后果"}),
             ("invalid_call", {})]
    for scope, extra in cases:
        draft = await register(client)
        if extra:
            status, data = await command(client, draft["ticket_no"], "close-out-of-scope", AGENT, 1,
                                         scope=scope)
            refused(status, data, 400, "invalid_input")
        closed = await ok(client, draft["ticket_no"], "close-out-of-scope", AGENT, 1, scope=scope,
                          **extra)
        assert (closed["status"], closed["closure_reason"]) == ("closed", scope)


# ---- 5. the return window ------------------------------------------------------------------


async def test_a_return_after_the_window_is_refused(client: TestClient, clock: FixedClock) -> None:
    ticket = await dispatched_to_housing(client)
    no = ticket["ticket_no"]
    events = await history(client, no)
    window_end = datetime.fromisoformat(events[-1]["data"]["return_deadline"])
    assert window_end > clock.now
    clock.now = window_end + timedelta(minutes=1)
    status, data = await command(client, no, "request-return", HOUSING, ticket["version"],
                                 reason="非本单位职责", attachments=EVIDENCE)
    refused(status, data, 422, "illegal_transition")
    assert "退回的时限" in data["message"]


async def test_a_return_within_the_window_waits_for_review(client: TestClient) -> None:
    ticket = await dispatched_to_housing(client)
    asked = await ok(client, ticket["ticket_no"], "request-return", HOUSING, ticket["version"],
                     reason="非本单位职责", attachments=EVIDENCE)
    assert asked["status"] == "return_requested"


# ---- 6. suspension -------------------------------------------------------------------------


async def test_suspension_stops_the_clock_and_resume_restarts_it(client: TestClient,
                                                                 clock: FixedClock) -> None:
    ticket = await signed(client)
    no = ticket["ticket_no"]
    status, data = await command(client, no, "request-suspension", HOUSING, ticket["version"],
                                 reason="诉求人住院")
    refused(status, data, 422, "illegal_transition")
    ticket = await ok(client, no, "request-suspension", HOUSING, ticket["version"],
                      reason="诉求人住院，暂无法核实", attachments=EVIDENCE)
    assert ticket["status"] == "suspension_requested"
    status, data = await command(client, no, "reject-suspension", DISPATCHER, ticket["version"])
    refused(status, data, 400, "invalid_input")
    left = datetime.fromisoformat(ticket["deadline"]) - clock.now
    ticket = await ok(client, no, "approve-suspension", DISPATCHER, ticket["version"], reason="同意")
    assert ticket["status"] == "suspended"
    clock.now += timedelta(days=30)
    resumed = await ok(client, no, "resume", HOUSING, ticket["version"], reason="诉求人已出院")
    assert resumed["status"] == "in_progress"
    assert datetime.fromisoformat(resumed["deadline"]) == clock.now + left
    assert [e["type"] for e in await history(client, no)][-3:] == [
        "SuspensionRequested", "SuspensionApproved", "HandlingResumed"]


async def test_a_rejected_suspension_goes_back_to_handling(client: TestClient) -> None:
    ticket = await signed(client)
    no = ticket["ticket_no"]
    ticket = await ok(client, no, "request-suspension", HOUSING, ticket["version"],
                      reason="等待鉴定", attachments=EVIDENCE)
    back = await ok(client, no, "reject-suspension", SUPERVISOR, ticket["version"], reason="可先行处置")
    assert back["status"] == "in_progress"


# ---- 7. accept-feedback / reject-feedback (济南条例 逐一审核) -------------------------------


async def test_feedback_is_accepted_or_sent_back_with_a_reason(client: TestClient) -> None:
    ticket = await fed_back(client)
    no = ticket["ticket_no"]
    status, data = await command(client, no, "accept-feedback", HOUSING, ticket["version"])
    refused(status, data, 403, "permission_denied")
    status, data = await command(client, no, "reject-feedback", DISPATCHER, ticket["version"])
    refused(status, data, 400, "invalid_input")
    back = await ok(client, no, "reject-feedback", DISPATCHER, ticket["version"],
                    reason="未说明整改结果")
    assert back["status"] == "in_progress"
    again = await ok(client, no, "feedback", HOUSING, back["version"], result="已整改，附照片")
    accepted = await ok(client, no, "accept-feedback", CALLBACK, again["version"], reason="反馈完整")
    assert accepted["status"] == "feedback_accepted"
    closed = await ok(client, no, "callback", CALLBACK, accepted["version"], satisfaction="satisfied")
    assert closed["closure_reason"] == "callback_completed"


async def test_with_the_review_rule_the_survey_is_due_on_acceptance_not_on_feedback(
        engine: AsyncEngine, clock: FixedClock) -> None:
    import dataclasses

    from sqlalchemy import select

    from kernel.roles import Actor, Role
    from kernel.schema import callback_tasks
    from tickets.model import Caller, Channel, TicketType
    from tickets.store import TicketStore
    from tickets.workflow import (
        AcceptFeedback,
        Classify,
        Dispatch,
        RecordCallback,
        Register,
        Sign,
        SubmitFeedback,
    )

    store = TicketStore(engine, "N01", clock=clock,
                        policy=dataclasses.replace(DEFAULT_POLICY, review_feedback=True))
    agent, unit_staff = Actor("agent7", Role.AGENT), Actor("zhang", Role.UNIT, unit="city-housing")
    ticket, _ = await store.register(Register(ticket_no="", channel=Channel.PHONE,
                                              caller=Caller(number="13800000031")), agent)
    no = ticket.ticket_no
    steps = [(Classify(ticket_type=TicketType.COMPLAINT, summary="电梯停运"), agent),
             (Dispatch(lead_unit="city-housing", deadline=clock.now + timedelta(days=5),
                       sign_deadline=clock.now + timedelta(days=1)), Actor("disp1", Role.DISPATCHER)),
             (Sign(), unit_staff), (SubmitFeedback(result="已修复"), unit_staff)]
    for step, actor in steps:
        ticket, _ = await store.transition(no, step, actor, ticket.version)

    async def surveys() -> int:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(callback_tasks.c.id).where(
                callback_tasks.c.ticket_no == no))).all()
        return len(rows)

    assert await surveys() == 0
    callback = Actor("cb1", Role.CALLBACK_AGENT)
    with pytest.raises(IllegalTransition) as info:
        await store.transition(no, RecordCallback(satisfaction=None), callback, ticket.version)
    assert info.value.context["rule"] == "feedback_review_required"
    ticket, _ = await store.transition(no, AcceptFeedback(), callback, ticket.version)
    assert await surveys() == 1


# ---- 8. 济南条例: first contact within 5 working days -----------------------------------------


async def test_dispatch_gives_the_unit_five_working_days_to_contact_the_caller_which_it_records(
        client: TestClient, clock: FixedClock, catalogue_and_calendar: tuple[Any, Any]) -> None:
    dispatched_at = clock.now
    ticket = await dispatched_to_housing(client)
    no = ticket["ticket_no"]
    expected = min(datetime.fromisoformat(ticket["deadline"]),
                   working_day_deadline(dispatched_at, DEFAULT_POLICY.first_contact_working_days,
                                        catalogue_and_calendar[1]))
    assert datetime.fromisoformat(ticket["first_contact_deadline"]) == expected
    assert ticket["first_contacted_at"] is None
    assert (await history(client, no))[-1]["data"]["first_contact_deadline"] is not None
    # Only the lead unit records it; the note says what was said, the method how.
    status, data = await command(client, no, "record-contact", URBAN, ticket["version"],
                                 method="phone", note="已联系")
    refused(status, data, 403, "permission_denied")
    status, data = await command(client, no, "record-contact", HOUSING, ticket["version"],
                                 method="fax", note="已联系")
    refused(status, data, 400, "invalid_input")
    status, data = await command(client, no, "record-contact", HOUSING, ticket["version"],
                                 method="phone", note="")
    refused(status, data, 400, "invalid_input")
    clock.now += timedelta(hours=3)
    contacted = await ok(client, no, "record-contact", HOUSING, ticket["version"], method="visit",
                         note="上门查看电梯，告知维修安排")
    assert contacted["status"] == "dispatched"
    assert datetime.fromisoformat(contacted["first_contacted_at"]) == clock.now
    last = (await history(client, no))[-1]
    assert last["type"] == "CallerContacted" and last["data"]["method"] == "visit"
    response = await client.get(f"/api/tickets/{no}", headers=HOUSING)
    assert "record-contact" in (await response.json())["actions"]


async def test_a_caller_who_asked_for_no_reply_gets_no_first_contact_deadline(
        client: TestClient) -> None:
    ticket = await dispatched_to_housing(client, no_reply=True)
    assert ticket["first_contact_deadline"] is None and ticket["caller"]["no_reply"] is True
    response = await client.get(f"/api/tickets/{ticket['ticket_no']}", headers=HOUSING)
    assert (await response.json())["ticket"]["caller"]["no_reply"] is True  # the unit knows why
    response = await client.get("/api/tickets", headers=SUPERVISOR)
    listed = {t["ticket_no"]: t for t in (await response.json())["tickets"]}
    assert listed[ticket["ticket_no"]]["caller"]["no_reply"] is True  # the projection has it too


# ---- 9. 北京条例第二十三条: the callback when the deadline expires ------------------------------


async def test_the_deadline_callback_records_the_callers_view_and_unsatisfied_is_supervision(
        client: TestClient, clock: FixedClock) -> None:
    ticket = await signed(client)
    no = ticket["ticket_no"]
    status, data = await command(client, no, "deadline-callback", CALLBACK, ticket["version"],
                                 satisfaction="satisfied")
    refused(status, data, 422, "illegal_transition")
    assert "时限届满" in data["message"]
    clock.now = datetime.fromisoformat(ticket["deadline"]) + timedelta(minutes=1)
    status, data = await command(client, no, "deadline-callback", HOUSING, ticket["version"],
                                 satisfaction="satisfied")
    refused(status, data, 403, "permission_denied")
    called = await ok(client, no, "deadline-callback", CALLBACK, ticket["version"],
                      satisfaction="unsatisfied", reason="至今没有修")
    assert called["status"] == "in_progress" and called["satisfaction"] is None
    assert called["deadline_callback_view"] == "unsatisfied"
    assert "unsatisfied_at_deadline" in called["supervision_flags"]
    assert called["supervision_level"] == "hotline"
    last = (await history(client, no))[-1]
    assert last["type"] == "DeadlineCallbackRecorded" and last["data"]["supervised"] is True
    fed = await ok(client, no, "feedback", HOUSING, called["version"], result="已修复")
    assert fed["status"] == "feedback_submitted"  # the unit finishes as before
