"""A bounded pool of recognizer threads: live decoding off the event loop, with backpressure.

Why threads: the Vosk binding (cffi) releases the GIL while Kaldi decodes, so threads decode
in parallel while sharing the one loaded model (~500 MB); processes would each load it.

Scheduling: every stream's jobs go to one queue shared by the workers, in arrival order, and
an idle worker takes the oldest job of a stream that no other worker is decoding at that
moment (a recognizer is stateful and not thread-safe: one thread at a time, in order). So
the oldest unprocessed audio of the whole pool is decoded first, and a worker never idles
while another has a backlog. Per-worker inboxes used to leave one worker's streams waiting
behind a burst of speech while the other worker was idle: that queueing was most of the
end-of-speech -> final latency at the capacity edge.

Each live stream still has a home worker (`LiveSlot.worker`): capacity per worker, shedding
under overload and recovery after a worker's death are counted per home worker.

The event loop never waits on a worker: `LiveSlot.submit` is a non-blocking queue put and
results come back through `loop.call_soon_threadsafe`. Capacity is bounded
(`workers * streams_per_worker`); `open_slot` returns None when it is full and the caller
(the stream) switches to post-call transcription.

Failure model: a worker that dies (or is recycled) is replaced; the streams homed on it are
moved to the replacement and their listeners told (`on_worker_lost`); each replays the audio
it still holds since its last final result on a fresh recognizer, and its jobs queued before
the move are skipped, so nothing already transcribed is lost and nothing after it is skipped.
This module must never import the telephony layer or touch the event sink.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from asr.decoder import Decoder
from asr.models import LoadedModel
from asr.segments import RawResult
from kernel.thread_priority import lower_this_thread

log = logging.getLogger(__name__)


class WorkerKilled(Exception):
    """Raised inside a worker thread to make it die abruptly (recycling, tests, chaos)."""


@dataclass(slots=True)
class Decoded:
    """What a worker reports after one job of one stream (delivered on the event loop)."""

    key: int
    epoch: int
    position: int  # stream byte position decoded so far
    finals: list[RawResult] = field(default_factory=list)
    partial: str | None = None
    finished: bool = False
    error: str | None = None


class SlotListener(Protocol):
    """The stream side of a live slot; called on the event loop only."""

    @property
    def seq(self) -> int:
        """Age of the stream: lower is older. Under overload the newest go post-call first."""
        ...

    @property
    def backlog_seconds(self) -> float:
        """Audio handed to the worker and not decoded yet."""
        ...

    def on_decoded(self, message: Decoded) -> None: ...

    def on_worker_lost(self) -> None: ...

    def shed(self) -> None:
        """Give up the live slot (the pool is overloaded): continue post-call."""


class LiveSlot:
    """A stream's reservation on one worker. `epoch` changes when the stream is moved."""

    def __init__(self, pool: RecognizerPool, key: int, listener: SlotListener, sample_rate: int) -> None:
        self.pool = pool
        self.key = key
        self.listener = listener
        self.sample_rate = sample_rate
        self.worker: _Worker | None = None
        self.epoch = 0
        self.cancelled = False  # read by the worker thread: skip queued audio of dropped streams

    def submit(self, chunk: bytes, end_pos: int) -> None:
        self.pool.jobs.put(_Audio(self, self.epoch, chunk, end_pos))

    def finish(self) -> None:
        self.pool.jobs.put(_Finish(self, self.epoch))

    def restart(self, start_pos: int) -> None:
        """Open a fresh recognizer starting at `start_pos` (jobs queued before are skipped)."""
        self.pool.jobs.put(_Open(self, self.epoch, start_pos))

    def release(self) -> None:
        """Give the slot back; queued audio of this stream is skipped, its recognizer freed."""
        self.pool._release(self)


@dataclass(slots=True)
class _Open:
    slot: LiveSlot
    epoch: int
    start_pos: int


@dataclass(slots=True)
class _Audio:
    slot: LiveSlot
    epoch: int
    chunk: bytes
    end_pos: int


