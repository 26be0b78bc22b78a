"""Stores a call's transcript and the ticket draft read from it (SQL adapter).

Saving replaces the call's segments in one transaction: the live transcript is stored at
hang-up and replaced by the complete one once post-call work for deferred streams is done,
so readers never see a mix of the two.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from asr.extract import TicketDraft
from asr.segments import CallTranscript, Speaker
from kernel.schema import tickets, transcript_segments


def draft_to_json(draft: TicketDraft) -> str:
    fields: dict[str, Any] = {}
    for name in TicketDraft.FIELDS:
        value = getattr(draft, name)
        if value is not None:
            fields[name] = dataclasses.asdict(value)
    fields["suggested_units"] = [
        dataclasses.asdict(u) if dataclasses.is_dataclass(u) else u  # type: ignore[arg-type]
        for u in draft.suggested_units
    ]
    if draft.possible_duplicate_of:
        fields["possible_duplicate_of"] = draft.possible_duplicate_of
    return json.dumps(fields, ensure_ascii=False, default=str)


class TranscriptStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, transcript: CallTranscript, draft: TicketDraft | None) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(transcript_segments)
                               .where(transcript_segments.c.call_id == transcript.call_id))
            rows = [{
                "call_id": transcript.call_id, "speaker": s.speaker.value,
                "start_seconds": s.start, "end_seconds": s.end, "text": s.text,
                "confidence": s.confidence, "source": "live" if s.live else "post_call",
            } for s in transcript.segments if s.final and s.text.strip()]
            if rows:
                await conn.execute(transcript_segments.insert(), rows)
            if draft is not None:
                await conn.execute(update(tickets).where(tickets.c.call_id == transcript.call_id)
                                   .values(asr_draft=draft_to_json(draft)))

    async def texts(self, call_id: str, speaker: Speaker) -> list[str]:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(transcript_segments.c.text)
                .where(transcript_segments.c.call_id == call_id,
                       transcript_segments.c.speaker == speaker.value)
                .order_by(transcript_segments.c.start_seconds))
            return [row[0] for row in result]
