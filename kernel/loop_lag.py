"""Event-loop lag: how late the loop runs a callback that asked to run now.

Everything the backend does for calls shares one event loop; a handler that computes for a
while (or a blocking call) delays every other call's events, and Asterisk drops an ARI
websocket whose writes block for 100 ms. The monitor sleeps `interval` seconds in a loop and
records how much later than asked it woke; `snapshot` gives percentiles over a recent window
(`/health` shows them, the node-capacity benchmark reads them). Cost: one wake-up per
interval, a bounded deque of samples.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LagSnapshot:
    """Lag percentiles in milliseconds over the last `window_seconds` (`samples` of them)."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    window_seconds: float

    def as_dict(self) -> dict[str, float | int]:
        return {"samples": self.samples, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "max_ms": self.max_ms, "window_seconds": self.window_seconds}


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of `values` (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


class LoopLagMonitor:
    def __init__(self, *, interval: float = 0.1, keep_seconds: float = 600.0,
                 warn_ms: float = 250.0) -> None:
        self.interval = interval
        self.warn_ms = warn_ms
        self._samples: deque[tuple[float, float]] = deque(maxlen=int(keep_seconds / interval) + 1)
        self._last_warned = 0.0

    async def run(self) -> None:
        """Measure until cancelled (a supervised task)."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.interval)
            lag_ms = max(0.0, (loop.time() - asked - self.interval) * 1000.0)
            now = time.monotonic()
            self._samples.append((now, lag_ms))
            if lag_ms >= self.warn_ms and now - self._last_warned >= 10.0:
                self._last_warned = now
                log.warning("event loop stalled", extra={"lag_ms": round(lag_ms, 1)})

    def snapshot(self, window_seconds: float = 60.0) -> LagSnapshot:
        since = time.monotonic() - window_seconds
        values = [lag for at, lag in self._samples if at >= since]
        return LagSnapshot(samples=len(values), p50_ms=round(percentile(values, 0.50), 1),
                           p99_ms=round(percentile(values, 0.99), 1),
                           max_ms=round(max(values, default=0.0), 1),
                           window_seconds=window_seconds)


class LoopLagCollector(Collector):
    """The event loop's lag over the last minute, for `/metrics` (`hotline_event_loop_lag_ms`)."""

    def __init__(self, monitor: LoopLagMonitor, window_seconds: float = 60.0) -> None:
        self.monitor = monitor
        self.window_seconds = window_seconds

    def collect(self) -> Iterable[Metric]:
        snapshot = self.monitor.snapshot(self.window_seconds)
        family = GaugeMetricFamily("hotline_event_loop_lag_ms",
                                   "Event-loop lag over the last minute, by quantile (max: 1).",
                                   labels=["quantile"])
        family.add_metric(["0.5"], snapshot.p50_ms)
        family.add_metric(["0.99"], snapshot.p99_ms)
        family.add_metric(["1"], snapshot.max_ms)
        yield family

    def describe(self) -> Iterable[Metric]:
        return []
