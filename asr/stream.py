"""The consumer of call audio: one `SpeakerStream` per speaker, grouped by `CallTranscription`.

Telephony hands us slin frames (640-960 bytes every 20 ms) per call and per speaker through
`SpeakerStream.feed`, a plain non-blocking method: transcription can never delay call
control. Frames are re-cut into fixed decode chunks (`decode_chunk_ms`): Vosk's output
depends on how audio is chunked (online i-vector look-ahead), so fixed chunks make the live
result equal to a direct decode of the same audio, and to post-call transcription.

Every stream keeps the audio it has sent since its last final result ("pending"). That is what
lets a stream survive the death of its worker (replay on a new recognizer) and switch to
post-call transcription without a gap (pending audio starts the spool file).
A stream is in one of: live, deferred (spooling to disk for post-call), off (ASR unavailable).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
import uuid
import wave
from enum import Enum
from pathlib import Path

from asr.batch import PostCallQueue, PostCallStopped
from asr.models import BYTES_PER_SAMPLE
from asr.pending import HANDED_OVER, PendingCall, PendingStream, adopted_path
from asr.publish import EventPublisher
from asr.segments import (
    CallTranscript,
    DeferReason,
    Segment,
    Speaker,
    StreamDeferred,
    StreamMode,
    StreamModeName,
    StreamRestarted,
    TranscriptReady,
    to_segment,
)
from asr.workers import Decoded, LiveSlot, RecognizerPool

log = logging.getLogger(__name__)


#: While catching up after a resume, chunks handed to the worker per new chunk of audio: the
#: stream gains (N - 1) x real time on its backlog.
CATCH_UP_CHUNKS_PER_CHUNK = 2
#: A stream whose worker backlog exceeds this many times `max_lag_seconds` goes post-call
#: itself, whatever its age (the newest-first shedding did not relieve it).
HOPELESS_LAG_FACTOR = 3.0

_ages = itertools.count(1)


def _read_spool(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())


def _observe(task: asyncio.Task[CallTranscript]) -> None:
    if not task.cancelled():
        task.exception()


class Mode(Enum):
    LIVE = "live"
    DEFERRED = "deferred"
    OFF = "off"


class SpeakerStream:
    """One speaker's audio of one call. Only the event loop thread may call its methods."""

    def __init__(self, call: CallTranscription, speaker: Speaker, offset: float) -> None:
        self.call = call
        self.speaker = speaker
        self.offset = offset  # seconds from the call's start to this stream's first sample
        self.seq = next(_ages)  # age: under overload the newest streams go post-call first
        self.sample_rate = call.sample_rate
        self.bytes_per_second = self.sample_rate * BYTES_PER_SAMPLE
        self.chunk_bytes = self.sample_rate * BYTES_PER_SAMPLE * call.decode_chunk_ms // 1000
        self.segments: list[Segment] = []
        self.defer_reason: DeferReason | None = None
        self.failed = False
        self._buffer = bytearray()  # frames not yet forming a whole decode chunk
        self._pending = bytearray()  # sent (or queued for catch-up), not yet covered by a final
        self._pending_start = 0
        self._sent = 0  # stream position after the last chunk accepted (live or spooled)
        self._submitted = 0  # stream position after the last chunk handed to the worker
        self._decoded = 0
        self._catch_up: collections.deque[bytes] = collections.deque()  # after a resume
        self._closing = False
        self._finished = asyncio.get_running_loop().create_future()
        self._spool: wave.Wave_write | None = None
        self._spool_path: Path | None = None
        self._spool_start = 0
        # (speech end in stream seconds, stream byte position decoded, monotonic time) per final:
        # lets the benchmark measure end-of-utterance -> final latency.
        self.final_sent_at: list[tuple[float, int, float]] = []
        self._slot: LiveSlot | None = None
        if call.pool is None:
            self.mode = Mode.OFF
            self._finished.set_result(None)
        else:
            self._slot = call.pool.open_slot(self, self.sample_rate)
            self.mode = Mode.LIVE
            if self._slot is None:
                self._defer(DeferReason.CAPACITY)
            else:
                self._publish_mode()

    # ---- input (telephony side) ----

    def feed(self, frame: bytes) -> None:
        """Accept one frame of slin audio. Never blocks, never raises on overload."""
        if self.mode is Mode.OFF or self._closing:
            return
        self._buffer += frame
        while len(self._buffer) >= self.chunk_bytes:
            chunk = bytes(self._buffer[: self.chunk_bytes])
            del self._buffer[: self.chunk_bytes]
            self._dispatch(chunk)

    def _dispatch(self, chunk: bytes, *, may_resume: bool = True) -> None:
        self._sent += len(chunk)
        if self.mode is Mode.LIVE:
            assert self._slot is not None
            self._pending += chunk
            if self._catch_up:
                self._catch_up.append(chunk)
                self._drain_catch_up(CATCH_UP_CHUNKS_PER_CHUNK)
            else:
                self._submit(chunk)
            backlog = self.backlog_seconds
            if backlog > self.call.max_lag_seconds:
                if backlog > HOPELESS_LAG_FACTOR * self.call.max_lag_seconds:
                    self._defer(DeferReason.LAG)  # cannot keep up even when others leave
                else:
                    self._slot.pool.overloaded(self._slot)
        elif self.mode is Mode.DEFERRED:
            assert self._spool is not None
            self._spool.writeframesraw(chunk)
            if may_resume and self.call.pool is not None and self.defer_reason is not DeferReason.DECODER_FAILED:
                slot = self.call.pool.try_resume(self, self.sample_rate, self._spool_start)
                if slot is not None:
                    self._resume(slot)

    def _submit(self, chunk: bytes) -> None:
        assert self._slot is not None
        self._submitted += len(chunk)
        self._slot.submit(chunk, self._submitted)

    def _drain_catch_up(self, limit: int | None = None) -> None:
        """Hand queued catch-up audio to the worker, `limit` chunks at a time: a stream catching
        up runs a few times faster than real time without starving the streams beside it."""
        n = 0
        while self._catch_up and (limit is None or n < limit):
            self._submit(self._catch_up.popleft())
            n += 1

    @property
    def lag_seconds(self) -> float:
        """How far behind real time the live transcript is (catch-up included)."""
        return (self._sent - self._decoded) / self.bytes_per_second if self.mode is Mode.LIVE else 0.0

    @property
    def backlog_seconds(self) -> float:
        """Audio handed to the worker and not decoded yet: what says the worker is overloaded."""
        return (self._submitted - self._decoded) / self.bytes_per_second if self.mode is Mode.LIVE else 0.0

    # ---- results (worker side, delivered on the loop) ----

    def on_decoded(self, message: Decoded) -> None:
        self._decoded = message.position
        for raw in message.finals:
            segment = to_segment(raw, self.call.call_id, self.speaker, self.offset)
            self.segments.append(segment)
            self.final_sent_at.append((raw.end, message.position, time.monotonic()))
            self.call.publisher.publish(segment)
        if message.finals or message.finished:
            # Everything up to this chunk's end is transcribed: no need to keep it for replay.
            del self._pending[: message.position - self._pending_start]
            self._pending_start = message.position
        if message.partial is not None:
            start = self.offset + self._pending_start / self.bytes_per_second
            end = self.offset + message.position / self.bytes_per_second
            self.call.publisher.publish(
                Segment(self.call.call_id, self.speaker, message.partial, start, end, final=False))
        if message.error is not None:
            log.error("asr recognizer failed; deferring stream",
                      extra={"call_id": self.call.call_id, "speaker": self.speaker.value, "error": message.error})
            self._slot = None
            self._defer(DeferReason.DECODER_FAILED)
        elif message.finished and not self._finished.done():
            self._slot = None
            self._finished.set_result(None)

    def on_worker_lost(self) -> None:
        """Our worker died: resume on the replacement from the last final, replaying pending audio."""
        assert self._slot is not None
        self._slot.restart(self._pending_start)
        position = self._pending_start
        replay = self._submitted - self._pending_start  # the rest still waits in the catch-up queue
        for i in range(0, replay, self.chunk_bytes):
            chunk = bytes(self._pending[i: min(i + self.chunk_bytes, replay)])
            position += len(chunk)
            self._slot.submit(chunk, position)
        if self._closing:
            self._slot.finish()
        self.call.publisher.publish(StreamRestarted(self.call.call_id, self.speaker,
                                                    len(self._pending) / self.bytes_per_second))

    def shed(self) -> None:
        """The pool is overloaded and we are the newest stream on it: continue post-call."""
        if self.mode is Mode.LIVE and not self._closing:
            self._defer(DeferReason.LAG)

    # ---- switching between live and post-call ----

    def _publish_mode(self) -> None:
        live = self.mode is Mode.LIVE
        at = (self._sent if live else self._spool_start) / self.bytes_per_second
        self.call.publisher.publish(StreamMode(
            self.call.call_id, self.speaker, StreamModeName.LIVE if live else StreamModeName.POST_CALL,
            None if live else self.defer_reason, at))

    def _defer(self, reason: DeferReason) -> None:
        """Stop live decoding; spool from the last final onwards for post-call transcription."""
        if self._slot is not None:
            self._slot.release()
            self._slot = None
        self.mode = Mode.DEFERRED
        self.defer_reason = reason
        self._catch_up.clear()  # its audio is in _pending, which starts the spool
        spool_dir = self.call.spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._spool_path = spool_dir / f"{self.call.call_id}-{self.speaker.value}-{uuid.uuid4().hex[:8]}.wav"
        self._spool = wave.open(str(self._spool_path), "wb")
        self._spool.setnchannels(1)
        self._spool.setsampwidth(BYTES_PER_SAMPLE)
        self._spool.setframerate(self.sample_rate)
        self._spool_start = self._pending_start
        self._spool.writeframesraw(bytes(self._pending))
        self._pending.clear()
        self._submitted = self._decoded = self._pending_start
        at = self._spool_start / self.bytes_per_second
        log.warning("asr stream deferred to post-call",
                    extra={"call_id": self.call.call_id, "speaker": self.speaker.value, "reason": reason.value})
        self.call.publisher.publish(StreamDeferred(self.call.call_id, self.speaker, reason, at))
        self._publish_mode()
        if self.call.pool is not None and reason not in (DeferReason.DECODER_FAILED, DeferReason.HANDOVER):
            self.call.pool.wait_for_capacity(self)
        if self._closing and not self._finished.done():
            self._finished.set_result(None)

    def _resume(self, slot: LiveSlot) -> None:
        """Capacity freed: go live again, catching up on the spooled audio (then drop the spool)."""
        assert self._spool is not None and self._spool_path is not None
        self._spool.close()
        spooled = _read_spool(self._spool_path)
        self._spool_path.unlink(missing_ok=True)
        self._spool = None
        self._spool_path = None
        self._slot = slot
        self.mode = Mode.LIVE
        self.defer_reason = None
        self._pending = bytearray(spooled)
        self._pending_start = self._submitted = self._decoded = self._spool_start
        self._catch_up = collections.deque(spooled[i:i + self.chunk_bytes]
                                           for i in range(0, len(spooled), self.chunk_bytes))
        self._drain_catch_up(CATCH_UP_CHUNKS_PER_CHUNK)
        log.info("asr stream back to live", extra={"call_id": self.call.call_id, "speaker": self.speaker.value,
                                                   "catch_up_seconds": len(spooled) / self.bytes_per_second})
        self._publish_mode()

    # ---- end of call ----

    async def close(self) -> None:
        """Flush the last partial chunk and wait for the live recognizer's final result."""
        if self._closing:
            await self._finished
            return
        if self._buffer and self.mode is not Mode.OFF:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            self._dispatch(chunk, may_resume=False)  # the call is over: post-call is as good
        self._closing = True
        if self.call.pool is not None:
            self.call.pool.stop_waiting(self)
        if self.mode is Mode.LIVE and self._slot is not None:
            self._drain_catch_up()
            self._slot.finish()
        elif not self._finished.done():
            self._finished.set_result(None)
        await self._finished
        if self._spool is not None:
            self._spool.close()  # writes the WAV header sizes

    async def hand_over(self) -> None:
        """Process stop during the call: what is not covered by a final result yet goes to the
        spool at once (post-call work for whoever finishes the call), without waiting for the
        live recognizer; frames fed after this are ignored."""
        if self.mode is Mode.LIVE and not self._closing:
            self._defer(DeferReason.HANDOVER)
        await self.close()

    def pending_record(self) -> PendingStream | None:
        """What post-call work this stream leaves (after `close()`), or None."""
        if self._spool_path is None:
            return None
        return PendingStream(self.speaker, self.offset, self._spool_path.name, self._spool_start)


