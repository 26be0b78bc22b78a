"""A call's audio reaches our process per speaker over chan_websocket, without touching the call."""

from __future__ import annotations

import array
import asyncio
import math
import uuid
from collections import defaultdict

import pytest

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from telephony.call_flow import CallFlow
from telephony.call_record import CallRecord

pytestmark = pytest.mark.asterisk

SLIN16_BYTES_PER_SECOND = 16000 * 2


class CollectingConsumer:
    def __init__(self) -> None:
        self.audio: dict[str, bytearray] = defaultdict(bytearray)
        self.frame_sizes: set[int] = set()
        self.ended: asyncio.Event = asyncio.Event()
        self.ticket_no: str | None = None

    def call_started(self, call_id: str, caller_number: str, since: float = 0.0):
        def sink(speaker: str, frame: bytes) -> None:
            self.audio[speaker] += frame
            self.frame_sizes.add(len(frame))
        return sink

    async def call_ended(self, record: CallRecord, ticket_no: str | None) -> None:
        self.ticket_no = ticket_no
        self.ended.set()


def rms(pcm: bytes) -> float:
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


async def _place_tone_call(asterisk: AsteriskSandbox, consumer: CollectingConsumer, caller: str) -> None:
    """A 3 s tone call to 12345, held 5 s; returns once the consumer heard the call end."""
    wav = asterisk.write_sipp_file("tone-3s.wav", caller_audio_wav(seconds=3.0))
    scenario = asterisk.write_sipp_file(f"tap-{uuid.uuid4().hex[:6]}.xml",
                                        speech_call_scenario(wav, hold_ms=5000, loops=1))
    code, out = await asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                        "-set", "caller", caller)
    assert code == 0, out[-1500:]
    await asyncio.wait_for(consumer.ended.wait(), 15)


async def _tone_call(asterisk: AsteriskSandbox, in_process_bridge) -> CollectingConsumer:
    consumer = CollectingConsumer()
    await in_process_bridge(asterisk, audio_consumer=consumer)
    await _place_tone_call(asterisk, consumer, "13500000001")
    return consumer


async def test_caller_and_agent_audio_arrive_separately(
    asterisk: AsteriskSandbox, in_process_bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when an agent (or a unit) is on the call: the agent direction is delivered.
    monkeypatch.setattr(CallFlow, "_person_on_call", lambda self, channel_id: True)
    consumer = await _tone_call(asterisk, in_process_bridge)

    caller_seconds = len(consumer.audio["caller"]) / SLIN16_BYTES_PER_SECOND
    assert 2.5 <= caller_seconds <= 5.5, caller_seconds
    assert rms(bytes(consumer.audio["caller"])) > 0.02
    # The agent side carries what the caller hears: here the greeting.
    assert len(consumer.audio["agent"]) > 0.3 * SLIN16_BYTES_PER_SECOND
    assert consumer.frame_sizes <= {640, 960, 1280, 1920}
    assert consumer.ticket_no


async def test_prompts_before_anyone_answers_are_not_delivered_as_a_person(
    asterisk: AsteriskSandbox, in_process_bridge
) -> None:
    """Nobody answers this call: the greeting it hears is no one's words (issue 12)."""
    consumer = await _tone_call(asterisk, in_process_bridge)

    assert len(consumer.audio["caller"]) / SLIN16_BYTES_PER_SECOND >= 2.5
    assert len(consumer.audio["agent"]) == 0
    assert consumer.ticket_no


async def test_the_agent_direction_is_tapped_only_once_a_person_joins(
    asterisk: AsteriskSandbox, in_process_bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call waiting for an agent costs one tap, not two (issue 14); the person's side is
    tapped when they join and from then on delivered."""
    person = {"joined": False}
    monkeypatch.setattr(CallFlow, "_person_on_call", lambda self, channel_id: person["joined"])
    seen: dict[str, object] = {}

    class JoiningConsumer(CollectingConsumer):
        def call_started(self, call_id: str, caller_number: str, since: float = 0.0):
            collect = super().call_started(call_id, caller_number, since)

            def sink(speaker: str, frame: bytes) -> None:
                if not person["joined"]:  # the caller's first frame: nobody has joined yet
                    tap = next(iter(bridge.flow.taps.values()))
                    seen.update(waits=tap.agent_waits, readers=sorted(tap.readers),
                                resources=[kind for kind, _ in tap.resources])
                    person["joined"] = True  # the next caller frame finds a person on the call
                collect(speaker, frame)
            return sink

    consumer = JoiningConsumer()
    bridge = await in_process_bridge(asterisk, audio_consumer=consumer)
    await _place_tone_call(asterisk, consumer, "13500000002")

    assert seen["waits"] is True
    assert len(seen["readers"]) == 1 and str(seen["readers"][0]).endswith(":in"), seen
    assert seen["resources"] == ["bridge", "channel", "channel"], "one snoop, one media channel, one bridge"
    # Tapped once the person joined: the greeting the caller hears arrives as the agent side.
    assert len(consumer.audio["agent"]) > 0.3 * SLIN16_BYTES_PER_SECOND
    assert len(consumer.audio["caller"]) / SLIN16_BYTES_PER_SECOND >= 2.5
    assert consumer.ticket_no
