"""The place-spotting pass: the caller's speech decoded once more, listening for districts only.

See asr/place_grammar.py for why and what it listens for. The pass is cheap next to the free
decode (a grammar of a few dozen names: measured ~0.07 s of CPU per second of speech against
~0.5 s) but it is CPU work all the same: it runs in a thread of its own, never on the event
loop. It runs at hang-up, so it improves the draft stored with the transcript; the desk's draft
while the call goes on reads the words alone (asr/place_recovery.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from asr.extract import prepare_transcript
from asr.gazetteer import Gazetteer
from asr.models import BYTES_PER_SAMPLE, LoadedModel
from asr.place_grammar import PlaceGrammar, SpottedPlace
from asr.place_recovery import written_names
from kernel.thread_priority import lower_this_thread

log = logging.getLogger(__name__)

#: Audio fed per call of AcceptWaveform: 100 ms, as the live decode feeds it.
CHUNK_SECONDS = 0.1


def _recognizer(model: LoadedModel, sample_rate: int, grammar: PlaceGrammar) -> Any:
    import vosk  # the binding loads Kaldi; only the process that decodes needs it

    vosk.SetLogLevel(-1)  # as asr.models does; it would warn of every character the model lacks
    recognizer = vosk.KaldiRecognizer(model.model, sample_rate, grammar.as_json())
    recognizer.SetWords(True)  # each word's confidence: a name heard unsurely does not count
    return recognizer


def spotted_words(model: LoadedModel, pcm: bytes, sample_rate: int, grammar: PlaceGrammar) -> list[tuple[str, float]]:
    """What the pass writes for `pcm` (mono signed 16-bit at `sample_rate`): each word (a
    character of a name, or "[unk]") with Vosk's confidence, utterances apart."""
    recognizer = _recognizer(model, sample_rate, grammar)
    chunk = max(2, int(sample_rate * CHUNK_SECONDS) * 2)
    words: list[tuple[str, float]] = []

    def take(payload: str) -> None:
        words.extend((w["word"], float(w.get("conf", 1.0))) for w in json.loads(payload).get("result") or ())
        words.append(("[unk]", 1.0))  # an utterance ends: no name runs across it

    for start in range(0, len(pcm), chunk):
        if recognizer.AcceptWaveform(pcm[start:start + chunk]):
            take(recognizer.Result())
    take(recognizer.FinalResult())
    return words


def spot_places(model: LoadedModel, pcm: bytes, sample_rate: int, grammar: PlaceGrammar) -> list[SpottedPlace]:
    """The districts heard surely in `pcm`, in the order heard."""
    return grammar.spotted_words(spotted_words(model, pcm, sample_rate, grammar))


#: Callers say where they are early in what they say: the pass listens to the first this many
#: seconds of the caller's *speech* (kept in memory meanwhile: 60 s of 8 kHz audio is 0.96 MB a
#: call). Silent frames (below the energy endpoint's level, asr/endpoint.py) are not kept, but
#: for HANGOVER_SECONDS after speech (the ends of words), so a caller waiting in the queue or
#: listening to the agent does not use it up.
LISTEN_SECONDS = 60.0
HANGOVER_SECONDS = 0.3
VOICED_LEVEL = 300.0


class PlaceListener:
    """Keeps the first LISTEN_SECONDS of each caller's speech and, when the call ends, runs the
    place-spotting pass on it in one low-priority thread of its own, unless the caller's words
    already name a district as written (then the pass has nothing to add)."""

    def __init__(self, model: LoadedModel | None, sample_rate: int, gazetteer: Gazetteer, *, nice: int = 5) -> None:
        self.model = model
        self.sample_rate = sample_rate
        self.gazetteer = gazetteer
        self.grammar = PlaceGrammar.of(gazetteer)
        self._limit = int(LISTEN_SECONDS * sample_rate) * BYTES_PER_SAMPLE
        self._hangover_bytes = int(HANGOVER_SECONDS * sample_rate) * BYTES_PER_SAMPLE
        self._audio: dict[str, bytearray] = {}
        self._since_voiced: dict[str, int] = {}  # bytes heard since the last voiced frame
        self._executor: ThreadPoolExecutor | None = None
        self._nice = nice

    def hear(self, call_id: str, frame: bytes) -> None:
        """One frame of the caller's audio (on the event loop: an energy check and an append)."""
        if self.model is None or len(frame) < BYTES_PER_SAMPLE:
            return
        audio = self._audio.setdefault(call_id, bytearray())
        if len(audio) >= self._limit:
            return
        # Mean square by one dot product in float32: at 60 calls the former float64 mean of
        # squares was a fifth of the event loop's time (py-spy, bench_node_capacity), ~7x this.
        samples = np.frombuffer(frame, dtype="<i2", count=len(frame) // BYTES_PER_SAMPLE).astype(np.float32)
        voiced = float(samples @ samples) >= VOICED_LEVEL * VOICED_LEVEL * len(samples)
        since = 0 if voiced else self._since_voiced.get(call_id, self._hangover_bytes) + len(frame)
        self._since_voiced[call_id] = since
        if since <= self._hangover_bytes:
            audio += frame[: self._limit - len(audio)]

    def forget(self, call_id: str) -> None:
        self._audio.pop(call_id, None)
        self._since_voiced.pop(call_id, None)

    async def spotted(self, call_id: str, caller_text: str) -> list[SpottedPlace]:
        """The districts the pass hears in the call's audio (which is then forgotten)."""
        audio = self._audio.pop(call_id, None)
        self._since_voiced.pop(call_id, None)
        if self.model is None or not audio or written_names(prepare_transcript(caller_text), self.gazetteer)[1]:
            return []
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, "asr-places", initializer=lower_this_thread,
                                                initargs=(self._nice,))
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, spot_places, self.model, bytes(audio),
                                              self.sample_rate, self.grammar)
        except Exception:
            log.exception("place-spotting pass failed", extra={"call_id": call_id})
            return []

    def close(self) -> None:
        self._audio.clear()
        self._since_voiced.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
