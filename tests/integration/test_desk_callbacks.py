"""Callbacks placed from the desk (回访 by a person) on real Asterisk: SIPp as agent and citizen.

A survey the dialer could not settle is on the callback agents' list. The agent places the
call: the backend rings the agent's phone, then the citizen with the hotline's caller id, and
bridges the two; the agent records the answer with the ticket's callback command. A citizen
who does not answer leaves the task on the list. No channel or bridge is left afterwards.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import checked_phone_scenario
from kernel.phone_number import InvalidPhoneNumber
from kernel.roles import Actor, Role
from kernel.schema import callback_tasks, calls
from outbound.desk_callback import DeskCallbacks
from telephony.settings import CallbackSettings
from tests.asterisk_harness import SipPhones
from tests.integration.test_callback_calls import service_factory, ticket_with_feedback
from tickets.callbacks import CallbackService
from tickets.model import Satisfaction, TicketStatus
from tickets.store import TicketStore
from tickets.workflow import RecordCallback

pytestmark = pytest.mark.asterisk

CALLBACK_AGENT = Actor("cb1", Role.CALLBACK_AGENT)


async def task_on_the_agents_list(bridge: Any, service: CallbackService) -> tuple[str, str]:
    no = await ticket_with_feedback(TicketStore(bridge.engine, "T01"))
    [task] = await service.listed("due")
    async with bridge.engine.begin() as conn:  # the dialer tried and gave up
        await conn.execute(update(callback_tasks).where(callback_tasks.c.id == task.id)
                           .values(status="agent", result="no_answer"))
    return no, task.id


def desk_callbacks(bridge: Any) -> DeskCallbacks:
    return next(s for s in bridge.flow.side_calls if isinstance(s, DeskCallbacks))


async def nothing_left(bridge: Any) -> None:
    rest = bridge.flow.rest
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        state = await rest.application()
        if not state.channel_ids and not state.bridge_ids and desk_callbacks(bridge).footprint() == 0:
            break
        assert loop.time() < deadline, f"left in Asterisk: {state}"
        await asyncio.sleep(0.2)


WAV_HEADER, HALF_A_SECOND = 44, 8000  # 8 kHz signed 16-bit mono: 16,000 bytes a second


async def test_an_agent_calls_the_citizen_back_from_the_desk_and_records_the_answer(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    await sip_phones.start("cb1", answer_after_ms=200)
    citizen = await sip_phones.start("citizen", scenario=checked_phone_scenario(r'"12345" <sip:12345@'))
    made: list[CallbackService] = []
    settings = CallbackSettings(dial=f"PJSIP/{{number}}@{citizen.removeprefix('PJSIP/')}")
    bridge = await in_process_bridge(asterisk, desk_callbacks=(settings, service_factory(made, 1.0)))
    service = made[0]
    no, task_id = await task_on_the_agents_list(bridge, service)

    call_id = await desk_callbacks(bridge).place("cb1", task_id)
    await bridge.notices.wait_for("callback.ringing")
    answered = await bridge.notices.wait_for("callback.answered")
    assert answered["call_id"] == call_id and answered["ticket_no"] == no
    call = desk_callbacks(bridge).calls[call_id]
    found = await bridge.flow.rest.get_bridge(call.bridge_id)
    assert found is not None and {call.agent_channel, call.citizen_channel} <= set(found.channels)
    [busy] = await service.listed("agent_calling")
    assert busy.id == task_id
    # The two talk for a moment: the recording holds audio before anyone hangs up (on a busy
    # machine an answer recorded at once left a recording of 0 frames).
    desk = desk_callbacks(bridge)
    assert call.recording_name and desk.recording_dir
    recording = desk.recording_dir / f"{call.recording_name}.{desk.recording_format}"
    for _ in range(200):  # Asterisk writes the WAV header's length at the end: count bytes
        if recording.exists() and recording.stat().st_size >= WAV_HEADER + HALF_A_SECOND:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"nothing recorded of the callback within 20 s: {recording}")

    # The agent records the citizen's answer with the ticket's callback command, then hangs up.
    store = TicketStore(bridge.engine, "T01")
    ticket = await store.get(no)
    await store.transition(no, RecordCallback(satisfaction=Satisfaction.SATISFIED),
                           CALLBACK_AGENT, ticket.version)
    await bridge.flow.rest.hangup(call.agent_channel)
    ended = await bridge.notices.wait_for("callback.ended")
    assert ended["reached"] is True
    assert await asyncio.wait_for(sip_phones.processes[-1].wait(), 20) == 0, \
        "the citizen's phone saw no call with the hotline's caller id"
    # The answer on the ticket finished the task (whatever way it was recorded), and the call's
    # end did not put it back on the list.
    [done] = await service.listed("done")
    assert done.id == task_id and done.result == "satisfied"
    assert await service.listed("agent") == []
    async with bridge.engine.connect() as conn:  # the call and its recording are kept
        row = (await conn.execute(select(calls).join(
            callback_tasks, callback_tasks.c.call_id == calls.c.id).where(
            callback_tasks.c.id == task_id))).one()
    assert row.agent_id == "cb1" and row.recording_seconds and row.recording_seconds > 0
    assert (await store.get(no)).status is TicketStatus.CLOSED
    await nothing_left(bridge)


async def test_a_citizen_who_does_not_answer_leaves_the_task_on_the_list(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    await sip_phones.start("cb1", answer_after_ms=200)
    citizen = await sip_phones.start("citizen", answer_after_ms=None)
    made: list[CallbackService] = []
    settings = CallbackSettings(dial=f"PJSIP/{{number}}@{citizen.removeprefix('PJSIP/')}",
                                ring_seconds=3)
    bridge = await in_process_bridge(asterisk, desk_callbacks=(settings, service_factory(made, 1.0)))
    service = made[0]
    _, task_id = await task_on_the_agents_list(bridge, service)

    await desk_callbacks(bridge).place("cb1", task_id)
    missed = await bridge.notices.wait_for("callback.not_reached")
    assert missed["reason"] == "no_answer"
    ended = await bridge.notices.wait_for("callback.ended")
    assert ended["reached"] is False
    [task] = await service.listed("agent")
    assert task.id == task_id and task.result == "placed:no_answer" and task.attempts == 1
    # 稍后重拨 after that call: the attempt was counted when the call was placed, not again.
    retried = await service.retry_by_person(task_id, datetime.now(UTC), "no_answer")
    assert retried.attempts == 1 and retried.result == "no_answer"
    # A retry noted without a call placed here (another phone) is an attempt of its own.
    assert (await service.retry_by_person(task_id, datetime.now(UTC), "busy")).attempts == 2
    await nothing_left(bridge)


async def test_an_agent_who_does_not_pick_up_leaves_the_task_on_the_list_and_the_citizen_unrung(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    await sip_phones.start("cb1", answer_after_ms=None)
    made: list[CallbackService] = []
    settings = CallbackSettings(dial="PJSIP/{number}@nowhere")
    bridge = await in_process_bridge(asterisk, desk_callbacks=(settings, service_factory(made, 1.0)))
    service = made[0]
    _, task_id = await task_on_the_agents_list(bridge, service)
    desk = desk_callbacks(bridge)
    desk.agent_ring_seconds = 2

    await desk.place("cb1", task_id)
    ended = await bridge.notices.wait_for("callback.ended")
    assert ended["reached"] is False and ended["reason"] == "agent_no_answer"
    assert not any(e.get("type") == "callback.ringing" for _, e in bridge.notices.events)
    [task] = await service.listed("agent")
    assert task.id == task_id and task.result == "placed:agent_no_answer"
    await nothing_left(bridge)


async def test_a_crafted_number_is_refused_before_the_agents_phone_rings(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    """A task whose number is a dial-string payload: the agent gets a typed error at once, the
    task says why, and nothing is ever originated."""
    await sip_phones.start("cb1", answer_after_ms=200)
    made: list[CallbackService] = []
    bridge = await in_process_bridge(asterisk, desk_callbacks=(CallbackSettings(), service_factory(made, 1.0)))
    service = made[0]
    _, task_id = await task_on_the_agents_list(bridge, service)
    async with bridge.engine.begin() as conn:
        await conn.execute(update(callback_tasks).where(callback_tasks.c.id == task_id)
                           .values(caller_number="13700001111&PJSIP/cb1"))

    with pytest.raises(InvalidPhoneNumber):
        await desk_callbacks(bridge).place("cb1", task_id)
    [task] = await service.listed("agent")
    assert task.id == task_id and task.result == "placed:invalid_number"
    assert not any(e.get("type") == "callback.ringing" for _, e in bridge.notices.events)
    await nothing_left(bridge)