async def finish_pending(record: PendingCall, post_call: PostCallQueue, publisher: EventPublisher,
                         spool_dir: Path) -> CallTranscript:
    """Decode a call's remaining spooled streams, persisting progress after each one.

    Used at hang-up and, for calls a stopped process left behind, at the next start. Raises
    `PostCallStopped` when the process is closing: the record and the spools not yet
    decoded stay on disk. Returns the complete transcript and removes the record.
    """
    while record.streams:
        stream = record.streams[0]
        path = spool_dir / stream.spool
        try:
            results = await post_call.transcribe_spool(path, start_pos=stream.start_pos, delete=False)
        except PostCallStopped:
            raise
        except Exception:
            record.failed.append(stream.speaker)
            log.exception("asr post-call transcription failed",
                          extra={"call_id": record.call_id, "speaker": stream.speaker.value,
                                 "spool": str(path)})
            results = []
        for raw in results:
            segment = to_segment(raw, record.call_id, stream.speaker, stream.offset, live=False)
            record.segments.append(segment)
            publisher.publish(segment)
        record.streams.pop(0)
        record.save(spool_dir)  # first the words, then the audio goes: a stop loses neither
        if stream.speaker not in record.failed:
            path.unlink(missing_ok=True)
    segments = sorted(record.segments, key=lambda s: (s.start, s.speaker.value))
    transcript = CallTranscript(record.call_id, tuple(segments), frozenset(record.deferred), True,
                                frozenset(record.failed))
    publisher.publish(TranscriptReady(transcript))
    record.remove(spool_dir)
    return transcript


