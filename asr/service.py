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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asr.batch import PostCallQueue
from asr.models import AsrSettings, LoadedModel, ModelError, model_from_settings
from asr.publish import EventPublisher, EventSink
from asr.stream import CallTranscription
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
        if model is not None:
            self.pool = RecognizerPool(model, workers=settings.workers,
                                       streams_per_worker=settings.streams_per_worker,
                                       partial_every_chunks=settings.partial_every_chunks,
                                       recycle_after_seconds=settings.recycle_after_seconds)
            self.post_call = PostCallQueue(model, workers=settings.post_call_workers,
                                           chunk_ms=settings.decode_chunk_ms)

    @property
    def available(self) -> bool:
        return self.pool is not None

    def start_call(self, call_id: str) -> CallTranscription:
        """A transcription for one call (a no-op one when ASR is unavailable)."""
        s = self.settings
        return CallTranscription(call_id, pool=self.pool, publisher=self.publisher, post_call=self.post_call,
                                 spool_dir=s.spool_dir, sample_rate=s.sample_rate,
                                 decode_chunk_ms=s.decode_chunk_ms, max_lag_seconds=s.max_lag_seconds)

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
    if service.pool is not None:
        service.pool.start()
    try:
        yield service
    finally:
        if service.pool is not None:
            await service.pool.aclose()
        if service.post_call is not None:
            await asyncio.to_thread(service.post_call.close)
        await publisher.aclose()
