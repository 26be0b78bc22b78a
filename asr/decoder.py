"""Drive one Kaldi recognizer over one audio stream and turn its JSON into timed results.

Synchronous and CPU-bound: only worker threads (live) and post-call threads call it. Shared by
live and post-call transcription so both cut and time segments the same way, which is what
makes a post-call transcript equal to the live one for the same audio.
"""

from __future__ import annotations

import json
from typing import Any

from asr.models import BYTES_PER_SAMPLE, LoadedModel
from asr.segments import RawResult, Word


def parse_result(payload: str, offset: float) -> RawResult | None:
    """A Vosk final-result JSON -> RawResult with stream times; None when nothing was said."""
    data = json.loads(payload)
    text = (data.get("text") or "").strip()
    if not text:
        return None
    words = tuple(
        Word(w["word"], offset + float(w["start"]), offset + float(w["end"]), float(w.get("conf", 1.0)))
        for w in data.get("result") or ()
    )
    if words:
        start, end = words[0].start, words[-1].end
        confidence: float | None = sum(w.confidence for w in words) / len(words)
    else:
        start = end = offset
        confidence = None
    return RawResult(text, start, end, confidence, words)


class Decoder:
    """One KaldiRecognizer fed from stream byte position `start_pos` onwards.

    Vosk reports word times relative to the recognizer's creation, so we add the stream time
    at which this recognizer started. `recycle()` replaces the recognizer at an utterance
    boundary: long calls otherwise keep growing its memory.
    """

    def __init__(self, model: LoadedModel, sample_rate: int, start_pos: int = 0) -> None:
        import vosk

        self._vosk: Any = vosk
        self._model = model
        self.sample_rate = sample_rate
        self.bytes_per_second = sample_rate * BYTES_PER_SAMPLE
        self._new_recognizer(start_pos)

    def _new_recognizer(self, start_pos: int) -> None:
        self._recognizer = self._vosk.KaldiRecognizer(self._model.model, self.sample_rate)
        self._recognizer.SetWords(True)
        self.start_pos = start_pos
        self.position = start_pos  # stream byte position after the last accepted chunk

    @property
    def offset(self) -> float:
        return self.start_pos / self.bytes_per_second

    @property
    def seconds_in_recognizer(self) -> float:
        return (self.position - self.start_pos) / self.bytes_per_second

    def accept(self, chunk: bytes) -> RawResult | bool | None:
        """Feed audio. Returns a RawResult (or None if silent) at an endpoint, False otherwise."""
        self.position += len(chunk)
        if self._recognizer.AcceptWaveform(chunk):
            return parse_result(self._recognizer.Result(), self.offset)
        return False

    def partial(self) -> str:
        return (json.loads(self._recognizer.PartialResult()).get("partial") or "").strip()

    def finish(self) -> RawResult | None:
        """Flush the last utterance at the end of the stream."""
        return parse_result(self._recognizer.FinalResult(), self.offset)

    def recycle(self) -> None:
        """Start a fresh recognizer at the current position (call only after a final result)."""
        self._new_recognizer(self.position)


def decode_pcm(model: LoadedModel, pcm: bytes, sample_rate: int, chunk_bytes: int,
               *, start_pos: int = 0) -> list[RawResult]:
    """Decode a whole buffer the way a live stream is decoded (same chunking, same endpoints)."""
    decoder = Decoder(model, sample_rate, start_pos)
    results: list[RawResult] = []
    for i in range(0, len(pcm), chunk_bytes):
        result = decoder.accept(pcm[i:i + chunk_bytes])
        if isinstance(result, RawResult):
            results.append(result)
    final = decoder.finish()
    if final is not None:
        results.append(final)
    return results
