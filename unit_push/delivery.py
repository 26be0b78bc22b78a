"""The push worker: files new events into the units' feeds and POSTs each unit's next events to
its webhook, one at a time and in order, signed (`unit_push.signing`).

A push counts as delivered only when the receiver answers 2xx; then, and only then, the unit's
position moves (`PushStore.delivered`). Anything else (an error status, a refused connection, a
timeout) leaves the position where it was and the unit waits `Backoff.delay(failures)` before
the next try, doubling up to a cap: a receiver that is down for a day gets everything, in
order, when it is back, without being hammered meanwhile; other units are not held up (each
unit is delivered in its own task). A backend restart resumes from the stored positions.

Delivery is at least once: if the backend dies after a receiver took a push and before the
position was written, the push is sent again with the same `X-Hotline-Delivery` id, by which a
receiver deduplicates. A graceful stop (`stop`) lets the push in flight finish and be recorded,
so a deploy sends nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

import aiohttp

from kernel.errors import cause_of
from kernel.metrics import Metrics
from unit_push.router import FeedRouter
from unit_push.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from unit_push.store import FeedEntry, PushStore, Webhook

log = logging.getLogger(__name__)

#: Batches the router files per round at most, so deliveries are not starved by a backlog.
ROUTER_BATCHES_PER_ROUND = 20


@dataclass(frozen=True)
class Backoff:
    """Seconds before the next try after `failures` failures in a row: first, first x factor..."""

    first: float = 2.0
    factor: float = 2.0
    cap: float = 600.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.first * self.factor ** max(0, failures - 1))


async def _always() -> bool:
    return True


class PushWorker:
    def __init__(self, router: FeedRouter, store: PushStore, session: aiohttp.ClientSession, *,
                 backoff: Backoff = Backoff(), poll_seconds: float = 2.0, timeout_seconds: float = 10.0,
                 batch: int = 100, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, metrics: Metrics | None = None) -> None:
        self._router = router
        self._store = store
        self._session = session
        self._backoff = backoff
        self._poll = poll_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._batch = batch
        self._monotonic = monotonic
        self._wall = wall
        self._retry_at: dict[str, float] = {}
        self._attempts = (metrics if metrics is not None else Metrics()).counter(
            "hotline_unit_push_attempts_total", "Webhook pushes to units by unit and result (delivered, failed).",
            ("unit", "result"))
        self._stopping = False
        self._wake = asyncio.Event()
        self._holds_lease: Callable[[], Awaitable[bool]] = _always


    async def run(self, holds_lease: Callable[[], Awaitable[bool]]) -> None:
        """Rounds until `stop`; a round runs only while this node holds the lease, and each push
        checks it again first (a slow receiver must not outlast the lease into another node's
        round: two nodes pushing one unit would break its order)."""
        self._holds_lease = holds_lease
        while not self._stopping:
            try:
                if await holds_lease():
                    await self.run_round()
            except Exception:  # the database or Redis away: the next round tries again
                log.exception("unit push round failed")
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    def wake(self) -> None:
        """Start the next round now (a ticket changed)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the push in flight, then stop."""
        self._stopping = True
        self._wake.set()

    async def run_round(self) -> None:
        for _ in range(ROUTER_BATCHES_PER_ROUND):
            if self._stopping or not await self._router.route_once():
                break
        now = self._monotonic()
        due = [hook for hook in await self._store.active_webhooks()
               if self._retry_at.get(hook.unit, 0.0) <= now]
        async with asyncio.TaskGroup() as group:
            for hook in due:
                group.create_task(self._deliver(hook), name=f"unit-push-{hook.unit}")

    async def _deliver(self, hook: Webhook) -> None:
        for entry in await self._store.feed_after(hook.unit, hook.delivered_seq, self._batch):
            if self._stopping or not await self._holds_lease():
                return
            error = await self._post(hook, entry)
            self._attempts.labels(hook.unit, "delivered" if error is None else "failed").inc()
            if error is None:
                await self._store.delivered(hook.unit, entry.seq)
                self._retry_at.pop(hook.unit, None)
                continue
            failures = await self._store.failed(hook.unit, error)
            delay = self._backoff.delay(failures)
            self._retry_at[hook.unit] = self._monotonic() + delay
            log.warning("unit push failed; retrying later", extra={
                "unit": hook.unit, "seq": entry.seq, "ticket_no": entry.ticket_no,
                "failures": failures, "retry_in_seconds": round(delay, 2), "error": error})
            return

    async def _post(self, hook: Webhook, entry: FeedEntry) -> str | None:
        """POST one event; None when the receiver acknowledged it, else what went wrong."""
        body = entry.payload()
        timestamp = int(self._wall())
        headers = {"Content-Type": "application/json; charset=utf-8",
                   TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(hook.secret, timestamp, body),
                   DELIVERY_HEADER: f"{hook.unit}:{entry.seq}",
                   EVENT_HEADER: str(entry.as_json().get("type", ""))}
        try:
            async with self._session.post(hook.url, data=body, headers=headers, timeout=self._timeout,
                                          allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return cause_of(exc)