class CallTranscription:
    """Transcription of one call: opens one stream per speaker, produces the CallTranscript."""

    def __init__(self, call_id: str, *, pool: RecognizerPool | None, publisher: EventPublisher,
                 post_call: PostCallQueue | None, spool_dir: Path, sample_rate: int = 16000,
                 decode_chunk_ms: int = 100, max_lag_seconds: float = 3.0,
                 origin: float = 0.0, earlier: PendingCall | None = None) -> None:
        """`origin`: seconds of the call before this transcription started (a call adopted from
        a stopped process); `earlier`: what that process handed over (`hand_over`), which this
        transcription's record and transcript continue."""
        self.call_id = call_id
        self.pool = pool
        self.publisher = publisher
        self.post_call = post_call
        self.spool_dir = spool_dir
        self.sample_rate = sample_rate
        self.decode_chunk_ms = decode_chunk_ms
        self.max_lag_seconds = max_lag_seconds
        self.streams: dict[Speaker, SpeakerStream] = {}
        self._started = time.monotonic() - origin
        self.origin = origin
        self.earlier = earlier
        self.handed_over = False
        self._live_transcript: CallTranscript | None = None
        self._complete: asyncio.Task[CallTranscript] | None = None
        #: kept with post-call work on disk, for whoever stores the transcript (caller number)
        self.meta: dict[str, str] = {}

    @property
    def enabled(self) -> bool:
        return self.pool is not None

    def open_stream(self, speaker: Speaker, *, offset: float | None = None) -> SpeakerStream:
        """Start (or return) the stream of one speaker; `offset` defaults to 'now' in the call."""
        if speaker not in self.streams:
            if offset is None:
                offset = time.monotonic() - self._started
            self.streams[speaker] = SpeakerStream(self, speaker, offset)
        return self.streams[speaker]

    def _transcript(self, complete: bool) -> CallTranscript:
        segments = sorted((s for st in self.streams.values() for s in st.segments),
                          key=lambda s: (s.start, s.speaker.value))
        deferred = frozenset(sp for sp, st in self.streams.items() if st.defer_reason is not None)
        failed = frozenset(sp for sp, st in self.streams.items() if st.failed)
        return CallTranscript(self.call_id, tuple(segments), deferred, complete, failed)

    async def close(self) -> CallTranscript:
        """End of call: finish live streams and start post-call work for deferred ones.

        Returns the transcript as known now (`complete=False` while post-call work remains);
        `wait_complete()` returns the full one. Post-call work is recorded on disk first
        (`asr.pending`) so that a process stop does not lose it.
        """
        if self._live_transcript is None:
            await asyncio.gather(*(s.close() for s in self.streams.values()))
            record = self._record()
            self._live_transcript = self._transcript_of(record, complete=not record.deferred)
            if record.streams and self.post_call is not None:
                record.save(self.spool_dir)
            self._discard_earlier()
            self._complete = asyncio.create_task(self._finish(record), name=f"asr-post-{self.call_id}")
            # Stopped post-call work (PostCallStopped) is normal at a process stop, and a caller
            # may never ask for the complete transcript: mark the outcome as seen.
            self._complete.add_done_callback(_observe)
        return self._live_transcript

    async def hand_over(self) -> PendingCall:
        """Process stop during the call: persist everything known so far for the next process.

        Every stream stops decoding at once and spools what no final result covers yet; the
        record (`<call>.pending.json`, marked handed over, with the seconds it covers) holds the
        final segments so far and those spools. The process that adopts the call continues it
        (`earlier`), or its recovery finishes it as post-call work when the call never comes back.
        """
        self.handed_over = True
        await asyncio.gather(*(s.hand_over() for s in self.streams.values()))
        record = self._record()
        record.meta[HANDED_OVER] = f"{time.monotonic() - self._started:.3f}"
        record.save(self.spool_dir)
        self._discard_earlier()
        log.info("asr call handed over to the next process",
                 extra={"call_id": self.call_id, "segments": len(record.segments), "spools": len(record.streams)})
        return record

    def _record(self) -> PendingCall:
        """This call's post-call record after its streams closed, continuing `earlier`."""
        deferred = [s for s in self.streams.values() if s.defer_reason is not None]
        mine = self._transcript(complete=False)
        record = PendingCall(self.call_id, dict(self.meta), list(mine.segments),
                             [r for s in deferred if (r := s.pending_record()) is not None],
                             [s.speaker for s in deferred])
        earlier = self.earlier
        if earlier is not None:
            record.meta = {k: v for k, v in earlier.meta.items() if k != HANDED_OVER} | record.meta
            record.segments = sorted(earlier.segments + record.segments, key=lambda s: (s.start, s.speaker.value))
            record.streams = earlier.streams + record.streams
            record.deferred = list(dict.fromkeys(earlier.deferred + record.deferred))
            record.failed = list(dict.fromkeys(earlier.failed + record.failed))
        return record

    def _discard_earlier(self) -> None:
        """The earlier process's record is now part of ours (saved, or decoded from memory)."""
        if self.earlier is not None:
            adopted_path(self.spool_dir, self.call_id).unlink(missing_ok=True)

    def _transcript_of(self, record: PendingCall, complete: bool) -> CallTranscript:
        """The transcript of a record (ours merged with what an earlier process handed over)."""
        failed = frozenset(record.failed) | frozenset(sp for sp, st in self.streams.items() if st.failed)
        return CallTranscript(self.call_id, tuple(record.segments), frozenset(record.deferred), complete, failed)

    async def _finish(self, record: PendingCall) -> CallTranscript:
        if self.post_call is None:
            record.failed.extend(s.speaker for s in record.streams)
            record.streams.clear()
            transcript = CallTranscript(self.call_id, tuple(record.segments), frozenset(record.deferred), True,
                                        frozenset(record.failed))
            self.publisher.publish(TranscriptReady(transcript))
            return transcript
        return await finish_pending(record, self.post_call, self.publisher, self.spool_dir)

    async def wait_complete(self) -> CallTranscript:
        await self.close()
        assert self._complete is not None
        return await self._complete
