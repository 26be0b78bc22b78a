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
import logging
import time
import uuid
import wave
from enum import Enum
from pathlib import Path

from asr.batch import PostCallQueue
from asr.models import BYTES_PER_SAMPLE
from asr.publish import EventPublisher
from asr.segments import (
    CallTranscript,
    DeferReason,
    Segment,
    Speaker,
    StreamDeferred,
    StreamRestarted,
    TranscriptReady,
    to_segment,
)
from asr.workers import Decoded, LiveSlot, RecognizerPool

log = logging.getLogger(__name__)


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
        self.sample_rate = call.sample_rate
        self.bytes_per_second = self.sample_rate * BYTES_PER_SAMPLE
        self.chunk_bytes = self.sample_rate * BYTES_PER_SAMPLE * call.decode_chunk_ms // 1000
        self.segments: list[Segment] = []
        self.defer_reason: DeferReason | None = None
        self.failed = False
        self._buffer = bytearray()  # frames not yet forming a whole decode chunk
        self._pending = bytearray()  # sent to the recognizer, not yet covered by a final
        self._pending_start = 0
        self._sent = 0  # stream position after the last chunk sent (or spooled)
        self._decoded = 0
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

    def _dispatch(self, chunk: bytes) -> None:
        self._sent += len(chunk)
        if self.mode is Mode.LIVE:
            assert self._slot is not None
            self._pending += chunk
            self._slot.submit(chunk, self._sent)
            if (self._sent - self._decoded) / self.bytes_per_second > self.call.max_lag_seconds:
                self._defer(DeferReason.LAG)
        elif self.mode is Mode.DEFERRED:
            assert self._spool is not None
            self._spool.writeframesraw(chunk)

    @property
    def lag_seconds(self) -> float:
        return (self._sent - self._decoded) / self.bytes_per_second if self.mode is Mode.LIVE else 0.0

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
        for i in range(0, len(self._pending), self.chunk_bytes):
            chunk = bytes(self._pending[i: i + self.chunk_bytes])
            position += len(chunk)
            self._slot.submit(chunk, position)
        if self._closing:
            self._slot.finish()
        self.call.publisher.publish(StreamRestarted(self.call.call_id, self.speaker,
                                                    len(self._pending) / self.bytes_per_second))

    # ---- switching to post-call ----

    def _defer(self, reason: DeferReason) -> None:
        """Stop live decoding; spool from the last final onwards for post-call transcription."""
        if self._slot is not None:
            self._slot.release()
            self._slot = None
        self.mode = Mode.DEFERRED
        self.defer_reason = reason
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
        at = self._spool_start / self.bytes_per_second
        log.warning("asr stream deferred to post-call",
                    extra={"call_id": self.call.call_id, "speaker": self.speaker.value, "reason": reason.value})
        self.call.publisher.publish(StreamDeferred(self.call.call_id, self.speaker, reason, at))
        if self._closing and not self._finished.done():
            self._finished.set_result(None)

    # ---- end of call ----

    async def close(self) -> None:
        """Flush the last partial chunk and wait for the live recognizer's final result."""
        if self._closing:
            await self._finished
            return
        if self._buffer and self.mode is not Mode.OFF:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            self._dispatch(chunk)
        self._closing = True
        if self.mode is Mode.LIVE and self._slot is not None:
            self._slot.finish()
        elif not self._finished.done():
            self._finished.set_result(None)
        await self._finished
        if self._spool is not None:
            self._spool.close()  # writes the WAV header sizes

    async def transcribe_deferred(self, post_call: PostCallQueue) -> None:
        """After the call: decode the spool and add its segments (marked live=False)."""
        if self._spool_path is None:
            return
        results = await post_call.transcribe_spool(self._spool_path, start_pos=self._spool_start)
        for raw in results:
            segment = to_segment(raw, self.call.call_id, self.speaker, self.offset, live=False)
            self.segments.append(segment)
            self.call.publisher.publish(segment)
        self._spool_path = None


class CallTranscription:
    """Transcription of one call: opens one stream per speaker, produces the CallTranscript."""

    def __init__(self, call_id: str, *, pool: RecognizerPool | None, publisher: EventPublisher,
                 post_call: PostCallQueue | None, spool_dir: Path, sample_rate: int = 16000,
                 decode_chunk_ms: int = 100, max_lag_seconds: float = 3.0) -> None:
        self.call_id = call_id
        self.pool = pool
        self.publisher = publisher
        self.post_call = post_call
        self.spool_dir = spool_dir
        self.sample_rate = sample_rate
        self.decode_chunk_ms = decode_chunk_ms
        self.max_lag_seconds = max_lag_seconds
        self.streams: dict[Speaker, SpeakerStream] = {}
        self._started = time.monotonic()
        self._live_transcript: CallTranscript | None = None
        self._complete: asyncio.Task[CallTranscript] | None = None

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
        `wait_complete()` returns the full one.
        """
        if self._live_transcript is None:
            await asyncio.gather(*(s.close() for s in self.streams.values()))
            deferred = [s for s in self.streams.values() if s.defer_reason is not None]
            self._live_transcript = self._transcript(complete=not deferred)
            self._complete = asyncio.create_task(self._finish(deferred), name=f"asr-post-{self.call_id}")
        return self._live_transcript

    async def _finish(self, deferred: list[SpeakerStream]) -> CallTranscript:
        for stream in deferred:
            if self.post_call is None:
                stream.failed = True
                continue
            try:
                await stream.transcribe_deferred(self.post_call)
            except Exception:
                stream.failed = True
                log.exception("asr post-call transcription failed",
                              extra={"call_id": self.call_id, "speaker": stream.speaker.value})
        transcript = self._transcript(complete=True)
        self.publisher.publish(TranscriptReady(transcript))
        return transcript

    async def wait_complete(self) -> CallTranscript:
        await self.close()
        assert self._complete is not None
        return await self._complete
