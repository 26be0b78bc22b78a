"""Warm Kaldi recognizers, kept per model and sample rate and reused across streams and calls.

Why: a new `KaldiRecognizer` costs ~50-80 ms to create and, worse, decoding its first speech
costs about twice the CPU of later speech: measured on the Korean small model (8 kHz, 5.3 s of
speech), 1.6 s of CPU for a brand-new recognizer against 0.8 s for one that has decoded speech
before. The difference is the decoding graph: small models compose HCLr and Gr lazily, per
recognizer, and a recognizer keeps the part it has expanded. Paid per stream at the start of
every call, that is what made the first seconds of a busy minute lag. A recognizer that was
finalized (`FinalResult` while running) rebuilds its feature pipeline and decoder on the next
audio but keeps its expanded graph, so reusing it saves that CPU.

Reuse is not bit-exact. The decoder's pruning visits graph states in an order that follows
their numbers, and a lazily built graph numbers states in the order earlier audio first met
them; so a reused recognizer can differ from a brand-new one in a borderline word (seen on CI:
"... 는 먹이 다" against "... 는 이 먹이 다"). Given the same history the result is exact: the
same recognizer decodes the same audio the same way again. Where reproducibility against a
plain Vosk run matters more than CPU (audits, the tests that compare with one), set
`asr.reuse_recognizers = false` (`LoadedModel.reuse_recognizers`): every `take` then creates a
brand-new recognizer, with no warm-up, and nothing is kept.

Vosk counts time from a recognizer's creation: `WarmRecognizer.consumed` counts every byte it
was fed, so the decoder subtracts it and stream times stay right (tests/integration/test_asr_warm.py).

Thread use: a recognizer is used by one thread at a time (whoever took it); the cache itself
is locked. The cache is process-wide per loaded model and policy, like the model.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from asr.models import BYTES_PER_SAMPLE, LoadedModel

log = logging.getLogger(__name__)

WARM_UP_SECONDS = 1.0
#: Audio fed to a recognizer that ended on an endpoint, so `FinalResult` finalizes it (Vosk
#: ignores `FinalResult` unless the recognizer is running). 10 ms of silence: never a word.
_FINALIZE_PAD_MS = 10
MAX_IDLE_PER_RATE = 64


def _faint_noise(sample_rate: int, seconds: float) -> bytes:
    import numpy as np

    rng = np.random.default_rng(12345)
    return (rng.standard_normal(int(sample_rate * seconds)) * 30).astype("<i2").tobytes()


def warm_up_recognizer(warm: WarmRecognizer) -> None:
    """What every new reusable recognizer decodes first: a second of faint noise, finalized."""
    warm.accept(_faint_noise(warm.sample_rate, WARM_UP_SECONDS))
    warm.final_result()


class WarmRecognizer:
    """A KaldiRecognizer plus the number of bytes it has been fed over its life."""

    __slots__ = ("consumed", "recognizer", "running", "sample_rate")

    def __init__(self, recognizer: Any, sample_rate: int) -> None:
        self.recognizer = recognizer
        self.sample_rate = sample_rate
        self.consumed = 0  # bytes fed since creation: Vosk's time origin is the creation
        self.running = False  # fed since the last endpoint/final (FinalResult would finalize)

    def accept(self, chunk: bytes) -> bool:
        self.consumed += len(chunk)
        endpoint = bool(self.recognizer.AcceptWaveform(chunk))
        self.running = not endpoint
        return endpoint

    def final_result(self) -> str:
        pad = bytes(self.sample_rate * BYTES_PER_SAMPLE * _FINALIZE_PAD_MS // 1000)
        while not self.running:
            # Make FinalResult really finalize (fresh pipeline next time) instead of a no-op.
            if self.accept(pad):
                self.recognizer.Result()  # (never seen: 10 ms of silence ending an utterance)
        payload: str = self.recognizer.FinalResult()
        self.running = False
        return payload

    @property
    def consumed_seconds(self) -> float:
        return self.consumed / (self.sample_rate * BYTES_PER_SAMPLE)


class RecognizerCache:
    """Idle warm recognizers of one model, per sample rate."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.reuse = model.reuse_recognizers
        self._idle: dict[int, list[WarmRecognizer]] = {}
        self._lock = threading.Lock()
        self.created = 0
        self.reused = 0

    def idle(self, sample_rate: int) -> int:
        with self._lock:
            return len(self._idle.get(sample_rate, ()))

    def take(self, sample_rate: int) -> WarmRecognizer:
        """A finalized warm recognizer; creates (slow, ~1 s of CPU) when none is idle.

        Without reuse: always a brand-new recognizer, not warmed (its history must be empty).
        """
        if not self.reuse:
            return self._create(sample_rate, warm_up=False)
        with self._lock:
            idle = self._idle.get(sample_rate)
            if idle:
                self.reused += 1
                return idle.pop()
        return self._create(sample_rate)

    def give_back(self, warm: WarmRecognizer) -> None:
        """Return a recognizer after its last `final_result()` (anything else is discarded)."""
        if warm.running or not self.reuse:
            return
        with self._lock:
            idle = self._idle.setdefault(warm.sample_rate, [])
            if len(idle) < MAX_IDLE_PER_RATE:
                idle.append(warm)

    def clear(self) -> int:
        """Drop the idle recognizers (memory back; the next streams start cold). Returns how many."""
        with self._lock:
            dropped = sum(len(idle) for idle in self._idle.values())
            self._idle.clear()
        return dropped

    def _create(self, sample_rate: int, *, warm_up: bool = True) -> WarmRecognizer:
        import vosk

        recognizer = vosk.KaldiRecognizer(self.model.model, sample_rate)
        recognizer.SetWords(True)
        warm = WarmRecognizer(recognizer, sample_rate)
        if warm_up:
            warm_up_recognizer(warm)
        with self._lock:
            self.created += 1
        return warm

    def prewarm(self, sample_rate: int, count: int, stop: threading.Event | None = None) -> None:
        """Create idle recognizers until `count` are idle (run in a background thread)."""
        while self.reuse and (stop is None or not stop.is_set()) and self.idle(sample_rate) < count:
            self.give_back(self._create(sample_rate))

    def start_prewarm(self, sample_rate: int, count: int) -> tuple[threading.Thread, threading.Event]:
        """`prewarm` in a low-priority daemon thread; set the event to stop it early."""
        stop = threading.Event()

        def run() -> None:
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
            except (AttributeError, OSError):
                pass
            try:
                self.prewarm(sample_rate, count, stop)
            except Exception:
                log.exception("asr recognizer prewarm failed", extra={"sample_rate": sample_rate})

        thread = threading.Thread(target=run, name="asr-prewarm", daemon=True)
        thread.start()
        return thread, stop


_caches: dict[tuple[int, bool], RecognizerCache] = {}
_caches_lock = threading.Lock()


def cache_for(model: LoadedModel) -> RecognizerCache:
    """The process-wide cache of this loaded model and policy (models are loaded once per
    process too; a non-reusing model never shares recognizers with a reusing one)."""
    key = (id(model.model), model.reuse_recognizers)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None or cache.model.model is not model.model:
            cache = _caches[key] = RecognizerCache(model)
        return cache
