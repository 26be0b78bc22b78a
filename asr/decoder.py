"""Drive one Kaldi recognizer over one audio stream and turn its JSON into timed results.

Synchronous and CPU-bound: only worker threads (live) and post-call threads call it. Shared by
live and post-call transcription so both cut and time segments the same way, which is what
makes a post-call transcript equal to the live one for the same audio.
"""

from __future__ import annotations

import json
import threading

from asr.endpoint import EnergyEndpointer
from asr.models import BYTES_PER_SAMPLE, LoadedModel
from asr.recognizers import WarmRecognizer, cache_for
from asr.segments import RawResult, Word
from asr.transcript_text import clean_text, clean_words, join_words
from asr.upsample import Upsampler
from asr.voice_activity import VoicedFrames


def parse_result(payload: str, offset: float) -> RawResult | None:
    """A Vosk final-result JSON -> RawResult with stream times; None when nothing was said.

    The words are cleaned (`asr.transcript_text`): no `[unk]`, no noise-only segment, Chinese
    written without the recogniser's spaces. Every final of every decode path comes through
    here, so live, post-call and re-transcribed texts are cleaned the same way.
    """
    data = json.loads(payload)
    if not (data.get("text") or "").strip():
        return None
    heard = tuple(
        Word(w["word"], offset + float(w["start"]), offset + float(w["end"]), float(w.get("conf", 1.0)))
        for w in data.get("result") or ()
    )
    if not heard:  # a recognizer without word times: only the text can be cleaned
        text = clean_text(data["text"])
        return RawResult(text, offset, offset, None) if text else None
    words = clean_words(heard)
    if not words:
        return None
    confidence = sum(w.confidence for w in words) / len(words)
    return RawResult(join_words(w.text for w in words), words[0].start, words[-1].end, confidence, words)


class Decoder:
    """One warm recognizer fed from stream byte position `start_pos` onwards.

    Vosk reports word times from the recognizer's creation; recognizers are reused
    (`asr.recognizers`), so we add the stream time at which this recognizer's round started
    minus what the recognizer had consumed before it. `recycle()` starts a fresh round at an
    utterance boundary: long calls otherwise keep growing the recognizer's pipeline memory.
    `release()` hands the recognizer back for the next stream.
    """

    def __init__(self, model: LoadedModel, sample_rate: int, start_pos: int = 0) -> None:
        self._cache = cache_for(model)
        self.sample_rate = sample_rate
        self.bytes_per_second = sample_rate * BYTES_PER_SAMPLE
        decode_rate = model.decode_rate(sample_rate)
        # Phone audio for a wideband model: upsampled here, chunk-invariant (asr.upsample).
        self._upsampler = Upsampler() if decode_rate != sample_rate else None
        self._warm: WarmRecognizer | None = self._cache.take(decode_rate)
        # Segments the recogniser makes of silence are dropped by the audio's energy.
        self._voiced = VoicedFrames(sample_rate, origin=start_pos / self.bytes_per_second)
        rule = model.energy_endpoint
        self._endpointer = EnergyEndpointer(rule, sample_rate) if rule is not None else None
        self._start_round(start_pos)

    @property
    def _rec(self) -> WarmRecognizer:
        if self._warm is None:
            raise RuntimeError("decoder used after release()")
        return self._warm

    def _start_round(self, start_pos: int) -> None:
        self._base = self._rec.consumed_seconds  # Vosk's clock at this round's first sample
        self.start_pos = start_pos
        self.position = start_pos  # stream byte position after the last accepted chunk

    @property
    def offset(self) -> float:
        """Stream time minus Vosk's time, in seconds (Vosk counts from the recognizer's birth)."""
        return self.start_pos / self.bytes_per_second - self._base

    @property
    def seconds_in_recognizer(self) -> float:
        return (self.position - self.start_pos) / self.bytes_per_second

    def accept(self, chunk: bytes) -> RawResult | bool | None:
        """Feed audio. Returns a RawResult (or None if silent) at an endpoint, False otherwise.

        The endpoint is Vosk's, or our energy rule's (`asr.endpoint`), whichever comes first;
        both depend only on the audio since the last final, so every decode agrees.
        """
        self.position += len(chunk)
        self._voiced.feed(chunk)
        ended = self._endpointer is not None and self._endpointer.feed(chunk)
        if self._rec.accept(chunk if self._upsampler is None else self._upsampler.feed(chunk)):
            payload = self._rec.recognizer.Result()
        elif ended:
            payload = self._rec.final_result()  # flushes the right context: the last word is in
        else:
            return False
        if self._endpointer is not None:
            self._endpointer.reset()
        return self._spoken(parse_result(payload, self.offset))

    def _spoken(self, result: RawResult | None) -> RawResult | None:
        """The result, unless its words lie over audio without speech (`asr.voice_activity`)."""
        if result is None or not result.words:
            return result
        spoken = self._voiced.has_speech(result.start, result.end)
        self._voiced.forget_before(result.end)
        return result if spoken else None

    def partial(self) -> str:
        return clean_text(json.loads(self._rec.recognizer.PartialResult()).get("partial") or "")

    def finish(self) -> RawResult | None:
        """Flush the last utterance at the end of the stream."""
        return self._spoken(parse_result(self._rec.final_result(), self.offset))

    def recycle(self) -> None:
        """Start a fresh round at the current position (call only after a final result)."""
        self._rec.final_result()
        if self._endpointer is not None:
            self._endpointer.reset()
        self._start_round(self.position)

    def release(self) -> None:
        """Give the recognizer back to the cache; an unfinished utterance is finalized first."""
        warm, self._warm = self._warm, None
        if warm is not None:
            if warm.running:
                warm.final_result()
            self._cache.give_back(warm)


class DecodeInterrupted(Exception):
    """`decode_pcm` was asked to stop (the process is closing); nothing of it was kept."""


def decode_pcm(model: LoadedModel, pcm: bytes, sample_rate: int, chunk_bytes: int,
               *, start_pos: int = 0, stop: threading.Event | None = None) -> list[RawResult]:
    """Decode a whole buffer the way a live stream is decoded (same chunking, same endpoints).

    `stop` is checked between chunks: set, it raises `DecodeInterrupted` within one chunk.
    """
    decoder = Decoder(model, sample_rate, start_pos)
    results: list[RawResult] = []
    for i in range(0, len(pcm), chunk_bytes):
        if stop is not None and stop.is_set():
            decoder.release()
            raise DecodeInterrupted(f"stopped at byte {i} of {len(pcm)}")
        result = decoder.accept(pcm[i:i + chunk_bytes])
        if isinstance(result, RawResult):
            results.append(result)
    final = decoder.finish()
    decoder.release()
    if final is not None:
        results.append(final)
    return results
