"""Three-way calls and emergency transfers on real Asterisk (SIPp as caller, agent and unit).

The agent (a desk SIP phone) answers a queued caller and rings a handling unit (another SIPp):
all three are in the caller's recorded bridge; the agent leaves and the caller and the unit
stay connected and recorded. A unit that does not answer gives the desk "no answer". A blind
emergency transfer reaches the emergency trunk and closes the ticket as out of scope. After
each test no channel or bridge of ours is left in Asterisk.
"""

from __future__ import annotations

import array
import asyncio
import math
import uuid
from collections import defaultdict

import pytest
from sqlalchemy import select

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, speaking_phone_scenario, speech_call_scenario
from kernel.errors import AriError
from kernel.schema import calls, tickets
from telephony.settings import QueueSettings, TransferSettings
from tests.asterisk_harness import SipPhones

pytestmark = pytest.mark.asterisk

QUEUE = QueueSettings(offer_timeout_seconds=5, max_wait_seconds=60, announce_every_seconds=30,
                      wrap_up_limit_seconds=60)
TRANSFER = TransferSettings(unit_ring_seconds=3, emergency_dial="PJSIP/{number}@agent-emergency",
                            emergency_ring_seconds=10)




def caller(sandbox: AsteriskSandbox, number: str, seconds: float) -> asyncio.Task[tuple[int, str]]:
    wav = sandbox.write_sipp_file("three-way-caller.wav", caller_audio_wav(seconds=1.0))
    scenario = sandbox.write_sipp_file(f"three-way-{uuid.uuid4().hex[:6]}.xml",
                                       speech_call_scenario(wav, hold_ms=int(seconds * 1000), loops=-1))
    return asyncio.create_task(sandbox.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                                "-set", "caller", number))


async def bridge_channels(bridge, bridge_id: str) -> set[str]:
    found = await bridge.flow.rest.get_bridge(bridge_id)
    return set(found.channels) if found else set()


async def wait_until(what: str, check, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.1)


async def nothing_left(bridge) -> None:
    """No channel or bridge of the call path is left in Asterisk (orphans)."""
    rest = bridge.flow.rest

    async def clean() -> bool:
        state = await rest.application()
        return not state.channel_ids and not state.bridge_ids

    await wait_until("every channel and bridge gone", clean)


async def answered_call(bridge, asterisk: AsteriskSandbox, sip_phones: SipPhones, seconds: float):
    await sip_phones.start("a1", answer_after_ms=200)
    await bridge.acd.sign_in("a1")
    task = caller(asterisk, "13900000021", seconds)
    answered = await bridge.notices.wait_for("call.answered")
    call = bridge.flow.state.by_call_id(str(answered["call_id"]))
    assert call is not None and call.agent_channel_id
    return task, call


async def test_a_unit_joins_the_call_and_stays_with_the_caller_when_the_agent_leaves(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE, transfer=TRANSFER)
    task, call = await answered_call(bridge, asterisk, sip_phones, seconds=12)
    unit = await sip_phones.start("unithousing", answer_after_ms=300)

    party = await bridge.flow.conference.invite_unit(call.call_id, "a1", "city-housing", unit)
    assert (await bridge.notices.wait_for("three_way.ringing"))["target"] == "city-housing"
    await bridge.notices.wait_for("three_way.answered")
    agent_leg = call.agent_channel_id
    assert await bridge_channels(bridge, call.bridge_id) >= {call.channel_id, agent_leg, party}

    await bridge.flow.rest.hangup(agent_leg)  # the agent leaves the three-way call

    async def caller_and_unit_only() -> bool:
        return await bridge_channels(bridge, call.bridge_id) == {call.channel_id, party}

    await wait_until("the caller and the unit alone in the bridge", caller_and_unit_only)
    assert await bridge.flow.rest.get_channel(call.channel_id) is not None

    code, out = await task
    assert code == 0, out[-800:]
    record, _ = await asyncio.wait_for(bridge.finished.get(), 20)
    assert record.agent_id == "a1"
    assert record.recording_seconds is not None and record.recording_seconds > 9, \
        "the caller-unit part of the call was not recorded"
    await nothing_left(bridge)


