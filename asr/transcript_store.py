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
from kernel.errors import NotFound
from kernel.schema import calls, tickets, transcript_segments


class CallNotRecorded(NotFound):
    """A transcript arrived before its call's record (which waits in the outbox)."""


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
        await self.save_payload(transcript.call_id, self.payload(transcript, draft))

    @staticmethod
    def payload(transcript: CallTranscript, draft: TicketDraft | None) -> dict[str, Any]:
        """What `save` writes, as plain JSON: the call path's outbox keeps it while the
        database is away and replays it through `save_payload`."""
        return {
            "segments": [{
                "speaker": s.speaker.value, "start_seconds": s.start, "end_seconds": s.end,
                "text": s.text, "confidence": s.confidence, "source": "live" if s.live else "post_call",
            } for s in transcript.segments if s.final and s.text.strip()],
            "asr_draft": draft_to_json(draft) if draft is not None else None,
        }

    async def save_payload(self, call_id: str, payload: dict[str, Any]) -> None:
        """Replace the call's segments and set its ticket's draft, in one transaction.

        The call must be recorded first (CallNotRecorded otherwise): a transcript of a call
        still waiting in the outbox waits with it, instead of a draft going nowhere."""
        async with self._engine.begin() as conn:
            if await conn.scalar(select(calls.c.id).where(calls.c.id == call_id)) is None:
                raise CallNotRecorded("the call is not recorded yet", call_id=call_id)
            await conn.execute(delete(transcript_segments)
                               .where(transcript_segments.c.call_id == call_id))
            rows = [{"call_id": call_id, **segment} for segment in payload.get("segments", [])]
            if rows:
                await conn.execute(transcript_segments.insert(), rows)
            if payload.get("asr_draft") is not None:
                await conn.execute(update(tickets).where(tickets.c.call_id == call_id)
                                   .values(asr_draft=payload["asr_draft"]))

    async def texts(self, call_id: str, speaker: Speaker) -> list[str]:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(transcript_segments.c.text)
                .where(transcript_segments.c.call_id == call_id,
                       transcript_segments.c.speaker == speaker.value)
                .order_by(transcript_segments.c.start_seconds))
            return [row[0] for row in result]
