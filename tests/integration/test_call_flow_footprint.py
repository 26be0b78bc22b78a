"""The call flow keeps nothing per call once calls are over (no unbounded growth).

Two hundred real SIP calls through real Asterisk and the in-process call flow: afterwards every
per-call structure (calls, channel queues, tasks, media taps, message timers, awaited channels)
is back to its size at rest, and the Redis mirror holds no call.
"""

from __future__ import annotations

import asyncio

import pytest

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario

pytestmark = pytest.mark.asterisk

CALLS = 200


async def test_per_call_structures_return_to_rest_after_hundreds_of_calls(
    asterisk: AsteriskSandbox, in_process_bridge, redis_client, redis_key_prefix: str,
) -> None:
    bridge = await in_process_bridge(asterisk)
    await bridge.flow.drain()  # the reconcile that follows the ARI connection
    at_rest = bridge.flow.footprint()
    assert set(at_rest.values()) == {0}

    wav = asterisk.write_sipp_file("footprint-audio.wav", caller_audio_wav(seconds=1.0))
    scenario = asterisk.write_sipp_file("footprint.xml", speech_call_scenario(wav, hold_ms=800))
    code, out = await asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", str(CALLS),
                                        "-r", "20", "-l", "30", "-set", "caller", "13700000000",
                                        timeout=180)
    assert code == 0, out[-1500:]

    recorded = [await asyncio.wait_for(bridge.finished.get(), 30) for _ in range(CALLS)]
    assert len({record.call_id for record, _ in recorded}) == CALLS
    await bridge.flow.drain()

    assert bridge.flow.footprint() == at_rest
    assert await redis_client.hlen(f"{redis_key_prefix}calls:active") == 0
