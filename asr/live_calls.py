"""Live transcription of phone calls: the bridge between the call flow's audio and the ASR service.

Implements the call flow's `CallAudioConsumer`: each call gets one stream per speaker; frames
are fed without ever blocking the event loop (the ASR service decodes in its worker pool and
defers what it cannot serve live). At hang-up the live transcript is stored with the call and
a ticket draft is extracted from the caller's words; when post-call work for deferred streams
finishes, the complete transcript replaces it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from asr.extract import Gazetteer, TicketDraft, extract_ticket_draft
from asr.segments import CallTranscript, Speaker
from asr.service import AsrService
from asr.stream import CallTranscription
from asr.transcript_store import TranscriptStore
from telephony.call_record import CallRecord

log = logging.getLogger(__name__)


class LiveCallTranscriber:
    def __init__(self, service: AsrService, store: TranscriptStore, gazetteer: Gazetteer,
                 suggest_units: Callable[[str], list[Any]] | None = None) -> None:
        self.service = service
        self.store = store
        self.gazetteer = gazetteer
        self.suggest_units = suggest_units
        self.calls: dict[str, CallTranscription] = {}
        self.completed: dict[str, asyncio.Future[CallTranscript]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def call_started(self, call_id: str, caller_number: str) -> Callable[[str, bytes], None] | None:
        if not self.service.available:
            return None  # calls still connect; health says why transcription is off
        transcription = self.service.start_call(call_id)
        self.calls[call_id] = transcription
        self.completed[call_id] = asyncio.get_running_loop().create_future()
        streams = {speaker: transcription.open_stream(speaker, offset=0.0)
                   for speaker in (Speaker.CALLER, Speaker.AGENT)}

        def feed(speaker: str, frame: bytes) -> None:
            streams[Speaker(speaker)].feed(frame)

        return feed

    async def call_ended(self, record: CallRecord, ticket_no: str | None) -> None:
        transcription = self.calls.pop(record.call_id, None)
        if transcription is None:
            return
        live = await transcription.close()
        await self._store(live)
        if live.complete:
            self._resolve(record.call_id, live)
            return
        task = asyncio.create_task(self._complete_later(record.call_id, transcription))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _complete_later(self, call_id: str, transcription: CallTranscription) -> None:
        try:
            complete = await transcription.wait_complete()
            await self._store(complete)
            self._resolve(call_id, complete)
        except Exception:  # noqa: BLE001 - the live transcript is already stored
            log.exception("post-call transcript not stored", extra={"call_id": call_id})

    def _resolve(self, call_id: str, transcript: CallTranscript) -> None:
        future = self.completed.get(call_id)
        if future is not None and not future.done():
            future.set_result(transcript)

    async def _store(self, transcript: CallTranscript) -> None:
        draft: TicketDraft | None = None
        if transcript.caller_text:
            draft = extract_ticket_draft(transcript.caller_text, self.gazetteer, self.suggest_units)
        await self.store.save(transcript, draft)
        log.info("transcript stored", extra={"call_id": transcript.call_id,
                                             "segments": len(transcript.segments),
                                             "complete": transcript.complete})

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
