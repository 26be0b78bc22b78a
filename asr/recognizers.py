"""Warm Kaldi recognizers, kept per model and sample rate and reused across streams and calls.

Why: a new `KaldiRecognizer` costs ~80 ms to create and, worse, its first decoded audio costs
another 0.5-0.9 s of CPU (measured on the Korean small model, 2 cores). Paid per stream at the
start of every call, that is what made the first seconds of a busy minute lag: ten streams
opening together cost ~8 s of CPU before any of them produced a word. A recognizer that has
decoded once and was finalized (`FinalResult` while running) rebuilds its feature pipeline and
decoder on the next audio but keeps the expensive part, so reusing it costs nothing.

Reuse is exact: a finalized recognizer gives the same words as a fresh one; Vosk only keeps
counting time from its creation. `WarmRecognizer.consumed` counts every byte it was fed, so the
decoder subtracts it and stream times stay right (checked by tests/integration/test_asr_warm.py).

Thread use: a recognizer is used by one thread at a time (whoever took it); the cache itself
is locked. The cache is process-wide per loaded model, like the model.
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
        self._idle: dict[int, list[WarmRecognizer]] = {}
        self._lock = threading.Lock()
        self.created = 0
        self.reused = 0

    def idle(self, sample_rate: int) -> int:
        with self._lock:
            return len(self._idle.get(sample_rate, ()))

    def take(self, sample_rate: int) -> WarmRecognizer:
        """A finalized warm recognizer; creates (slow, ~1 s of CPU) when none is idle."""
        with self._lock:
            idle = self._idle.get(sample_rate)
            if idle:
                self.reused += 1
                return idle.pop()
        return self._create(sample_rate)

    def give_back(self, warm: WarmRecognizer) -> None:
        """Return a recognizer after its last `final_result()` (anything else is discarded)."""
        if warm.running:
            return
        with self._lock:
            idle = self._idle.setdefault(warm.sample_rate, [])
            if len(idle) < MAX_IDLE_PER_RATE:
                idle.append(warm)

    def _create(self, sample_rate: int) -> WarmRecognizer:
        import vosk

        recognizer = vosk.KaldiRecognizer(self.model.model, sample_rate)
        recognizer.SetWords(True)
        warm = WarmRecognizer(recognizer, sample_rate)
        warm.accept(_faint_noise(sample_rate, WARM_UP_SECONDS))
        warm.final_result()
        with self._lock:
            self.created += 1
        return warm

    def prewarm(self, sample_rate: int, count: int, stop: threading.Event | None = None) -> None:
        """Create idle recognizers until `count` are idle (run in a background thread)."""
        while (stop is None or not stop.is_set()) and self.idle(sample_rate) < count:
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


_caches: dict[int, RecognizerCache] = {}
_caches_lock = threading.Lock()


def cache_for(model: LoadedModel) -> RecognizerCache:
    """The process-wide cache of this loaded model (models are loaded once per process too)."""
    key = id(model.model)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None or cache.model.model is not model.model:
            cache = _caches[key] = RecognizerCache(model)
        return cache
