"""Live transcription of phone calls: the bridge between the call flow's audio and the ASR service.

Implements the call flow's `CallAudioConsumer`: each call gets one stream per speaker; frames
are fed without ever blocking the event loop (the ASR service decodes in its worker pool and
defers what it cannot serve live). At hang-up the live transcript is stored with the call and
a ticket draft is extracted from the caller's words; when post-call work for deferred streams
finishes, the complete transcript replaces it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asr.batch import PostCallStopped
from asr.extract import TicketDraft, extract_ticket_draft
from asr.gazetteer import Gazetteer
from asr.place_grammar import SpottedPlace
from asr.place_spotting import PlaceListener
from asr.segments import CallTranscript, Speaker
from asr.service import AsrService
from asr.stream import CallTranscription
from asr.transcript_store import TranscriptStore

log = logging.getLogger(__name__)

#: Finds the caller's open ticket a request repeats: (call id, caller number, caller's words,
#: draft) -> ticket number or None. Implemented by `tickets.repeat_check`; joined at the root.
RepeatLookup = Callable[[str, str, str, TicketDraft], Awaitable[str | None]]
#: Hands the caller's words to the anti-abuse screen: (call id, caller number, words).
#: Implemented by `abuse.limiter.AbuseScreen.hear_request`; joined at the root.
RequestHeard = Callable[[str, str, str], Awaitable[object]]
#: Keeps a transcript the database did not take (`TranscriptStore.payload`) until it answers:
#: the call path's outbox, which replays it after the call's record. Joined at the root.
KeepTranscript = Callable[[str, dict[str, Any]], Awaitable[None]]


class LiveCallTranscriber:
    def __init__(self, service: AsrService, store: TranscriptStore, gazetteer: Gazetteer,
                 suggest_units: Callable[[str], list[Any]] | None = None,
                 repeat_lookup: RepeatLookup | None = None,
                 request_heard: RequestHeard | None = None,
                 keep_transcript: KeepTranscript | None = None) -> None:
        self.service = service
        self.store = store
        self.gazetteer = gazetteer
        self.suggest_units = suggest_units
        self.repeat_lookup = repeat_lookup
        self.request_heard = request_heard
        self.keep_transcript = keep_transcript
        self._callers: dict[str, str] = {}
        #: the district-spotting pass over each caller's audio at hang-up (asr/place_spotting.py)
        self.places = PlaceListener(service.model, service.settings.sample_rate, gazetteer,
                                    nice=service.settings.worker_nice)
        self.calls: dict[str, CallTranscription] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        if service.available:
            # Post-call work a stopped process left on disk: finish it now, in the background.
            self._track(asyncio.get_running_loop().create_task(self._recover(), name="asr-recover"))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recover(self) -> None:
        try:
            async for transcript, meta in self.service.recover():
                await self._store(transcript, meta.get("caller_number", ""))
                self.transcript_complete(transcript)
        except Exception:
            log.exception("post-call work left by a stopped process not finished")

    def call_started(self, call_id: str, caller_number: str,
                     since: float = 0.0) -> Callable[[str, bytes], None] | None:
        """`since`: seconds the call has lasted already (adopted from a stopped process, whose
        words so far this transcription continues: `AsrService.adopt`)."""
        if not self.service.available:
            return None  # calls still connect; health says why transcription is off
        earlier = self.service.adopt(call_id) if since > 0 else None
        transcription = self.service.start_call(call_id, origin=since, earlier=earlier)
        transcription.meta["caller_number"] = caller_number
        self.calls[call_id] = transcription
        self._callers[call_id] = caller_number
        caller = transcription.open_stream(Speaker.CALLER, offset=since)
        if earlier is not None:
            log.info("asr continues a call handed over by a stopped process",
                     extra={"call_id": call_id, "since": round(since, 3), "segments": len(earlier.segments)})

        def feed(speaker: str, frame: bytes) -> None:
            if speaker == Speaker.CALLER:
                caller.feed(frame)
                self.places.hear(call_id, frame)
            else:
                # The other side opens with its first frame, i.e. when a person (agent, unit)
                # is on the call; telephony holds back the prompts heard before. Its offset
                # is that moment, so both sides stay on the call's time line.
                transcription.open_stream(Speaker(speaker)).feed(frame)

        return feed

    async def call_ended(self, call_id: str, ticket_no: str | None) -> None:
        transcription = self.calls.pop(call_id, None)
        caller_number = self._callers.pop(call_id, "")
        if transcription is None:
            self.places.forget(call_id)
            return
        live = await transcription.close()
        spotted = await self.places.spotted(call_id, live.caller_text)
        await self._store(live, caller_number, spotted)
        if live.complete:
            self.transcript_complete(live)
            return
        self._track(asyncio.create_task(self._complete_later(call_id, caller_number, transcription, spotted)))

    async def transcribe_message(self, call_id: str, caller_number: str, path: Path) -> None:
        """Transcribe a recorded message that had no live ASR (a caller who called while the
        backend was away): the caller alone speaks in it. Without a model this does nothing."""
        post_call = self.service.post_call
        if post_call is None or not path.exists():
            return
        transcript = await post_call.transcribe_recording(path, call_id, (Speaker.CALLER,))
        await self._store(transcript, caller_number)

    async def _complete_later(self, call_id: str, caller_number: str,
                              transcription: CallTranscription, spotted: list[SpottedPlace]) -> None:
        try:
            complete = await transcription.wait_complete()
            await self._store(complete, caller_number, spotted)
            self.transcript_complete(complete)
        except PostCallStopped:
            log.info("post-call transcription left on disk for the next start", extra={"call_id": call_id})
        except Exception:
            log.exception("post-call transcript not stored", extra={"call_id": call_id})

    def transcript_complete(self, transcript: CallTranscript) -> None:
        """Called once per call when its final transcript is stored (a subclass may listen)."""

    async def _store(self, transcript: CallTranscript, caller_number: str,
                     spotted: list[SpottedPlace] | None = None) -> None:
        draft: TicketDraft | None = None
        if transcript.caller_text:
            draft = extract_ticket_draft(transcript.caller_text, self.gazetteer, self.suggest_units,
                                         caller_id=caller_number, spotted=spotted or ())
            draft = await self._with_repeat(transcript, caller_number, draft)
        try:
            await self.store.save(transcript, draft)
        except Exception as exc:
            if self.keep_transcript is None:
                raise
            # The database is away, or the call's record waits in the outbox: the transcript
            # waits there too, and is written right after the record.
            log.warning("transcript kept in the outbox until the database answers",
                        extra={"call_id": transcript.call_id, "error": str(exc) or type(exc).__name__})
            await self.keep_transcript(transcript.call_id, self.store.payload(transcript, draft))
            return
        if transcript.complete and transcript.caller_text and caller_number and self.request_heard:
            try:
                await self.request_heard(transcript.call_id, caller_number, transcript.caller_text)
            except Exception:
                log.exception("caller's words not screened", extra={"call_id": transcript.call_id})
        log.info("transcript stored", extra={"call_id": transcript.call_id,
                                             "segments": len(transcript.segments),
                                             "complete": transcript.complete})

    async def _with_repeat(self, transcript: CallTranscript, caller_number: str,
                           draft: TicketDraft) -> TicketDraft:
        """The draft, naming the open ticket the caller repeats (the transcript is stored
        whatever the lookup does: it only adds a hint)."""
        if self.repeat_lookup is None or not caller_number:
            return draft
        try:
            ticket_no = await self.repeat_lookup(transcript.call_id, caller_number,
                                                 transcript.caller_text, draft)
        except Exception:
            log.exception("repeat lookup failed", extra={"call_id": transcript.call_id})
            return draft
        return dataclasses.replace(draft, possible_duplicate_of=ticket_no) if ticket_no else draft

    async def aclose(self) -> None:
        """Process stop: calls still going are handed over (their words so far and the audio no
        final covers yet go to disk, for the process that adopts the call), and post-call work
        stays on disk (finished by the next start), so this returns within about a chunk's
        decode instead of after the whole backlog."""
        calls, self.calls = self.calls, {}
        self._callers.clear()
        self.places.close()
        for call_id, transcription in calls.items():
            try:
                await transcription.hand_over()
            except Exception:
                log.exception("live transcript not handed over", extra={"call_id": call_id})
        self.service.stop_post_call()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
