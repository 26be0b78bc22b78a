"""The ASR capability as one resource for the composition root: model + pool + post-call + events.

`open_asr_service(settings, sink)` is an async context manager (use it from an aiohttp
cleanup context). It loads the model in a thread (seconds) so start-up does not freeze the
loop. If the model is missing or broken it logs one clear error and yields a service with
transcription off: calls still connect, `start_call` returns a transcription whose streams
ignore audio, and `health()` says why. With `required = true` the `ModelError` propagates
instead and start-up fails.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asr.batch import PostCallQueue, PostCallStopped
from asr.decode_process import DecodeProcess
from asr.models import AsrSettings, LoadedModel, ModelError, model_from_settings
from asr.pending import (
    HANDED_OVER,
    PendingCall,
    adopted_path,
    claim_handed_over,
    load_pending,
    release_adopted,
)
from asr.publish import EventPublisher, EventSink
from asr.recognizers import cache_for
from asr.segments import CallTranscript
from asr.stream import CallTranscription, finish_pending
from asr.warm_up_audio import warm_up_audio_or_none
from asr.workers import RecognizerPool

log = logging.getLogger(__name__)


class AsrService:
    def __init__(self, settings: AsrSettings, publisher: EventPublisher, model: LoadedModel | None,
                 error: ModelError | None = None) -> None:
        self.settings = settings
        self.publisher = publisher
        self.model = model
        self.error = error
        self.pool: RecognizerPool | None = None
        self.post_call: PostCallQueue | None = None
        self._keeper: tuple[threading.Thread, threading.Event] | None = None
        self.started_at = time.time()  # post-call records older than this were left by another process
        self._stopping = threading.Event()  # set by `stop_post_call`: ends recovery's grace wait
        if model is not None:
            self.pool = RecognizerPool(model, workers=settings.workers,
                                       streams_per_worker=settings.streams_per_worker,
                                       partial_every_chunks=settings.partial_every_chunks,
                                       recycle_after_seconds=settings.recycle_after_seconds,
                                       nice=settings.worker_nice)
            process = DecodeProcess(model, chunk_ms=settings.decode_chunk_ms,
                                    idle_seconds=settings.post_call_idle_seconds) \
                if settings.post_call_process else None
            self.post_call = PostCallQueue(model, workers=settings.post_call_workers,
                                           chunk_ms=settings.decode_chunk_ms, process=process)

    @property
    def available(self) -> bool:
        return self.pool is not None

    def start(self) -> None:
        """Start the workers and the recognizer keeper (low priority, in the background): it
        prepares warm recognizers and retires used ones once calls rest (asr/recognizers.py)."""
        if self.pool is None or self.model is None:
            return
        self.pool.start()
        wanted = self.settings.warm_recognizers
        count = self.pool.capacity if wanted is None else wanted
        cache = cache_for(self.model)
        cache.audio_budget_seconds = self.settings.recognizer_audio_budget_seconds
        cache.warm_up_speech = warm_up_audio_or_none(self.settings.warm_up_audio)
        self._keeper = cache.start_keeper(self.model.decode_rate(self.settings.sample_rate), count,
                                          self.settings.recognizer_rest_seconds)

    def stop_post_call(self) -> None:
        """Process stop: running post-call decodes give up within a chunk, queued ones never
        start; their spools and records stay on disk for the next start (`recover`)."""
        self._stopping.set()
        if self.post_call is not None:
            self.post_call.stop()

    async def recover(self) -> AsyncIterator[tuple[CallTranscript, dict[str, str]]]:
        """Finish the post-call work a stopped process left on disk, oldest call first.

        Yields each completed transcript with the metadata saved with it (caller number...).
        Calls a stopped process handed over mid-call are left to the process that adopts them
        (`adopt`) for `handover_grace_seconds`; those nobody adopted (the caller hung up while
        no process listened) are then finished here like any other. Stops quietly when the
        process is closing again: what is left stays on disk.
        """
        if self.post_call is None:
            return
        spool_dir = self.settings.spool_dir
        await asyncio.to_thread(release_adopted, spool_dir, written_before=self.started_at)
        records = await asyncio.to_thread(load_pending, spool_dir, written_before=self.started_at)
        async for item in self._finish_records(records):
            yield item
        # Only records a stopped process wrote before we started can be ours: none now, none later.
        if not await asyncio.to_thread(load_pending, spool_dir, written_before=self.started_at,
                                       handed_over=True):
            return
        deadline = time.monotonic() + self.settings.handover_grace_seconds
        while not self._stopping.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if self._stopping.is_set():
            return
        handed = await asyncio.to_thread(load_pending, spool_dir, written_before=self.started_at,
                                         handed_over=True)
        claimed = []
        for record in handed:
            mine = await asyncio.to_thread(claim_handed_over, spool_dir, record.call_id)
            if mine is not None:
                mine.meta.pop(HANDED_OVER, None)  # ordinary post-call work from now on
                await asyncio.to_thread(mine.save, spool_dir)
                adopted_path(spool_dir, mine.call_id).unlink(missing_ok=True)
                claimed.append(mine)
        async for item in self._finish_records(claimed):
            yield item

    async def _finish_records(self, records: list[PendingCall]) -> AsyncIterator[tuple[CallTranscript, dict[str, str]]]:
        assert self.post_call is not None
        for record in records:
            log.info("resuming post-call transcription left by a stopped process",
                     extra={"call_id": record.call_id, "streams": len(record.streams)})
            try:
                transcript = await finish_pending(record, self.post_call, self.publisher,
                                                  self.settings.spool_dir)
            except PostCallStopped:
                return
            yield transcript, record.meta

    def adopt(self, call_id: str) -> PendingCall | None:
        """What a stopped process handed over of this call (it is ours to continue), or None."""
        if self.post_call is None:
            return None
        return claim_handed_over(self.settings.spool_dir, call_id)

    async def aclose(self) -> None:
        self.stop_post_call()
        if self._keeper is not None:
            thread, stop = self._keeper
            stop.set()
            await asyncio.to_thread(thread.join, 5.0)
        if self.pool is not None:
            await self.pool.aclose()
        if self.post_call is not None:
            await asyncio.to_thread(self.post_call.close)

    def start_call(self, call_id: str, *, origin: float = 0.0,
                   earlier: PendingCall | None = None) -> CallTranscription:
        """A transcription for one call (a no-op one when ASR is unavailable); `origin` and
        `earlier` continue a call adopted from a stopped process (`adopt`)."""
        s = self.settings
        return CallTranscription(call_id, pool=self.pool, publisher=self.publisher, post_call=self.post_call,
                                 spool_dir=s.spool_dir, sample_rate=s.sample_rate,
                                 decode_chunk_ms=s.decode_chunk_ms, max_lag_seconds=s.max_lag_seconds,
                                 origin=origin, earlier=earlier)

    def health(self) -> dict[str, Any]:
        if self.model is None:
            return {"status": "error" if self.error else "disabled",
                    "error": str(self.error) if self.error else "no model configured"}
        assert self.pool is not None and self.post_call is not None
        return self.model.health() | {
            "workers": self.pool.size,
            "live_streams": self.pool.live_streams,
            "capacity": self.pool.capacity,
            "worker_restarts": self.pool.restarts,
            "post_call_pending": self.post_call.pending,
            "post_call_process": self.post_call.process.pid if self.post_call.process else None,
            "warm_recognizers": cache_for(self.model).idle(self.model.decode_rate(self.settings.sample_rate)),
            "used_recognizers": cache_for(self.model).idle_used(self.model.decode_rate(self.settings.sample_rate)),
            "retired_recognizers": cache_for(self.model).retired,
            "dropped_partials": self.publisher.dropped_partials,
        }


@asynccontextmanager
async def open_asr_service(settings: AsrSettings, sink: EventSink | None,
                           model: LoadedModel | None = None) -> AsyncIterator[AsrService]:
    """Load (or reuse) the model, start workers and the event publisher; stop them on exit."""
    error: ModelError | None = None
    if model is None:
        try:
            model = await asyncio.to_thread(model_from_settings, settings)
        except ModelError as exc:
            if settings.required:
                raise
            error = exc
            log.error("live transcription disabled: %s", exc, extra={"setting": exc.key})
    publisher = EventPublisher(sink)
    publisher.start()
    service = AsrService(settings, publisher, model, error)
    service.start()
    try:
        yield service
    finally:
        await service.aclose()
        await publisher.aclose()
