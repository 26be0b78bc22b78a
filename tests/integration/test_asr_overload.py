"""Graceful overload and process stop: real Vosk, real speech, no timing assertions.

- Under overload the NEWEST stream goes post-call first; older ones stay live.
- A deferred stream goes back to live when capacity frees and catches up on its spooled
  audio: its transcript is then the same as a continuous live decode.
- Whatever happens, every stream's words exist after the call (live or post-call).
- Post-call work left when the service closes stays on disk and the next start finishes it
  (and, through the real consumer, stores the complete transcript).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from asr import workers
from asr.extract import load_gazetteer
from asr.models import AsrSettings
from asr.segments import (
    AsrEvent,
    DeferReason,
    Speaker,
    StreamMode,
    StreamModeName,
)
from asr.service import open_asr_service
from asr.stream import Mode, SpeakerStream
from asr.transcript_store import TranscriptStore
from kernel.database import open_database
from kernel.schema import calls
from tests.asr_fixtures import Listening, read_pcm, reference_decode

FRAME = 640
RATE = 16000


def settings(tmp_path: Path, **overrides: object) -> AsrSettings:
    values: dict[str, object] = {"spool_dir": tmp_path / "spool", "workers": 1, "streams_per_worker": 4,
                                 "max_lag_seconds": 600.0, "warm_recognizers": 0}
    values.update(overrides)
    return AsrSettings(**values)


async def feed(stream: SpeakerStream, pcm: bytes) -> None:
    for n, i in enumerate(range(0, len(pcm), FRAME)):
        stream.feed(pcm[i:i + FRAME])
        if n % 10 == 0:
            await asyncio.sleep(0)


def texts(transcript, speaker: Speaker) -> list[str]:
    return [s.text for s in transcript.segments if s.speaker is speaker]


async def test_newest_stream_goes_post_call_first_and_nothing_is_lost(asr_model, speech_renderer, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(workers, "RESUME_HOLDOFF", 1e9)  # here the shed stream stays post-call
    pcm, _ = read_pcm(speech_renderer((0, 1)))
    events: list[AsrEvent] = []
    async with open_asr_service(settings(tmp_path), events.append, model=asr_model) as service:
        assert service.pool is not None
        calls = [service.start_call(f"O-{i}") for i in range(3)]
        streams = [c.open_stream(Speaker.CALLER, offset=0.0) for c in calls]
        # The pool reports overload on the oldest stream: the newest one is shed, not it.
        assert streams[0]._slot is not None
        service.pool.overloaded(streams[0]._slot)
        assert [s.mode for s in streams] == [Mode.LIVE, Mode.LIVE, Mode.DEFERRED]
        assert streams[2].defer_reason is DeferReason.LAG
        service.pool.overloaded(streams[0]._slot)  # within the shed interval: nothing more
        assert streams[1].mode is Mode.LIVE
        await asyncio.gather(*(feed(s, pcm) for s in streams))
        finals = [await c.wait_complete() for c in calls]
        await service.publisher.drain()

    expected = reference_decode(asr_model, pcm, RATE, settings(tmp_path).chunk_bytes())
    for transcript in finals:  # every stream's words exist after the call, live or post-call
        assert texts(transcript, Speaker.CALLER) == expected
    assert all(s.live for s in finals[0].segments) and not any(s.live for s in finals[2].segments)
    modes = [(e.call_id, e.mode) for e in events if isinstance(e, StreamMode)]
    assert modes == [("O-0", StreamModeName.LIVE), ("O-1", StreamModeName.LIVE), ("O-2", StreamModeName.LIVE),
                     ("O-2", StreamModeName.POST_CALL)]
    assert not list((tmp_path / "spool").iterdir()), "spools and records are removed once transcribed"


async def test_deferred_stream_catches_up_live_when_capacity_frees(asr_model, speech_renderer, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setattr(workers, "RESUME_HOLDOFF", 0.0)
    pcm, _ = read_pcm(speech_renderer((0, 1, 2)))
    first, _ = read_pcm(speech_renderer((3,)))
    events: list[AsrEvent] = []
    cfg = settings(tmp_path, streams_per_worker=1)
    async with open_asr_service(cfg, events.append, model=asr_model) as service:
        busy = service.start_call("R-1")
        waiting = service.start_call("R-2")
        busy_stream = busy.open_stream(Speaker.CALLER, offset=0.0)
        stream = waiting.open_stream(Speaker.CALLER, offset=0.0)
        assert stream.defer_reason is DeferReason.CAPACITY
        third = len(pcm) // 3 // FRAME * FRAME
        await asyncio.gather(feed(busy_stream, first), feed(stream, pcm[:third]))
        await busy.close()  # capacity frees: the waiting stream resumes on its next audio
        await feed(stream, pcm[third:])
        assert stream.mode is Mode.LIVE and stream.defer_reason is None
        live = await waiting.close()

    assert live.complete and not live.deferred
    assert texts(live, Speaker.CALLER) == reference_decode(asr_model, pcm, RATE, cfg.chunk_bytes())
    assert all(s.live for s in live.segments)
    modes = [e.mode for e in events if isinstance(e, StreamMode) and e.call_id == "R-2"]
    assert modes == [StreamModeName.POST_CALL, StreamModeName.LIVE]
    assert not list((tmp_path / "spool").glob("*.wav")), "the spool is dropped once caught up"


async def test_post_call_backlog_survives_a_stop_and_the_next_start_finishes_it(
        asr_model, speech_renderer, tmp_path):
    pcm, _ = read_pcm(speech_renderer((0, 1, 2, 3)))
    cfg = settings(tmp_path, streams_per_worker=1)
    async with open_asr_service(cfg, None, model=asr_model) as service:
        assert service.post_call is not None
        service.post_call.stop()  # as at a process stop: nothing of the backlog gets decoded
        live_call = service.start_call("P-1")
        deferred_call = service.start_call("P-2")
        deferred_call.meta["caller_number"] = "13800000001"
        live_stream = live_call.open_stream(Speaker.CALLER, offset=0.0)
        stream = deferred_call.open_stream(Speaker.CALLER, offset=2.0)
        assert stream.defer_reason is DeferReason.CAPACITY
        await asyncio.gather(feed(live_stream, pcm[: len(pcm) // 4]), feed(stream, pcm))
        await live_call.close()
        partial = await deferred_call.close()
        assert not partial.complete
    assert list((tmp_path / "spool").glob("*.pending.json")) and list((tmp_path / "spool").glob("*.wav"))

    recovered = []
    async with open_asr_service(cfg, None, model=asr_model) as service:
        async for transcript, meta in service.recover():
            recovered.append((transcript, meta))

    assert [(t.call_id, m) for t, m in recovered] == [("P-2", {"caller_number": "13800000001"})]
    transcript = recovered[0][0]
    assert transcript.complete and transcript.deferred == {Speaker.CALLER}
    assert texts(transcript, Speaker.CALLER) == reference_decode(asr_model, pcm, RATE, cfg.chunk_bytes())
    assert all(s.start >= 2.0 for s in transcript.segments), "the stream's offset in the call is kept"
    assert not list((tmp_path / "spool").iterdir())


async def test_a_stopped_backend_stores_the_post_call_transcript_at_its_next_start(
        asr_model, speech_renderer, tmp_path, sqlite_url):
    """Issue 14: stop with a post-call backlog, start again: the transcript gets stored."""
    pcm, _ = read_pcm(speech_renderer((0, 1)))
    cfg = settings(tmp_path, streams_per_worker=1)
    engine = await open_database(sqlite_url)
    try:
        now = datetime.now(UTC)
        async with engine.begin() as conn:  # the call flow records calls before their transcripts
            await conn.execute(calls.insert(), [
                {"id": call_id, "channel_id": f"chan-{call_id}", "caller_number": number, "node_id": "n1",
                 "started_at": now, "ended_at": now}
                for call_id, number in (("S-1", "13800000001"), ("S-2", "13800000002"))])
        store = TranscriptStore(engine)
        async with open_asr_service(cfg, None, model=asr_model) as service:
            transcriber = Listening(service, store, load_gazetteer())
            assert service.post_call is not None
            service.post_call.stop()  # the process is stopping as these calls end
            first = transcriber.call_started("S-1", "13800000001")
            second = transcriber.call_started("S-2", "13800000002")  # no live slot left: post-call
            assert first is not None and second is not None
            for i in range(0, len(pcm), FRAME):
                first("caller", pcm[i:i + FRAME])
                second("caller", pcm[i:i + FRAME])
            await transcriber.call_ended("S-1", None)
            await transcriber.call_ended("S-2", None)
            await transcriber.aclose()
        assert await store.texts("S-2", Speaker.CALLER) == []  # only the (empty) live part so far

        async with open_asr_service(cfg, None, model=asr_model) as service:
            transcriber = Listening(service, store, load_gazetteer())
            transcript = await asyncio.wait_for(transcriber.completed.get(), 120)
            await transcriber.aclose()
        assert transcript.call_id == "S-2" and transcript.complete
        expected = reference_decode(asr_model, pcm, RATE, cfg.chunk_bytes())
        assert await store.texts("S-2", Speaker.CALLER) == expected
        assert not list((tmp_path / "spool").iterdir())
    finally:
        await engine.dispose()
