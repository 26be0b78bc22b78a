"""Our energy end-of-utterance rule (asr/endpoint.py) with the real model and real speech.

What must hold: an utterance ends `silence_seconds` of audio after its last voiced frame (one
chunk of rounding at most), not when Kaldi's best path finally settles in silence; and the
live transcript stays equal to the post-call decode of the same audio, because both apply
the same rule to the same chunks. Positions are audio bytes, never wall-clock times.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from asr.batch import PostCallQueue
from asr.decoder import Decoder, decode_pcm
from asr.endpoint import EnergyEndpoint, EnergyEndpointer
from asr.models import AsrSettings
from asr.segments import RawResult, Speaker
from asr.service import open_asr_service
from tests.asr_fixtures import read_pcm

RULE = EnergyEndpoint(silence_seconds=0.5)


def voiced(pcm: bytes, rate: int) -> np.ndarray:
    frame = rate * 2 // 50
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % frame], dtype="<i2").astype(np.float64)
    return np.sqrt((samples.reshape(-1, frame // 2) ** 2).mean(axis=1)) >= RULE.level


def test_endpointer_counts_trailing_silence_after_speech():
    rate = 8000
    endpointer = EnergyEndpointer(RULE, rate)
    loud = (np.ones(rate // 10) * 2000).astype("<i2").tobytes()  # 100 ms of sound
    quiet = bytes(rate * 2 // 10)  # 100 ms of digital silence
    assert not endpointer.feed(quiet * 10), "silence alone ends nothing"
    assert not endpointer.feed(loud)
    for _ in range(4):
        assert not endpointer.feed(quiet)
    assert endpointer.feed(quiet), "0.5 s after the last voiced frame"
    endpointer.reset()
    assert not endpointer.feed(quiet * 10)


async def test_finals_come_at_the_energy_rule_and_live_equals_post_call(asr_model, speech_renderer, tmp_path: Path):
    pcm, rate = read_pcm(speech_renderer((0, 1, 2), 8000))
    model = dataclasses.replace(asr_model, energy_endpoint=RULE)
    chunk = rate * 2 // 10
    frames = voiced(pcm, rate)

    # 1. Where utterances end: within one chunk after last voiced frame + the rule's silence.
    # (Only utterances with words: in the silence after one, the recogniser may end "utterances"
    # of its own that hold nothing, which is no final: asr/voice_activity.py.)
    decoder = Decoder(model, rate)
    ends: list[int] = []
    for i in range(0, len(pcm), chunk):
        if isinstance(decoder.accept(pcm[i:i + chunk]), RawResult):
            ends.append(decoder.position)
    decoder.finish()
    decoder.release()
    assert len(ends) >= 2, "the test audio should give several utterances"
    for position in ends:
        last = int(np.nonzero(frames[: position // (rate * 2 // 50)])[0][-1]) + 1
        silence = position / (rate * 2) - last * 0.02
        assert RULE.silence_seconds - 1e-6 <= silence <= RULE.silence_seconds + 0.1 + 1e-6, silence

    # 2. Live == post-call (the same rule, the same chunks) == a direct decode.
    direct = [r.text for r in decode_pcm(model, pcm, rate, chunk)]
    settings = AsrSettings(spool_dir=tmp_path / "spool", workers=1, streams_per_worker=1,
                           sample_rate=rate, max_lag_seconds=600.0)
    async with open_asr_service(settings, None, model=model) as service:
        live_call = service.start_call("E-live")
        stream = live_call.open_stream(Speaker.CALLER, offset=0.0)
        post_call = service.start_call("E-post")
        spooled = post_call.open_stream(Speaker.CALLER, offset=0.0)  # no slot left: post-call
        assert spooled.defer_reason is not None
        for n, i in enumerate(range(0, len(pcm), 160)):
            stream.feed(pcm[i:i + 160])
            spooled.feed(pcm[i:i + 160])
            if n % 10 == 0:
                await asyncio.sleep(0)
        live = await live_call.wait_complete()
        later = await post_call.wait_complete()
    assert isinstance(service.post_call, PostCallQueue)
    assert [s.text for s in live.segments] == direct
    assert [s.text for s in later.segments] == direct
    for a, b in zip(live.segments, later.segments, strict=True):  # Vosk's clock: float sums
        assert (a.start, a.end) == pytest.approx((b.start, b.end), abs=1e-3)