@dataclass(slots=True)
class _Finish:
    slot: LiveSlot
    epoch: int


@dataclass(slots=True)
class _Drop:
    key: int


_Job = _Open | _Audio | _Finish | _Drop


def _key(job: _Job) -> int:
    return job.key if isinstance(job, _Drop) else job.slot.key


class JobQueue:
    """The workers' shared queue: oldest job first, one thread per stream at a time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jobs: collections.deque[_Job] = collections.deque()
        self._busy: set[int] = set()  # streams a worker is decoding right now
        self._stopped = False

    def put(self, job: _Job) -> None:
        with self._cond:
            self._jobs.append(job)
            self._cond.notify()

    def take(self, worker: _Worker) -> _Job | None:
        """The oldest job of a stream nobody is decoding (marked busy until `done`); None
        once the pool stops. Raises `WorkerKilled` when the worker was asked to die."""
        with self._cond:
            while True:
                if worker.kill_requested:
                    raise WorkerKilled(worker.name)
                if self._stopped:
                    return None
                for i, job in enumerate(self._jobs):
                    key = _key(job)
                    if key not in self._busy:
                        del self._jobs[i]
                        self._busy.add(key)
                        return job
                self._cond.wait()

    def done(self, job: _Job) -> None:
        with self._cond:
            self._busy.discard(_key(job))
            if self._jobs:
                self._cond.notify()  # that stream's next job may be waiting for it

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._jobs.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._jobs)

#: Overload policy (see `RecognizerPool.overloaded` / `try_resume`), seconds.
SHED_INTERVAL = 1.0
SHED_RECOVERY = 6.0
RESUME_HOLDOFF = 10.0
RESUME_MAX_BACKLOG = 0.5


def _release(state: tuple[int, Decoder, int, str] | None) -> None:
    """Hand a dropped stream's recognizer back to the warm cache (a broken one is discarded)."""
    if state is not None:
        try:
            state[1].release()
        except Exception:
            log.warning("asr recognizer not reusable; discarded", exc_info=True)


class _Worker(threading.Thread):
    def __init__(self, pool: RecognizerPool, index: int, generation: int) -> None:
        super().__init__(name=f"asr-worker-{index}.{generation}", daemon=True)
        self.pool = pool
        self.index = index
        self.slots: dict[int, LiveSlot] = {}  # event-loop side bookkeeping
        self.last_shed = -1e9  # monotonic time a stream of this worker was last shed
        self.backlog_at_shed = 0.0
        self.kill_requested = False

    def run(self) -> None:
        jobs = self.pool.jobs
        error: BaseException | None = None
        # Issue 14: live decoding fills both cores of a small node, and at equal priority the
        # event loop queued for a CPU behind it (loop lag p99 ~300 ms at 80 calls: CPU, not GIL,
        # contention). A worker a few nice levels down yields the CPU to the loop, Asterisk and
        # SIPp; if it then falls behind, the lag rule sheds its newest stream to post-call, which
        # is the graceful way to be short of CPU.
        lower_this_thread(self.pool.nice)
        try:
            while (job := jobs.take(self)) is not None:
                try:
                    self._handle(job, self.pool.decoders)
                finally:
                    jobs.done(job)
        except BaseException as exc:  # noqa: BLE001 - the thread dies; the pool replaces it
            error = exc
        finally:
            self.pool._post(self.pool._worker_exited, self, error)

    def _handle(self, job: _Job, decoders: dict[int, tuple[int, Decoder, int, str]]) -> None:
        pool = self.pool
        if isinstance(job, _Drop):
            _release(decoders.pop(job.key, None))
            return
        slot = job.slot
        if slot.cancelled:
            _release(decoders.pop(slot.key, None))
            return
        if job.epoch != slot.epoch:
            return  # queued before the stream moved (its worker died): it replays from its last final
        if isinstance(job, _Open):
            _release(decoders.pop(slot.key, None))
            decoders[slot.key] = (job.epoch, Decoder(pool.model, slot.sample_rate, job.start_pos), 0, "")
            return
        state = decoders.get(slot.key)
        if state is None or state[0] != job.epoch:
            return  # audio for a recognizer that was replaced: the stream replays it
        epoch, decoder, chunks, last_partial = state
        message = Decoded(slot.key, epoch, decoder.position)
        try:
            if isinstance(job, _Finish):
                final = decoder.finish()
                if final is not None:
                    message.finals.append(final)
                message.finished = True
                del decoders[slot.key]
                decoder.release()
            else:
                result = decoder.accept(job.chunk)
                chunks += 1
                if result is not False:
                    if isinstance(result, RawResult):
                        message.finals.append(result)
                    last_partial = ""
                    if decoder.seconds_in_recognizer >= pool.recycle_after_seconds:
                        decoder.recycle()  # at an utterance boundary: nothing is lost
                elif chunks % pool.partial_every_chunks == 0:
                    partial = decoder.partial()
                    if partial != last_partial:
                        message.partial = last_partial = partial
                decoders[slot.key] = (epoch, decoder, chunks, last_partial)
            message.position = decoder.position
        except Exception as exc:  # noqa: BLE001 - one stream's broken recognizer fails only that stream
            decoders.pop(slot.key, None)
            message.error = f"{type(exc).__name__}: {exc}"
        pool._post(pool._deliver, message)


