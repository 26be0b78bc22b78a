"""Emergency words on a real call: a restricted caller who says them is queued for an agent
after all, and the agent's desk sees the call flagged (紧急求助)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from abuse.limiter import AbuseScreen
from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from telephony.settings import QueueSettings
from tests.asterisk_harness import SipPhones
from tests.integration.test_abuse_call_flow import strict_policy
from tests.integration.test_three_way_calls import nothing_left

pytestmark = pytest.mark.asterisk

QUEUE = QueueSettings(offer_timeout_seconds=5, max_wait_seconds=60, announce_every_seconds=30,
                      wrap_up_limit_seconds=60)
NUMBER = "13700000077"


async def call(asterisk: AsteriskSandbox, hold_ms: int) -> tuple[int, str]:
    wav = asterisk.write_sipp_file("emergency-caller.wav", caller_audio_wav())
    scenario = asterisk.write_sipp_file(f"emergency-{uuid.uuid4().hex[:6]}.xml",
                                        speech_call_scenario(wav, hold_ms=hold_ms, loops=-1))
    return await asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1", "-set", "caller", NUMBER)


async def test_a_restricted_caller_who_says_emergency_words_is_queued_and_flagged(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones, redis_client,
    redis_key_prefix: str,
) -> None:
    screen = AbuseScreen(redis_client, strict_policy(), key_prefix=redis_key_prefix)
    bridge = await in_process_bridge(asterisk, screen=screen, queue=QUEUE, greeting="sound:beep",
                                     message_max_seconds=30.0)
    for _ in range(3):  # climb the ladder: the fourth call is restricted to a message
        code, out = await call(asterisk, hold_ms=2500)
        assert code == 0, out[-800:]
    await sip_phones.start("a1", answer_after_ms=200)
    await bridge.acd.sign_in("a1")
    task = asyncio.create_task(call(asterisk, hold_ms=15000))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not (restricted := [c for c in bridge.flow.state.calls.values()
                              if c.takes_message and "prompted" in c.steps_done]):
        assert loop.time() < deadline, "the fourth call was not restricted"
        await asyncio.sleep(0.1)
    [restricted_call] = restricted

    decision = await bridge.flow.request_heard(restricted_call.call_id, NUMBER, "我家着火了，快救命")
    assert "emergency" in decision.reasons  # type: ignore[attr-defined]
    answered = await bridge.notices.wait_for("call.answered")
    assert answered["call_id"] == restricted_call.call_id and answered["emergency"] is True
    assert not restricted_call.takes_message

    code, out = await task
    assert code == 0, out[-800:]
    while True:
        record, _ = await asyncio.wait_for(bridge.finished.get(), 20)
        if record.call_id == restricted_call.call_id:
            break
    assert record.agent_id == "a1" and not record.is_message
    await nothing_left(bridge)
