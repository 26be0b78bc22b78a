"""Values produced by transcription: segments, per-call transcripts and the events we publish.

Pure data, no I/O. Times are seconds from the start of the call's transcription (the moment the
`CallTranscription` was opened), so caller and agent segments interleave on one time line.
Events carry `to_dict()` so the adapter that publishes them (Redis pub/sub, the desk
websocket) never has to know these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Speaker(StrEnum):
    """Who is speaking on one audio stream of a call (one stream per speaker)."""

    CALLER = "caller"
    AGENT = "agent"
    UNIT = "unit"  # 承办单位 joined by a three-way call
    MIXED = "mixed"  # a mixed call recording transcribed after the fact (no speaker split)


class DeferReason(StrEnum):
    """Why a stream is transcribed after the call instead of live."""

    CAPACITY = "capacity"  # every live slot was taken when the stream opened
    LAG = "lag"  # the workers fell behind real time on this stream
    DECODER_FAILED = "decoder_failed"  # the recognizer raised on this stream's audio
    HANDOVER = "handover"  # the process stopped during the call: the next one finishes it


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Segment:
    """One utterance of one speaker. `final=False` is a partial that later finals replace.

    `live=False` marks segments produced by post-call transcription.
    """

    call_id: str
    speaker: Speaker
    text: str
    start: float
    end: float
    final: bool
    confidence: float | None = None
    live: bool = True
    words: tuple[Word, ...] = ()

    kind = "segment"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "asr.final" if self.final else "asr.partial",
            "call_id": self.call_id,
            "speaker": self.speaker.value,
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "confidence": None if self.confidence is None else round(self.confidence, 3),
            "live": self.live,
        }


@dataclass(frozen=True, slots=True)
class StreamDeferred:
    """A stream could not be served live; its audio is spooled and transcribed after the call."""

    call_id: str
    speaker: Speaker
    reason: DeferReason
    at: float  # stream position (seconds) from which audio goes to post-call transcription

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "asr.deferred",
            "call_id": self.call_id,
            "speaker": self.speaker.value,
            "reason": self.reason.value,
            "at": round(self.at, 3),
        }


class StreamModeName(StrEnum):
    """How a stream is transcribed right now, as the desk shows it."""

    LIVE = "live"  # words arrive while the person speaks
    POST_CALL = "post_call"  # audio is spooled; words come after the call (or when capacity frees)


@dataclass(frozen=True, slots=True)
class StreamMode:
    """A stream's transcription mode, published when it opens and at every change.

    Tells the desk which calls it sees live words for: under overload the newest streams go
    post-call first, and a stream goes back to live (catching up) when capacity frees.
    """

    call_id: str
    speaker: Speaker
    mode: StreamModeName
    reason: DeferReason | None  # why post-call; None when live
    at: float  # stream position (seconds) from which the mode applies

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "asr.mode",
            "call_id": self.call_id,
            "speaker": self.speaker.value,
            "mode": self.mode.value,
            "reason": None if self.reason is None else self.reason.value,
            "at": round(self.at, 3),
        }


@dataclass(frozen=True, slots=True)
class StreamRestarted:
    """The worker serving a stream died or was recycled; the stream resumed on another one."""

    call_id: str
    speaker: Speaker
    replayed_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "asr.restarted",
            "call_id": self.call_id,
            "speaker": self.speaker.value,
            "replayed_seconds": round(self.replayed_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class CallTranscript:
    """Everything transcribed for one call: final segments of every speaker, in time order.

    `complete` is False while deferred streams still wait for post-call transcription.
    """

    call_id: str
    segments: tuple[Segment, ...]
    deferred: frozenset[Speaker] = frozenset()
    complete: bool = True
    failed: frozenset[Speaker] = frozenset()

    def text(self, speaker: Speaker) -> str:
        """All final text of one speaker, utterances separated by a space."""
        return " ".join(s.text for s in self.segments if s.speaker is speaker and s.text)

    @property
    def caller_text(self) -> str:
        return self.text(Speaker.CALLER)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "asr.transcript",
            "call_id": self.call_id,
            "complete": self.complete,
            "deferred": sorted(s.value for s in self.deferred),
            "failed": sorted(s.value for s in self.failed),
            "segments": [s.to_dict() for s in self.segments],
        }


@dataclass(frozen=True, slots=True)
class TranscriptReady:
    """Published when a call's transcript is complete (live and post-call parts)."""

    transcript: CallTranscript

    def to_dict(self) -> dict[str, Any]:
        return self.transcript.to_dict() | {"type": "asr.transcript_ready"}


AsrEvent = Segment | StreamDeferred | StreamMode | StreamRestarted | TranscriptReady


@dataclass(slots=True)
class RawResult:
    """A recognizer result before it is attached to a call: times in stream seconds."""

    text: str
    start: float
    end: float
    confidence: float | None
    words: tuple[Word, ...] = field(default_factory=tuple)


def to_segment(raw: RawResult, call_id: str, speaker: Speaker, offset: float, *,
               live: bool = True) -> Segment:
    """Place a final recognizer result of one stream on the call's time line."""
    return Segment(
        call_id=call_id,
        speaker=speaker,
        text=raw.text,
        start=offset + raw.start,
        end=offset + raw.end,
        final=True,
        confidence=raw.confidence,
        live=live,
        words=tuple(Word(w.text, offset + w.start, offset + w.end, w.confidence) for w in raw.words),
    )