class SpeakerAudio:
    """Collects each speaker's audio of the call, as the live transcription receives it."""

    def __init__(self) -> None:
        self.audio: dict[str, bytearray] = defaultdict(bytearray)

    def call_started(self, call_id: str, caller_number: str, since: float = 0.0):
        def sink(speaker: str, frame: bytes) -> None:
            self.audio[speaker] += frame
        return sink

    async def call_ended(self, call_id: str, ticket_no: str | None) -> None:
        return None


def rms(pcm: bytes) -> float:
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768 if samples else 0.0


async def test_a_units_words_are_its_own_speaker_not_the_agents(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    """The unit's channel is tapped as speaker `unit`; from the moment it joins, the agent
    stream comes from the agent's own channel, so the unit's words are not in it (the agent's
    SIPp phone sends no audio: its stream must stay silent while the unit speaks)."""
    consumer = SpeakerAudio()
    bridge = await in_process_bridge(asterisk, audio_consumer=consumer, greeting="sound:beep",
                                     queue=QUEUE, transfer=TRANSFER)
    task, call = await answered_call(bridge, asterisk, sip_phones, seconds=9)
    voice = asterisk.write_sipp_file("unit-voice.wav", caller_audio_wav(seconds=1.0))
    unit = await sip_phones.start("unitspeaks", scenario=speaking_phone_scenario(voice))

    await bridge.flow.conference.invite_unit(call.call_id, "a1", "city-housing", unit)
    await bridge.notices.wait_for("three_way.answered")
    agent_before = len(consumer.audio["agent"])

    async def unit_heard() -> bool:
        return len(consumer.audio["unit"]) > 2 * 32000
    await wait_until("two seconds of the unit's words", unit_heard)
    code, out = await task
    assert code == 0, out[-800:]
    await asyncio.wait_for(bridge.finished.get(), 20)

    assert rms(bytes(consumer.audio["unit"])) > 0.02, "the unit's stream carries the unit's voice"
    assert rms(bytes(consumer.audio["caller"])) > 0.02
    agent_after = bytes(consumer.audio["agent"][agent_before:])
    assert rms(agent_after) < 0.003, f"unit audio in the agent stream: rms {rms(agent_after):.4f}"
    await nothing_left(bridge)


async def test_a_unit_that_does_not_answer_gives_the_desk_no_answer(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE, transfer=TRANSFER)
    task, call = await answered_call(bridge, asterisk, sip_phones, seconds=10)
    unit = await sip_phones.start("unitwater", answer_after_ms=None)

    started = asyncio.get_running_loop().time()
    await bridge.flow.conference.invite_unit(call.call_id, "a1", "utility-water", unit)
    outcome = await bridge.notices.wait_for("three_way.no_answer", timeout=15)
    waited = asyncio.get_running_loop().time() - started
    assert outcome["target"] == "utility-water" and waited < TRANSFER.unit_ring_seconds + 3
    # The agent carries on with the caller (and writes a ticket).
    assert call.agent_channel_id and await bridge.flow.rest.get_channel(call.agent_channel_id)
    assert not call.parties

    code, out = await task
    assert code == 0, out[-800:]
    await asyncio.wait_for(bridge.finished.get(), 20)
    await nothing_left(bridge)


async def test_a_blind_emergency_transfer_reaches_the_trunk_and_closes_the_ticket(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE, transfer=TRANSFER)
    task, call = await answered_call(bridge, asterisk, sip_phones, seconds=10)
    await sip_phones.start("emergency", answer_after_ms=200)

    party = await bridge.flow.conference.transfer_emergency(call.call_id, "a1", "119")
    await bridge.notices.wait_for("three_way.answered")

    async def caller_and_line_only() -> bool:
        return await bridge_channels(bridge, call.bridge_id) == {call.channel_id, party}

    await wait_until("the caller with the emergency line, the agent gone", caller_and_line_only)

    code, out = await task
    assert code == 0, out[-800:]
    record, ticket_no = await asyncio.wait_for(bridge.finished.get(), 20)
    assert record.transferred_to == "119"
    async with bridge.engine.connect() as conn:  # type: ignore[attr-defined]
        ticket = (await conn.execute(select(tickets).where(tickets.c.ticket_no == ticket_no))).one()
        transferred = await conn.scalar(select(calls.c.transferred_to).where(calls.c.id == record.call_id))
    assert transferred == "119"
    assert ticket.status == "closed" and ticket.closure_reason == "emergency_line"
    await nothing_left(bridge)


async def test_a_blind_transfer_the_line_never_answers_puts_the_caller_back_in_the_queue(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    transfer = TRANSFER.model_copy(update={"emergency_ring_seconds": 3})
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE, transfer=transfer)
    task, call = await answered_call(bridge, asterisk, sip_phones, seconds=14)
    await sip_phones.start("a2", answer_after_ms=200)
    await bridge.acd.sign_in("a2")  # free only now: the first offer went to a1
    await sip_phones.start("emergency", answer_after_ms=None)

    await bridge.flow.conference.transfer_emergency(call.call_id, "a1", "120")
    await bridge.notices.wait_for("three_way.no_answer", timeout=15)
    requeued = await bridge.notices.wait_for("call.requeued")
    assert requeued["call_id"] == call.call_id and requeued["reason"] == "emergency_no_answer"

    async def taken_by_a2() -> bool:
        return any(agent == "a2" and e.get("type") == "call.answered" and e.get("call_id") == call.call_id
                   for agent, e in bridge.notices.events)

    await wait_until("the caller answered by the next agent", taken_by_a2)
    assert await bridge.flow.rest.get_channel(call.channel_id) is not None

    code, out = await task
    assert code == 0, out[-800:]  # the caller hung up themselves: never cut off
    record, ticket_no = await asyncio.wait_for(bridge.finished.get(), 20)
    assert record.agent_id == "a2" and record.transferred_to is None
    async with bridge.engine.connect() as conn:  # type: ignore[attr-defined]
        ticket = (await conn.execute(select(tickets).where(tickets.c.ticket_no == ticket_no))).one()
    assert ticket.status != "closed"
    await nothing_left(bridge)


async def test_an_asterisk_restart_mid_three_way_call_leaves_no_orphans_and_keeps_the_record(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE, transfer=TRANSFER)
    task, call = await answered_call(bridge, asterisk, sip_phones, seconds=30)
    unit = await sip_phones.start("unithousing", answer_after_ms=300)
    await bridge.flow.conference.invite_unit(call.call_id, "a1", "city-housing", unit)
    await bridge.notices.wait_for("three_way.answered")

    # Asterisk goes down with the three parties bridged, and comes back.
    await asyncio.to_thread(asterisk.stop)
    await asyncio.to_thread(asterisk.start)

    record, ticket_no = await asyncio.wait_for(bridge.finished.get(), 40)
    assert record.call_id == call.call_id and ticket_no
    assert record.agent_id == "a1" and record.recording_path is not None

    async def application_back() -> bool:  # the event stream reconnects on its own
        try:
            await bridge.flow.rest.application()
        except AriError:
            return False
        return True

    await wait_until("the ARI application registered again", application_back, timeout=30)
    await nothing_left(bridge)

    async def forgotten() -> bool:
        return not bridge.flow.state.calls and not bridge.flow.conference.state.calls

    await wait_until("the call forgotten by the flow", forgotten)
    await task  # the caller's phone lost its call with Asterisk: its outcome is not the point