class RecognizerPool:
    """Threads that decode live streams; see the module docstring for the contract."""

    def __init__(self, model: LoadedModel, *, workers: int = 2, streams_per_worker: int = 4,
                 partial_every_chunks: int = 3, recycle_after_seconds: float = 600.0,
                 nice: int = 0) -> None:
        self.model = model
        self.nice = nice  # applied by each worker thread to itself (Linux: per thread)
        self.size = workers
        self.streams_per_worker = streams_per_worker
        self.partial_every_chunks = partial_every_chunks
        self.recycle_after_seconds = recycle_after_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[_Worker] = []
        self.jobs = JobQueue()
        #: stream key -> (epoch, decoder, chunks, last partial); only the thread that took one of
        #: the stream's jobs from `jobs` touches its entry
        self.decoders: dict[int, tuple[int, Decoder, int, str]] = {}
        self._generation = itertools.count(1)
        self._keys = itertools.count(1)
        self._slots: dict[int, LiveSlot] = {}
        self._waiting: dict[int, SlotListener] = {}  # deferred streams that may resume, by age
        self._closing = False
        self.restarts = 0
        self.shed_count = 0
        self.resumed = 0
        self.last_shed = -1e9

    @property
    def capacity(self) -> int:
        return self.size * self.streams_per_worker

    @property
    def live_streams(self) -> int:
        return len(self._slots)

    def start(self) -> None:
        """Start the threads; call from the event loop that will receive results."""
        self._loop = asyncio.get_running_loop()
        self._workers = [self._spawn(i) for i in range(self.size)]

    def _spawn(self, index: int) -> _Worker:
        worker = _Worker(self, index, next(self._generation))
        worker.start()
        return worker

    async def aclose(self) -> None:
        self._closing = True
        self._waiting.clear()
        for slot in list(self._slots.values()):
            slot.cancelled = True
        self.jobs.stop()
        for worker in self._workers:
            await asyncio.to_thread(worker.join, 10)
        self._slots.clear()
        for key in list(self.decoders):
            _release(self.decoders.pop(key, None))

    def open_slot(self, listener: SlotListener, sample_rate: int, start_pos: int = 0) -> LiveSlot | None:
        """Reserve a live slot on the least loaded worker, or None when the pool is full."""
        if self._closing or not self._workers or len(self._slots) >= self.capacity:
            return None
        worker = min(self._workers, key=lambda w: len(w.slots))
        if len(worker.slots) >= self.streams_per_worker:
            return None
        slot = LiveSlot(self, next(self._keys), listener, sample_rate)
        self._attach(slot, worker)
        self._slots[slot.key] = slot
        slot.restart(start_pos)
        return slot

    # ---- graceful overload (event loop only) ----

    def overloaded(self, slot: LiveSlot) -> None:
        """`slot`'s backlog passed the lag limit: shed the newest stream of its worker.

        One stream per worker per `SHED_INTERVAL`, and again only while the backlog keeps
        growing (a worker that just shed needs a while to work its backlog off; shedding more
        meanwhile would send calls post-call for nothing).
        """
        worker = slot.worker
        if worker is None or not worker.slots:
            return
        now = time.monotonic()
        backlog = slot.listener.backlog_seconds
        since = now - worker.last_shed
        if since < SHED_INTERVAL or (since < SHED_RECOVERY and backlog <= worker.backlog_at_shed):
            return
        victim = max(worker.slots.values(), key=lambda s: s.listener.seq)
        worker.last_shed = self.last_shed = now
        worker.backlog_at_shed = backlog
        self.shed_count += 1
        log.warning("asr worker overloaded; newest stream goes post-call",
                    extra={"worker": worker.name, "backlog_seconds": round(backlog, 2),
                           "streams": len(worker.slots)})
        victim.listener.shed()

    def wait_for_capacity(self, listener: SlotListener) -> None:
        """A deferred stream that may go live again when capacity frees (oldest first)."""
        if not self._closing:
            self._waiting[listener.seq] = listener

    def stop_waiting(self, listener: SlotListener) -> None:
        self._waiting.pop(listener.seq, None)

    def try_resume(self, listener: SlotListener, sample_rate: int, start_pos: int) -> LiveSlot | None:
        """A live slot for a deferred stream, if it is the oldest waiting one and the pool has
        room and is keeping up (no recent shedding, no backlog on the chosen worker)."""
        if (self._closing or listener.seq not in self._waiting or len(self._slots) >= self.capacity
                or time.monotonic() - self.last_shed < RESUME_HOLDOFF
                or min(self._waiting) != listener.seq):
            return None
        worker = min(self._workers, key=lambda w: len(w.slots))
        if len(worker.slots) >= self.streams_per_worker or any(
                s.listener.backlog_seconds > RESUME_MAX_BACKLOG for s in worker.slots.values()):
            return None
        slot = self.open_slot(listener, sample_rate, start_pos)
        if slot is not None:
            del self._waiting[listener.seq]
            self.resumed += 1
        return slot

    def _attach(self, slot: LiveSlot, worker: _Worker) -> None:
        slot.worker = worker
        slot.epoch += 1
        worker.slots[slot.key] = slot

    def _release(self, slot: LiveSlot) -> None:
        slot.cancelled = True
        if self._slots.pop(slot.key, None) is not None and slot.worker is not None:
            slot.worker.slots.pop(slot.key, None)
            self.jobs.put(_Drop(slot.key))

    def kill_worker(self, index: int) -> None:
        """Make worker `index` die before its next job; its streams replay on the replacement."""
        worker = self._workers[index]
        worker.kill_requested = True
        self.jobs.wake()  # if idle

    recycle_worker = kill_worker  # recycling is a planned death: streams replay and move on

    # ---- called on the event loop (via call_soon_threadsafe) ----

    def _post(self, callback: object, *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback, *args)  # type: ignore[arg-type]
            except RuntimeError:  # loop closed while we were decoding
                pass

    def _deliver(self, message: Decoded) -> None:
        slot = self._slots.get(message.key)
        if slot is None or slot.epoch != message.epoch:
            return  # stale: the stream moved or was released
        if message.finished or message.error:
            self._release(slot)
        slot.listener.on_decoded(message)

    def _worker_exited(self, worker: _Worker, error: BaseException | None) -> None:
        if worker not in self._workers:
            return
        if self._closing and error is None:
            return
        index = self._workers.index(worker)
        replacement = self._spawn(index)
        self._workers[index] = replacement
        self.restarts += 1
        log.warning("asr worker exited; replaced", extra={"worker": worker.name, "error": repr(error),
                                                           "streams": len(worker.slots)})
        for slot in list(worker.slots.values()):
            if slot.key not in self._slots:
                continue
            self._attach(slot, replacement)
            slot.listener.on_worker_lost()
