"""The call queue (ACD) on real Asterisk: callers wait for agents, offers move on, no dead end.

Agents here use desk SIP phones (SIPp in server mode behind an `agent-<id>` endpoint pushed
through ARI), so these tests need no browser; the desk test (`tests/e2e`) does the same with
the WebRTC softphone.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from call_queue.acd import AcdStore
from call_queue.agent_state import AgentStatus, BreakReason
from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from kernel.schema import callback_tasks, calls, tickets
from telephony.ari.models import PlaybackEvent
from telephony.settings import QueueSettings
from tests.asterisk_harness import SipPhones
from tests.integration.test_dependency_bounds import blackholed_redis  # noqa: F401 - a fixture

pytestmark = pytest.mark.asterisk

QUEUE = QueueSettings(offer_timeout_seconds=3, max_wait_seconds=60, announce_every_seconds=5,
                      wrap_up_limit_seconds=1)




def caller(sandbox: AsteriskSandbox, number: str, seconds: float) -> asyncio.Task[tuple[int, str]]:
    wav = sandbox.write_sipp_file("queue-caller.wav", caller_audio_wav(seconds=1.0))
    scenario = sandbox.write_sipp_file(f"queue-{uuid.uuid4().hex[:6]}.xml",
                                       speech_call_scenario(wav, hold_ms=int(seconds * 1000), loops=-1))
    return asyncio.create_task(sandbox.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                                "-set", "caller", number))


def played_on(events: list[object], channel_id: str) -> list[str]:
    return [e.media_uri for e in events if isinstance(e, PlaybackEvent)
            and e.type == "PlaybackStarted" and e.target_uri == f"channel:{channel_id}"]


async def left_message(bridge, record, ticket_no: str, ari_observer: list[object]) -> Any:
    """The caller heard the overflow prompt and the beep and left a message: a `message`
    ticket with a due callback task. Returns the task."""
    assert record.is_message and record.agent_id is None
    played = [e.media_uri for e in ari_observer if isinstance(e, PlaybackEvent)
              and e.type == "PlaybackStarted" and e.target_uri == f"bridge:{record.bridge_id}"]
    assert "sound:hotline/queue-overflow" in played and "sound:beep" in played
    async with bridge.engine.connect() as conn:  # type: ignore[attr-defined]
        origin = await conn.scalar(select(tickets.c.origin).where(tickets.c.ticket_no == ticket_no))
        task = (await conn.execute(select(callback_tasks).where(
            callback_tasks.c.ticket_no == ticket_no))).one()
    assert origin == "message" and task.reason == "left_message" and task.status == "due"
    return task


async def test_two_callers_one_agent_the_second_waits_and_hears_its_place(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones, ari_observer: list[object],
) -> None:
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE)
    await sip_phones.start("a1", answer_after_ms=300, calls=2)
    await bridge.acd.sign_in("a1")

    first = caller(asterisk, "13900000001", seconds=7)
    await asyncio.sleep(1.0)  # the second caller dials a moment later
    second = caller(asterisk, "13900000002", seconds=14)
    results = await asyncio.gather(first, second)
    assert [code for code, _ in results] == [0, 0], [out[-800:] for _, out in results]

    done = [await asyncio.wait_for(bridge.finished.get(), 20) for _ in range(2)]
    by_caller = {record.caller_number: record for record, _ in done}
    one, two = by_caller["13900000001"], by_caller["13900000002"]
    # Both were answered by the only agent, the second once the first call and its wrap-up ended.
    assert one.agent_id == "a1" and two.agent_id == "a1"
    assert one.queue_seconds is not None and one.queue_seconds < 3
    assert two.queue_seconds is not None and two.queue_seconds > 5
    # While waiting, the second caller heard that they were next in line.
    assert "sound:hotline/queue-next" in played_on(ari_observer, two.channel_id)
    assert "sound:hotline/queue-next" not in played_on(ari_observer, one.channel_id)
    async with bridge.engine.connect() as conn:  # type: ignore[attr-defined]
        agents = (await conn.execute(select(calls.c.agent_id))).scalars().all()
    assert sorted(agents) == ["a1", "a1"]


async def test_an_unanswered_offer_moves_on_and_the_agent_is_set_not_ready(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE)
    await sip_phones.start("absent", answer_after_ms=None, calls=1)
    await sip_phones.start("present", answer_after_ms=300, calls=1)
    await bridge.acd.sign_in("absent")  # idle longest: offered first
    await bridge.acd.sign_in("present")

    code, out = await caller(asterisk, "13900000003", seconds=9)
    assert code == 0, out[-800:]
    record, _ = await asyncio.wait_for(bridge.finished.get(), 20)

    assert record.agent_id == "present"
    assert record.queue_seconds is not None and 3 <= record.queue_seconds < 8
    absent = await bridge.acd.agent("absent")
    assert absent.status is AgentStatus.BREAK and absent.break_reason is BreakReason.NO_ANSWER


async def test_no_agent_within_the_limit_the_caller_leaves_a_message_with_a_callback_task(
    asterisk: AsteriskSandbox, in_process_bridge, ari_observer: list[object],
) -> None:
    queue = QueueSettings(offer_timeout_seconds=3, max_wait_seconds=2, announce_every_seconds=30,
                          wrap_up_limit_seconds=1)
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=queue)

    code, out = await caller(asterisk, "13900000004", seconds=8)
    assert code == 0, out[-800:]
    record, ticket_no = await asyncio.wait_for(bridge.finished.get(), 20)

    task = await left_message(bridge, record, ticket_no, ari_observer)
    assert task.caller_number == "13900000004" and task.call_id == record.call_id
    assert record.recording_seconds is not None and record.recording_seconds > 4


async def test_a_waiting_caller_keeps_their_place_when_the_backend_restarts(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    first = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE)
    waiting = caller(asterisk, "13900000005", seconds=14)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not await first.acd.queued():
        assert loop.time() < deadline, "the caller never reached the queue"
        await asyncio.sleep(0.1)
    queued_before = (await first.acd.queued())[0]

    # The backend dies: its tasks stop with no clean-up at all; Asterisk keeps the caller.
    for task in (*first.extra_tasks, first.task):
        task.cancel()
    await asyncio.sleep(1.0)

    second = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE)
    assert [c.call_id for c in await second.acd.queued()] == [queued_before.call_id]
    await sip_phones.start("a2", answer_after_ms=300, calls=1)
    await second.acd.sign_in("a2")

    code, out = await waiting
    assert code == 0, out[-800:]
    record, ticket_no = await asyncio.wait_for(second.finished.get(), 20)
    assert record.call_id == queued_before.call_id and ticket_no
    assert record.agent_id == "a2"
    assert record.queue_seconds is not None and record.queue_seconds > 1.0
    assert record.recording_seconds is not None and record.recording_seconds > 10


async def test_a_dead_queue_redis_sends_the_caller_to_a_message_instead_of_endless_waiting(
    asterisk: AsteriskSandbox, in_process_bridge, ari_observer: list[object], blackholed_redis,
) -> None:
    """The ACD's Redis accepts connections and never answers: enqueueing fails after one short
    bounded wait, the caller is told and leaves a message (a ticket with a callback task), the
    call's end does not wait for Redis again, and the distributor keeps running."""
    bridge = await in_process_bridge(asterisk, greeting="sound:beep", queue=QUEUE)
    distributor = bridge.flow.distributor
    dead = AcdStore(blackholed_redis, "dead-acd:", pause=600.0)  # skipped for the whole test
    distributor.acd = dead

    code, out = await caller(asterisk, "13900000006", seconds=6)
    assert code == 0, out[-800:]
    record, ticket_no = await asyncio.wait_for(bridge.finished.get(), 20)

    await left_message(bridge, record, ticket_no, ari_observer)
    failures = {sample.labels["operation"]: sample.value
                for sample in distributor.metrics.queue_redis_failures.collect()[0].samples
                if sample.name.endswith("_total")}
    assert failures["enqueue"] == 1 and failures.get("dequeue") == 1, failures
    assert dead.paused, "after one failed call the ACD does not wait for Redis again for a while"
    assert not any(t.done() for t in bridge.extra_tasks), "the distributor stopped"
