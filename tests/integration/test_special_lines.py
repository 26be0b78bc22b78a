"""Special lines (专线) with service hours, on real Asterisk: outside its hours a caller of the
line hears the closed-line notice and leaves a message, which becomes a ticket with a callback
task; inside them the call is queued for an agent like any other."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, hung_up_by_hotline_scenario, speech_call_scenario
from kernel.schema import callback_tasks, tickets
from telephony.settings import QueueSettings, SpecialLineSettings
from telephony.special_lines import HOTLINE_TZ
from tests.asterisk_harness import SipPhones
from tests.integration.test_three_way_calls import nothing_left

pytestmark = pytest.mark.asterisk

QUEUE = QueueSettings(offer_timeout_seconds=5, max_wait_seconds=60, announce_every_seconds=30,
                      wrap_up_limit_seconds=60)
CALLER = "13700000088"


def hours_not_now() -> str:
    """A one-hour window starting two hours from now (Beijing time): closed now."""
    start = datetime.now(UTC).astimezone(HOTLINE_TZ) + timedelta(hours=2)
    return f"{start:%H:%M}-{start + timedelta(hours=1):%H:%M}"


async def call_line(asterisk: AsteriskSandbox, scenario: str) -> tuple[int, str]:
    path = asterisk.write_sipp_file(f"special-{uuid.uuid4().hex[:6]}.xml", scenario)
    return await asterisk.run_sipp("-sf", path, "-s", "12319", "-m", "1", "-set", "caller", CALLER)


async def test_a_call_out_of_the_lines_hours_leaves_a_message_with_a_callback_task(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    line = SpecialLineSettings(number="12319", name="城管专线", service_hours=hours_not_now())
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE,
                                     message_max_seconds=15.0, special_lines=(line,))
    await sip_phones.start("a1", answer_after_ms=200)
    await bridge.acd.sign_in("a1")

    wav = asterisk.write_sipp_file("special-caller.wav", caller_audio_wav())
    code, out = await call_line(asterisk, hung_up_by_hotline_scenario(wav, timeout_ms=40000))
    assert code == 0, out[-800:]  # the hotline ended the message: nobody answered it live
    record, ticket_no = await asyncio.wait_for(bridge.finished.get(), 20)
    assert record.is_message and record.dialed_number == "12319" and record.agent_id is None
    assert not any(e.get("type") == "call.offered" for _, e in bridge.notices.events)
    async with bridge.engine.connect() as conn:  # type: ignore[attr-defined]
        ticket = (await conn.execute(select(tickets).where(tickets.c.ticket_no == ticket_no))).one()
        task = (await conn.execute(select(callback_tasks).where(
            callback_tasks.c.ticket_no == ticket_no))).one()
    assert ticket.origin == "message" and task.caller_number == CALLER
    await nothing_left(bridge)


async def test_a_call_in_the_lines_hours_goes_to_an_agent(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    line = SpecialLineSettings(number="12319", service_hours="00:00-24:00")
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE,
                                     special_lines=(line,))
    await sip_phones.start("a1", answer_after_ms=200)
    await bridge.acd.sign_in("a1")
    wav = asterisk.write_sipp_file("special-caller.wav", caller_audio_wav())
    code, out = await call_line(asterisk, speech_call_scenario(wav, hold_ms=4000, loops=-1))
    assert code == 0, out[-800:]
    record, _ = await asyncio.wait_for(bridge.finished.get(), 20)
    assert record.agent_id == "a1" and not record.is_message
    await nothing_left(bridge)
