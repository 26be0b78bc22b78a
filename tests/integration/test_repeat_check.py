"""A call that repeats the caller's open ticket is linked to it on the new ticket's draft."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import FixedClock
from kernel.roles import Actor, Role
from telephony.call_record import CallRecord
from tickets.intake import CallIntake
from tickets.model import Caller, Channel, TicketType
from tickets.repeat_check import RepeatCheck
from tickets.store import TicketStore
from tickets.workflow import AnswerDirectly, Classify, Dispatch, Register

AGENT = Actor("agent7", Role.AGENT)
DISPATCHER = Actor("disp1", Role.DISPATCHER)
CALLER = "13911112222"


@pytest.fixture
def store(engine: AsyncEngine) -> TicketStore:
    return TicketStore(engine, "N01", clock=FixedClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC)))


async def open_ticket(store: TicketStore, number: str, summary: str, content: str) -> str:
    ticket, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=number), summary=summary,
        content=content), AGENT)
    no = ticket.ticket_no
    await store.transition(no, Classify(ticket_type=TicketType.COMPLAINT, summary=summary), AGENT, 1)
    now = store.now()
    await store.transition(no, Dispatch(lead_unit="city-housing", deadline=now + timedelta(days=5),
                                        sign_deadline=now + timedelta(days=1)), DISPATCHER, 2)
    return no


async def test_a_call_repeating_an_open_ticket_names_it(store: TicketStore) -> None:
    elevator = await open_ticket(store, CALLER, "电梯停运", "3号楼电梯停运一周，物业不修")
    await open_ticket(store, CALLER, "噪音", "楼下饭店油烟噪音扰民")
    check = RepeatCheck(store)

    match = await check.open_ticket_repeated("call-2", "+86 139-1111-2222", "3号楼电梯还是停运，物业一直不修",
                                             request_type="complaint")
    assert match is not None and match.ticket_no == elevator


async def test_nothing_is_linked_for_another_caller_a_new_matter_or_a_closed_ticket(
    store: TicketStore,
) -> None:
    elevator = await open_ticket(store, CALLER, "电梯停运", "3号楼电梯停运一周，物业不修")
    check = RepeatCheck(store)
    assert await check.open_ticket_repeated("c", "13800000000", "3号楼电梯还是停运，物业一直不修") is None
    assert await check.open_ticket_repeated("c", CALLER, "孩子学校乱收补课费") is None
    assert await check.open_ticket_repeated("c", CALLER, "") is None

    water, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number="13700000000"),
        summary="停水", content="幸福小区停水两天"), AGENT)
    await store.transition(water.ticket_no, AnswerDirectly(answer="正在抢修"), AGENT, 1)
    assert await check.open_ticket_repeated("c", "13700000000", "幸福小区停水两天") is None
    assert elevator


async def test_the_calls_own_ticket_is_not_its_duplicate(store: TicketStore, engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    record = CallRecord(call_id="call-1", channel_id="chan-1", bridge_id=None, caller_number=CALLER,
                        caller_name="", dialed_number="12345", node_id="N01", started_at=now,
                        answered_at=now, ended_at=now, end_reason="hangup", recording_path=None,
                        recording_seconds=None)
    own = await CallIntake(engine, "N01").record_finished_call(record)
    ticket = await store.get(own)
    await store.transition(own, Classify(ticket_type=TicketType.COMPLAINT, summary="电梯停运",
                                         content="3号楼电梯停运一周，物业不修"), AGENT, ticket.version)
    check = RepeatCheck(store)
    assert await check.open_ticket_repeated("call-1", CALLER, "3号楼电梯停运一周，物业不修") is None
    assert await check.open_ticket_repeated("call-2", CALLER, "3号楼电梯停运一周，物业不修") is not None
