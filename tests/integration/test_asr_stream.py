"""Live transcription through the real pipeline: real Vosk model, real (synthetic) speech.

Audio is fed as Asterisk delivers it: 640-byte slin16 frames. The reference is a plain Vosk
KaldiRecognizer loop over the same file with the same chunk size (Vosk's output depends on
chunking, see asr/stream.py), so any difference would come from our pipeline.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from asr.models import AsrSettings, ModelError
from asr.segments import (
    AsrEvent,
    DeferReason,
    Segment,
    Speaker,
    StreamDeferred,
    StreamRestarted,
    TranscriptReady,
)
from asr.service import AsrService, open_asr_service
from asr.stream import SpeakerStream
from tests.asr_fixtures import read_pcm, reference_decode

FRAME = 640  # 20 ms of slin16
RATE = 16000


def settings(tmp_path: Path, **overrides: object) -> AsrSettings:
    values: dict[str, object] = {"spool_dir": tmp_path / "spool", "workers": 2, "streams_per_worker": 2,
                                 "max_lag_seconds": 600.0}
    values.update(overrides)
    return AsrSettings(**values)


async def feed(stream: SpeakerStream, pcm: bytes, *, yield_every: int = 10) -> None:
    """Frame by frame; yields to the loop now and then as a socket reader would."""
    for n, i in enumerate(range(0, len(pcm), FRAME)):
        stream.feed(pcm[i:i + FRAME])
        if yield_every and n % yield_every == 0:
            await asyncio.sleep(0)


def texts(segments: tuple[Segment, ...] | list[Segment], speaker: Speaker) -> list[str]:
    return [s.text for s in segments if s.speaker is speaker]


async def test_streamed_transcript_equals_direct_vosk_decode(asr_model, speech_renderer, tmp_path):
    pcm, rate = read_pcm(speech_renderer((0, 1, 2)))
    events: list[AsrEvent] = []
    cfg = settings(tmp_path)
    async with open_asr_service(cfg, events.append, model=asr_model) as service:
        call = service.start_call("C-1")
        await feed(call.open_stream(Speaker.CALLER, offset=0.0), pcm)
        transcript = await call.close()
        await service.publisher.drain()

    expected = reference_decode(asr_model, pcm, rate, cfg.chunk_bytes())
    assert len(expected) >= 2, "the test audio should give several utterances"
    assert texts(transcript.segments, Speaker.CALLER) == expected
    assert transcript.complete and not transcript.deferred
    finals = [e for e in events if isinstance(e, Segment) and e.final]
    assert [e.text for e in finals] == expected  # what was published is what is stored
    assert any(isinstance(e, Segment) and not e.final for e in events), "partials are published"
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts) and all(s.end <= len(pcm) / (2 * RATE) + 0.5 for s in transcript.segments)


async def test_two_speakers_are_transcribed_separately(asr_model, speech_renderer, tmp_path):
    caller_pcm, _ = read_pcm(speech_renderer((0, 1)))
    agent_pcm, _ = read_pcm(speech_renderer((2, 3)))
    cfg = settings(tmp_path)
    async with open_asr_service(cfg, None, model=asr_model) as service:
        call = service.start_call("C-2")
        caller = call.open_stream(Speaker.CALLER, offset=0.0)
        agent = call.open_stream(Speaker.AGENT, offset=0.0)
        for i in range(0, max(len(caller_pcm), len(agent_pcm)), FRAME):  # interleaved, as in a call
            caller.feed(caller_pcm[i:i + FRAME])
            agent.feed(agent_pcm[i:i + FRAME])
            if i % (FRAME * 10) == 0:
                await asyncio.sleep(0)
        transcript = await call.close()

    reference = reference_decode(asr_model, caller_pcm, RATE, cfg.chunk_bytes())
    assert texts(transcript.segments, Speaker.CALLER) == reference
    assert texts(transcript.segments, Speaker.AGENT) == reference_decode(asr_model, agent_pcm, RATE, cfg.chunk_bytes())
    assert transcript.caller_text == " ".join(texts(transcript.segments, Speaker.CALLER))


async def test_streams_beyond_capacity_are_flagged_and_transcribed_after_the_call(
        asr_model, speech_renderer, tmp_path):
    pcm_a, _ = read_pcm(speech_renderer((0, 1)))
    pcm_b, _ = read_pcm(speech_renderer((2, 3)))
    events: list[AsrEvent] = []
    cfg = settings(tmp_path, workers=2, streams_per_worker=1)  # 3 streams > 2 workers
    async with open_asr_service(cfg, events.append, model=asr_model) as service:
        call_1 = service.start_call("C-3")
        call_2 = service.start_call("C-4")
        streams = [call_1.open_stream(Speaker.CALLER, offset=0.0), call_1.open_stream(Speaker.AGENT, offset=0.0),
                   call_2.open_stream(Speaker.CALLER, offset=0.0)]
        await asyncio.gather(feed(streams[0], pcm_a), feed(streams[1], pcm_b), feed(streams[2], pcm_a))
        live_1 = await call_1.close()
        live_2 = await call_2.close()
        assert live_1.complete and not live_2.complete and live_2.deferred == {Speaker.CALLER}
        assert live_2.segments == ()
        final_2 = await call_2.wait_complete()
        await service.publisher.drain()
        assert service.health()["post_call_pending"] == 0

    deferred = [e for e in events if isinstance(e, StreamDeferred)]
    assert deferred == [StreamDeferred("C-4", Speaker.CALLER, DeferReason.CAPACITY, 0.0)]
    expected_a = reference_decode(asr_model, pcm_a, RATE, cfg.chunk_bytes())
    assert texts(final_2.segments, Speaker.CALLER) == expected_a  # same text as live would give
    assert texts(live_1.segments, Speaker.CALLER) == expected_a
    assert all(not s.live for s in final_2.segments) and final_2.complete
    ready = [e for e in events if isinstance(e, TranscriptReady) and e.transcript.call_id == "C-4"]
    assert ready and ready[0].transcript == final_2
    assert not list((tmp_path / "spool").glob("*.wav")), "spool files are removed once transcribed"


async def test_stream_that_falls_behind_real_time_goes_to_post_call(asr_model, speech_renderer, tmp_path):
    pcm, _ = read_pcm(speech_renderer((0, 1)))
    events: list[AsrEvent] = []
    cfg = settings(tmp_path, max_lag_seconds=1.0)
    async with open_asr_service(cfg, events.append, model=asr_model) as service:
        call = service.start_call("C-5")
        stream = call.open_stream(Speaker.CALLER, offset=0.0)
        await feed(stream, pcm, yield_every=0)  # a burst far faster than real time
        assert stream.defer_reason is DeferReason.LAG
        transcript = await call.wait_complete()

    assert any(isinstance(e, StreamDeferred) and e.reason is DeferReason.LAG for e in events)
    assert texts(transcript.segments, Speaker.CALLER) == reference_decode(asr_model, pcm, RATE, cfg.chunk_bytes())


async def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_killed_worker_loses_nothing_of_the_call(asr_model, speech_renderer, tmp_path):
    caller_pcm, _ = read_pcm(speech_renderer((0, 1, 2)))
    agent_pcm, _ = read_pcm(speech_renderer((3, 1)))
    events: list[AsrEvent] = []
    cfg = settings(tmp_path)
    async with open_asr_service(cfg, events.append, model=asr_model) as service:
        call = service.start_call("C-6")
        caller = call.open_stream(Speaker.CALLER, offset=0.0)
        agent = call.open_stream(Speaker.AGENT, offset=0.0)
        half = (len(caller_pcm) // 2) // FRAME * FRAME
        await asyncio.gather(feed(caller, caller_pcm[:half]), feed(agent, agent_pcm))
        await _wait_for(lambda: len(caller.segments) >= 1)
        before_kill = list(caller.segments)
        assert caller._slot is not None and caller._slot.worker is not None
        service.pool.kill_worker(caller._slot.worker.index)
        await _wait_for(lambda: service.pool.restarts == 1)
        restarted_at = caller._pending_start  # the replay starts at the last final's end
        await feed(caller, caller_pcm[half:])
        transcript = await call.close()
        await service.publisher.drain()

    assert any(isinstance(e, StreamRestarted) and e.speaker is Speaker.CALLER for e in events)
    caller_segments = [s for s in transcript.segments if s.speaker is Speaker.CALLER]
    assert caller_segments[: len(before_kill)] == before_kill  # what was transcribed is kept
    # What follows is exactly Vosk's decode of the audio from the replay point: nothing skipped.
    remainder = reference_decode(asr_model, caller_pcm[restarted_at:], RATE, cfg.chunk_bytes())
    assert [s.text for s in caller_segments[len(before_kill):]] == remainder
    assert remainder, "speech after the kill is transcribed"
    assert texts(transcript.segments, Speaker.AGENT) == reference_decode(asr_model, agent_pcm, RATE, cfg.chunk_bytes())


async def test_recognizers_recycled_on_long_streams_keep_the_time_line(asr_model, speech_renderer, tmp_path):
    pcm, _ = read_pcm(speech_renderer((0, 1, 2)))
    cfg = settings(tmp_path, recycle_after_seconds=1.0)  # a fresh recognizer after every utterance
    async with open_asr_service(cfg, None, model=asr_model) as service:
        call = service.start_call("C-7")
        await feed(call.open_stream(Speaker.CALLER, offset=5.0), pcm)
        transcript = await call.close()

    segments = transcript.segments
    assert len(segments) == len(reference_decode(asr_model, pcm, RATE, cfg.chunk_bytes()))
    assert all(s.text for s in segments)
    assert all(5.0 <= s.start <= s.end <= 5.0 + len(pcm) / (2 * RATE) + 0.5 for s in segments)
    assert all(a.end <= b.start + 0.05 for a, b in itertools.pairwise(segments)), "times are not reset by recycling"


async def test_missing_model_disables_transcription_but_not_calls(tmp_path):
    cfg = settings(tmp_path, model_path=tmp_path / "no-such-model")
    events: list[AsrEvent] = []
    async with open_asr_service(cfg, events.append) as service:
        assert isinstance(service, AsrService) and not service.available
        health = service.health()
        assert health["status"] == "error" and "does not exist" in health["error"]
        call = service.start_call("C-8")
        call.open_stream(Speaker.CALLER).feed(b"\0" * FRAME)  # audio is accepted and ignored
        transcript = await call.close()
    assert transcript.segments == () and events == []


async def test_required_model_that_is_broken_fails_start_up(tmp_path):
    broken = tmp_path / "broken-model"
    for name in ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "graph/HCLG.fst"):
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_text("not a model\n")
    cfg = settings(tmp_path, model_path=broken, required=True, overlay_dir=tmp_path / "overlay")
    with pytest.raises(ModelError) as caught:
        async with open_asr_service(cfg, None):
            pass
    assert caught.value.key == "asr.model_path" and "could not load" in str(caught.value)


async def test_health_reports_the_loaded_model(asr_model, tmp_path):
    async with open_asr_service(settings(tmp_path), None, model=asr_model) as service:
        health = service.health()
    assert health["status"] == "ok" and health["model"] == asr_model.name
    assert health["deterministic"] is True and health["capacity"] == 4 and health["load_seconds"] > 0
