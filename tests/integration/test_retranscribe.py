"""Recordings of a period are transcribed after the fact and stored with their calls."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asr.models import LoadedModel
from asr.retranscribe import retranscribe_period
from asr.segments import Speaker
from asr.transcript_store import TranscriptStore
from kernel.database import open_database
from kernel.schema import calls
from tests.asr_fixtures import AsrLanguage, read_pcm, reference_decode, render_speech


async def test_period_without_live_asr_is_transcribed_once(
    database_url: str, asr_model: LoadedModel, asr_language: AsrLanguage, tmp_path: Path,
) -> None:
    recording = render_speech(tmp_path, asr_language.sentences[1:2], rate=8000)
    engine = await open_database(database_url)
    now = datetime.now(UTC)
    in_period, outside = str(uuid.uuid4()), str(uuid.uuid4())
    async with engine.begin() as conn:
        for call_id, started in ((in_period, now), (outside, now - timedelta(days=40))):
            await conn.execute(calls.insert().values(
                id=call_id, channel_id=call_id, caller_number="13800000000", node_id="T01",
                started_at=started, ended_at=started + timedelta(seconds=5),
                recording_path=str(recording)))
    try:
        report = await retranscribe_period(engine, asr_model, now - timedelta(days=1),
                                           now + timedelta(days=1))
        assert report.transcribed == [in_period]
        pcm, rate = read_pcm(recording)
        expected = reference_decode(asr_model, pcm, rate, rate * 2 // 10)
        store = TranscriptStore(engine)
        assert await store.texts(in_period, Speaker.MIXED) == expected
        assert await store.texts(outside, Speaker.MIXED) == []
        again = await retranscribe_period(engine, asr_model, now - timedelta(days=1),
                                          now + timedelta(days=1))
        assert again.transcribed == [], "a transcribed call was done twice without --replace"
        replaced = await retranscribe_period(engine, asr_model, now - timedelta(days=1),
                                             now + timedelta(days=1), replace=True)
        assert replaced.transcribed == [in_period]
        assert await store.texts(in_period, Speaker.MIXED) == expected
    finally:
        await engine.dispose()
