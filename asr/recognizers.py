"""Warm Kaldi recognizers, kept per model and sample rate and reused across streams and calls.

Why: a new `KaldiRecognizer` costs ~50-80 ms to create and, worse, decoding its first speech
costs far more CPU than later speech: measured on the Mandarin small model (7.9 s of speech at
16 kHz), 1.55 s of CPU for a brand-new recognizer against 0.30 s for one that has decoded it
before (on the earlier Korean model: 1.6 s against 0.8 s). The difference is the decoding
graph: small models compose HCLr and Gr lazily, per recognizer, and a recognizer keeps the
part it has expanded. Paid per stream at the start of every call, that is what made the first
seconds of a busy minute lag. A recognizer that was finalized (`FinalResult` while running)
rebuilds its feature pipeline and decoder on the next audio but keeps its expanded graph, so
reusing it saves that CPU.

Reuse is not bit-exact. The decoder's pruning visits graph states in an order that follows
their numbers, and a lazily built graph numbers states in the order earlier audio first met
them; so a reused recognizer can differ from a brand-new one in a borderline word (seen on CI:
"... 는 먹이 다" against "... 는 이 먹이 다"). Given the same history the result is exact: the
same recognizer decodes the same audio the same way again. Where reproducibility against a
plain Vosk run matters more than CPU (audits, the tests that compare with one), set
`asr.reuse_recognizers = false` (`LoadedModel.reuse_recognizers`): every `take` then creates a
brand-new recognizer, with no warm-up, and nothing is kept.

Memory: a recognizer's expanded graph grows with the speech it has decoded (measured: a warm
recognizer ~11 MB, +~80 MB after its first 5 s of speech; bench/bench_asr_memory.py), and the
composition's state table never shrinks. So the cache retires recognizers: one that has decoded
more than `audio_budget_seconds` of audio is not kept (a bound under continuous load), and the
keeper thread (`start_keeper`) replaces a recognizer that decoded speech and then sat idle for
`rest_seconds` with a fresh warm one, and gives the freed heap back to the system
(`malloc_trim`). After calls end the node is back at its resting size: the model plus fresh
warm recognizers (issue 14: memory after 1,000 calls within 10 % of after the first 10).

Vosk counts time from a recognizer's creation: `WarmRecognizer.consumed` counts every byte it
was fed, so the decoder subtracts it and stream times stay right (tests/integration/test_asr_warm.py).

Thread use: a recognizer is used by one thread at a time (whoever took it); the cache itself
is locked. The cache is process-wide per loaded model and policy, like the model.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from asr.models import AUDIO_BUDGET_SECONDS, BYTES_PER_SAMPLE, REST_SECONDS, LoadedModel
from asr.warm_up_audio import WarmUpAudio
from kernel.thread_priority import lower_this_thread

log = logging.getLogger(__name__)

WARM_UP_SECONDS = 1.0
#: Audio fed to a recognizer that ended on an endpoint, so `FinalResult` finalizes it (Vosk
#: ignores `FinalResult` unless the recognizer is running). 10 ms of silence: never a word.
_FINALIZE_PAD_MS = 10
MAX_IDLE_PER_RATE = 64
KEEPER_SWEEP_SECONDS = 1.0


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: freed memory stays with the allocator
        return None
    return trim


_malloc_trim = _load_malloc_trim()


def trim_heap() -> bool:
    """Give free heap pages back to the system (glibc keeps them otherwise: a retired
    recognizer's ~80 MB of graph would stay in the resident size). True if any were released."""
    return bool(_malloc_trim(0)) if _malloc_trim is not None else False


def _faint_noise(sample_rate: int, seconds: float) -> bytes:
    import numpy as np

    rng = np.random.default_rng(12345)
    return (rng.standard_normal(int(sample_rate * seconds)) * 30).astype("<i2").tobytes()


def warm_up_recognizer(warm: WarmRecognizer, speech: WarmUpAudio | None = None) -> None:
    """What every new reusable recognizer decodes first, finalized: `speech` when given (it
    halves the CPU of its first call's speech: asr/warm_up_audio.py), else a second of faint
    noise."""
    audio = speech.at(warm.sample_rate) if speech is not None else None
    if audio is None:
        audio = _faint_noise(warm.sample_rate, WARM_UP_SECONDS)
    chunk = warm.sample_rate * BYTES_PER_SAMPLE // 10
    for i in range(0, len(audio), chunk):
        if warm.accept(audio[i:i + chunk]):
            warm.recognizer.Result()
    warm.final_result()
    warm.warmed = warm.consumed


class WarmRecognizer:
    """A KaldiRecognizer plus the number of bytes it has been fed over its life."""

    __slots__ = ("consumed", "idle_since", "recognizer", "running", "sample_rate", "warmed")

    def __init__(self, recognizer: Any, sample_rate: int) -> None:
        self.recognizer = recognizer
        self.sample_rate = sample_rate
        self.consumed = 0  # bytes fed since creation: Vosk's time origin is the creation
        self.running = False  # fed since the last endpoint/final (FinalResult would finalize)
        self.warmed = 0  # bytes of the warm-up: more than this, and it has decoded a stream
        self.idle_since = 0.0  # time.monotonic() when last given back to the cache

    @property
    def used(self) -> bool:
        """Whether it decoded a stream since its warm-up (and so holds that stream's graph)."""
        return self.consumed > self.warmed

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
    """Idle warm recognizers of one model, per sample rate.

    `audio_budget_seconds`: a recognizer fed more audio than this over its life is dropped when
    given back instead of kept (the service sets it from `asr.recognizer_audio_budget_seconds`).
    """

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.reuse = model.reuse_recognizers
        self.audio_budget_seconds = AUDIO_BUDGET_SECONDS
        #: what new recognizers decode before their first stream (None: faint noise)
        self.warm_up_speech: WarmUpAudio | None = None
        self._idle: dict[int, list[WarmRecognizer]] = {}
        self._lock = threading.Lock()
        self.created = 0
        self.reused = 0
        self.retired = 0
        self._trim_due = False  # a recognizer was dropped since the last trim_heap()

    def idle(self, sample_rate: int) -> int:
        with self._lock:
            return len(self._idle.get(sample_rate, ()))

    def idle_used(self, sample_rate: int) -> int:
        """Idle recognizers that decoded a stream (holding its graph) and await retirement."""
        with self._lock:
            return sum(1 for warm in self._idle.get(sample_rate, ()) if warm.used)

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
        # A stream waits for this one: the cheap warm-up, never seconds of speech first.
        return self._create(sample_rate, on_speech=False)

    def give_back(self, warm: WarmRecognizer) -> None:
        """Return a recognizer after its last `final_result()` (anything else is discarded)."""
        if warm.running or not self.reuse:
            return
        with self._lock:
            idle = self._idle.setdefault(warm.sample_rate, [])
            if len(idle) < MAX_IDLE_PER_RATE and warm.consumed_seconds <= self.audio_budget_seconds:
                warm.idle_since = time.monotonic()
                idle.append(warm)
                return
            self.retired += 1
            self._trim_due = True

    def retire_idle(self, rest_seconds: float, keep: int, now: float | None = None) -> int:
        """Drop idle recognizers unused for `rest_seconds` that decoded a stream, and any beyond
        `keep` per rate; returns how many (their graphs are freed now, the heap at `trim`)."""
        now = time.monotonic() if now is None else now
        dropped: list[WarmRecognizer] = []
        with self._lock:
            for rate, idle in self._idle.items():
                # Oldest first (take() pops the most recently used); of the surplus, the
                # longest unused go.
                ordered = sorted(idle, key=lambda w: w.idle_since)
                rested = {id(w) for w in ordered if now - w.idle_since >= rest_seconds}
                gone = {id(w) for w in ordered if id(w) in rested and w.used}
                surplus = len(ordered) - len(gone) - keep
                for warm in ordered:
                    if surplus <= 0:
                        break
                    if id(warm) in rested and id(warm) not in gone:
                        gone.add(id(warm))
                        surplus -= 1
                dropped.extend(w for w in ordered if id(w) in gone)
                self._idle[rate] = [w for w in ordered if id(w) not in gone]
            self.retired += len(dropped)
            self._trim_due = self._trim_due or bool(dropped)
        return len(dropped)  # when this returns, the last references go: Vosk frees each graph

    def trim(self) -> bool:
        """`trim_heap()` if a recognizer was dropped since the last trim; True if it ran."""
        with self._lock:
            due, self._trim_due = self._trim_due, False
        if due:
            trim_heap()
        return due

    def clear(self) -> int:
        """Drop the idle recognizers (memory back; the next streams start cold). Returns how many."""
        with self._lock:
            dropped = sum(len(idle) for idle in self._idle.values())
            self._idle.clear()
        return dropped

    def _create(self, sample_rate: int, *, warm_up: bool = True, on_speech: bool = True) -> WarmRecognizer:
        """A new recognizer; warmed up (on `warm_up_speech` when `on_speech` and one is set)."""
        import vosk

        recognizer = vosk.KaldiRecognizer(self.model.model, sample_rate)
        recognizer.SetWords(True)
        warm = WarmRecognizer(recognizer, sample_rate)
        if warm_up:
            warm_up_recognizer(warm, self.warm_up_speech if on_speech else None)
        with self._lock:
            self.created += 1
        return warm

    def prewarm(self, sample_rate: int, count: int, stop: threading.Event | None = None) -> None:
        """Create idle recognizers until `count` are idle (run in a background thread)."""
        while self.reuse and (stop is None or not stop.is_set()) and self.idle(sample_rate) < count:
            self.give_back(self._create(sample_rate))

    def keep(self, sample_rate: int, count: int, rest_seconds: float, stop: threading.Event,
             sweep_seconds: float = KEEPER_SWEEP_SECONDS) -> None:
        """Until `stop`: keep `count` warm recognizers idle, retiring rested ones that decoded
        speech (and surplus ones) and giving their memory back; see the module docstring."""
        while self.reuse and not stop.is_set():
            retired = self.retire_idle(rest_seconds, count)
            if self.trim():
                log.info("asr recognizers retired, memory given back",
                         extra={"sample_rate": sample_rate, "retired": retired, "retired_total": self.retired})
            self.prewarm(sample_rate, count, stop)
            stop.wait(sweep_seconds)

    def start_keeper(self, sample_rate: int, count: int,
                     rest_seconds: float = REST_SECONDS) -> tuple[threading.Thread, threading.Event]:
        """`keep` in a low-priority daemon thread; set the event to stop it."""
        stop = threading.Event()

        def run() -> None:
            lower_this_thread(10)
            try:
                self.keep(sample_rate, count, rest_seconds, stop)
            except Exception:
                log.exception("asr recognizer keeper failed", extra={"sample_rate": sample_rate})

        thread = threading.Thread(target=run, name="asr-recognizer-keeper", daemon=True)
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
