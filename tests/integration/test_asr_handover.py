"""A process stops during calls: their words so far are handed to the next process (issue 14).

Real Vosk, real speech, a real database; no timing assertions.

- The process that adopts the call continues its transcript: the stored transcript holds the
  words from before the stop and after it, on the call's one time line, and no spool is left.
- A handed-over call that no process adopts (the caller hung up meanwhile) is finished as
  post-call work after `handover_grace_seconds`.
- Of the adopting call and that late sweep, exactly one gets a record.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from asr.extract import load_gazetteer
from asr.models import AsrSettings
from asr.pending import HANDED_OVER, PendingCall, claim_handed_over, release_adopted
from asr.segments import Speaker
from asr.service import open_asr_service
from asr.transcript_store import TranscriptStore
from kernel.database import open_database
from kernel.schema import calls
from tests.asr_fixtures import Listening, read_pcm, reference_decode

FRAME = 640
RATE = 16000


def settings(tmp_path: Path, **overrides: object) -> AsrSettings:
    values: dict[str, object] = {"spool_dir": tmp_path / "spool", "workers": 1, "streams_per_worker": 2,
                                 "max_lag_seconds": 600.0, "warm_recognizers": 0,
                                 "handover_grace_seconds": 3600.0}
    values.update(overrides)
    return AsrSettings(**values)


async def record_call(sqlite_url: str, call_id: str) -> tuple[TranscriptStore, AsyncEngine]:
    engine = await open_database(sqlite_url)
    now = datetime.now(UTC)
    async with engine.begin() as conn:  # the call flow records calls before their transcripts
        await conn.execute(calls.insert(), [{"id": call_id, "channel_id": f"chan-{call_id}",
                                             "caller_number": "13800000001", "node_id": "n1",
                                             "started_at": now, "ended_at": now}])
    return TranscriptStore(engine), engine


async def speak_then_stop(cfg: AsrSettings, asr_model, call_id: str, pcm: bytes) -> None:
    """The first process: the call starts, the caller speaks, the process stops mid-call."""
    async with open_asr_service(cfg, None, model=asr_model) as service:
        transcriber = Listening(service, TranscriptStore(None), load_gazetteer())  # type: ignore[arg-type]
        feed = transcriber.call_started(call_id, "13800000001")
        assert feed is not None
        stream = transcriber.calls[call_id].streams[Speaker.CALLER]
        for n, i in enumerate(range(0, len(pcm), FRAME)):
            feed("caller", pcm[i:i + FRAME])
            if n % 10 == 0:
                await asyncio.sleep(0)
        async with asyncio.timeout(60):  # the live worker has decoded all it was given
            while stream._decoded < stream._submitted:
                await asyncio.sleep(0.05)
        await transcriber.aclose()
        feed("caller", pcm[:FRAME])  # the tap may still deliver a frame: ignored, nothing breaks
    record = json.loads((cfg.spool_dir / f"{call_id}.pending.json").read_text(encoding="utf-8"))
    assert HANDED_OVER in record["meta"] and record["meta"]["caller_number"] == "13800000001"


async def test_the_adopting_process_continues_the_transcript(asr_model, speech_renderer, tmp_path, sqlite_url):
    before, _ = read_pcm(speech_renderer((0,)))
    after, _ = read_pcm(speech_renderer((2,)))
    cfg = settings(tmp_path)
    await speak_then_stop(cfg, asr_model, "H-1", before)
    store, engine = await record_call(sqlite_url, "H-1")
    since = len(before) / (RATE * 2) + 1.0  # the call went on while no process listened
    try:
        async with open_asr_service(cfg, None, model=asr_model) as service:
            transcriber = Listening(service, store, load_gazetteer())
            feed = transcriber.call_started("H-1", "13800000001", since)
            assert feed is not None
            assert not (cfg.spool_dir / "H-1.pending.json").exists(), "claimed by the adopting call"
            for i in range(0, len(after), FRAME):
                feed("caller", after[i:i + FRAME])
            await transcriber.call_ended("H-1", None)
            transcript = await asyncio.wait_for(transcriber.completed.get(), 120)
            await transcriber.aclose()
        assert transcript.call_id == "H-1" and transcript.complete
        expected_before = reference_decode(asr_model, before, RATE, cfg.chunk_bytes())
        expected_after = reference_decode(asr_model, after, RATE, cfg.chunk_bytes())
        assert expected_before and expected_after
        assert await store.texts("H-1", Speaker.CALLER) == expected_before + expected_after
        segments = transcript.segments
        cut = len(expected_before)
        assert all(s.end <= since for s in segments[:cut]) and all(s.start >= since for s in segments[cut:])
        assert not list(cfg.spool_dir.iterdir()), "no spool, record or claim left behind"
    finally:
        await engine.dispose()


async def test_a_call_nobody_adopts_is_finished_after_the_grace(asr_model, speech_renderer, tmp_path, sqlite_url):
    pcm, _ = read_pcm(speech_renderer((1,)))
    cfg = settings(tmp_path, handover_grace_seconds=0.2)
    await speak_then_stop(cfg, asr_model, "H-2", pcm)
    store, engine = await record_call(sqlite_url, "H-2")
    try:
        async with open_asr_service(cfg, None, model=asr_model) as service:
            transcriber = Listening(service, store, load_gazetteer())
            transcript = await asyncio.wait_for(transcriber.completed.get(), 120)
            await transcriber.aclose()
        assert transcript.call_id == "H-2" and transcript.complete
        assert await store.texts("H-2", Speaker.CALLER) == reference_decode(asr_model, pcm, RATE, cfg.chunk_bytes())
        assert not list(cfg.spool_dir.iterdir())
    finally:
        await engine.dispose()


def test_one_claimant_gets_a_handed_over_record(tmp_path):
    spool = tmp_path / "spool"
    PendingCall("H-3", {HANDED_OVER: "12.5", "caller_number": "1"}).save(spool)
    PendingCall("H-4", {"caller_number": "2"}).save(spool)  # ordinary post-call work
    first, second = claim_handed_over(spool, "H-3"), claim_handed_over(spool, "H-3")
    assert first is not None and first.meta[HANDED_OVER] == "12.5" and second is None
    assert claim_handed_over(spool, "H-4") is None and (spool / "H-4.pending.json").exists()
    # The claimant died before writing its merged record: the next start puts the claim back.
    assert release_adopted(spool, written_before=0.0) == 0  # claimed after that moment: ours
    assert release_adopted(spool, written_before=9e9) == 1
    assert (spool / "H-3.pending.json").exists() and not (spool / "H-3.adopted.json").exists()


async def test_with_nothing_handed_over_recovery_does_not_wait_for_the_grace(asr_model, tmp_path):
    """The grace (an hour here) is for calls a stopped process handed over; with none, recovery
    ends at once (records written after our start are our own calls', never ours to adopt)."""
    cfg = settings(tmp_path)
    async with open_asr_service(cfg, None, model=asr_model) as service:
        recovered = await asyncio.wait_for(_all(service.recover()), timeout=30)
    assert recovered == []


async def _all(items):  # type: ignore[no-untyped-def]
    return [item async for item in items]
