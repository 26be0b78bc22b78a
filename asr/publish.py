"""Deliver ASR events to the consumer's sink, in order, without ever blocking the producer.

The sink is whatever the composition root wires (Redis pub/sub, the desk, an asyncio.Queue in
tests): a callable taking one event that may return an awaitable. Producers call `publish`,
which only appends to a buffer; one task awaits the sink. If the sink falls behind, partial
results are dropped first (a newer partial supersedes them); finals are never dropped here
because they are also kept in the call's transcript.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Awaitable, Callable

from asr.segments import AsrEvent, Segment

log = logging.getLogger(__name__)

EventSink = Callable[[AsrEvent], Awaitable[None] | None]


def queue_sink(target: asyncio.Queue[AsrEvent]) -> EventSink:
    """A sink that puts events on an asyncio.Queue (for consumers that prefer pulling)."""

    def put(event: AsrEvent) -> None:
        target.put_nowait(event)

    return put


def with_listeners(sink: EventSink | None, *listeners: Callable[[AsrEvent], None]) -> EventSink:
    """`sink`, after handing each event to `listeners` first: quick, synchronous observers
    (the live assist notes the caller's words) that must never hold the sink up. A failing
    listener is logged; the event still reaches the sink."""

    def deliver(event: AsrEvent) -> Awaitable[None] | None:
        for listen in listeners:
            try:
                listen(event)
            except Exception:
                log.exception("asr event listener failed", extra={"event": type(event).__name__})
        return sink(event) if sink is not None else None

    return deliver


class EventPublisher:
    def __init__(self, sink: EventSink | None, *, max_buffered: int = 1000) -> None:
        self._sink = sink
        self._buffer: collections.deque[AsrEvent] = collections.deque()
        self._max_buffered = max_buffered
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped_partials = 0
        self._busy = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="asr-event-publisher")

    def publish(self, event: AsrEvent) -> None:
        if self._sink is None:
            return
        if len(self._buffer) >= self._max_buffered:
            self._drop_partials()
        self._buffer.append(event)
        self._wakeup.set()

    def _drop_partials(self) -> None:
        kept = [e for e in self._buffer if not (isinstance(e, Segment) and not e.final)]
        self.dropped_partials += len(self._buffer) - len(kept)
        self._buffer = collections.deque(kept)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._buffer:
                event = self._buffer.popleft()
                self._busy = True
                try:
                    result = self._sink(event) if self._sink else None
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:  # a broken sink must not stop transcription
                    log.exception("asr event sink failed", extra={"event": type(event).__name__})
                finally:
                    self._busy = False

    async def drain(self) -> None:
        """Wait until every buffered event has been handed to the sink."""
        while self._buffer or self._busy:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)

    async def aclose(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
