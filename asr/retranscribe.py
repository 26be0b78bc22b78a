"""Transcribe the recordings of a period after the fact: calls that had no live ASR, or all of
them again with another (for example the large server) model.

A call recording is the bridge's mixed recording, so these transcripts are one `mixed`
speaker; live transcripts keep their per-speaker streams unless `replace` is asked for.
Decoding runs in a worker thread; the database writes are the TranscriptStore's.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from asr.batch import transcribe_recording
from asr.models import LoadedModel
from asr.segments import Speaker
from asr.transcript_store import TranscriptStore
from kernel.schema import calls, transcript_segments
from kernel.sealed_files import DataKeys, decrypt_into, is_sealed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetranscribeReport:
    transcribed: list[str]
    skipped_missing_file: list[str]


async def retranscribe_period(engine: AsyncEngine, model: LoadedModel, since: datetime,
                              until: datetime, *, replace: bool = False,
                              chunk_ms: int = 100, keys: DataKeys | None = None) -> RetranscribeReport:
    """Sealed recordings (kernel/sealed_files.py) are checked and decrypted into a private
    temporary folder for the decoder, removed once decoded; without `keys` they are skipped."""
    query = (select(calls.c.id, calls.c.recording_path, calls.c.recording_sha256)
             .where(calls.c.started_at >= since, calls.c.started_at < until,
                    calls.c.recording_path.is_not(None))
             .order_by(calls.c.started_at))
    if not replace:
        query = query.where(~exists().where(transcript_segments.c.call_id == calls.c.id))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    store = TranscriptStore(engine)
    done: list[str] = []
    missing: list[str] = []
    for call_id, recording_path, digest in rows:
        path = Path(recording_path)
        if not path.exists() or (keys is None and is_sealed(path)):
            log.warning("recording missing (or sealed, no keys); call not re-transcribed", extra={"call_id": call_id})
            missing.append(call_id)
            continue
        if is_sealed(path):
            assert keys is not None
            with tempfile.TemporaryDirectory(prefix="hotline-plain-") as folder:
                plain = await asyncio.to_thread(decrypt_into, path, keys, digest, Path(folder))
                transcript = await asyncio.to_thread(transcribe_recording, model, plain, call_id,
                                                     (Speaker.MIXED,), chunk_ms=chunk_ms)
        else:
            transcript = await asyncio.to_thread(transcribe_recording, model, path, call_id,
                                                 (Speaker.MIXED,), chunk_ms=chunk_ms)
        await store.save(transcript, None)
        done.append(call_id)
        log.info("call re-transcribed", extra={"call_id": call_id, "model": model.name,
                                               "segments": len(transcript.segments)})
    return RetranscribeReport(done, missing)
