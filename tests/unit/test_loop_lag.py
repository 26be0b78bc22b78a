"""The event-loop lag monitor sees a stall and reports nearest-rank percentiles."""

from __future__ import annotations

import asyncio
import time

from kernel.loop_lag import LoopLagMonitor, percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.99) == 0.0


async def test_a_blocked_loop_shows_as_lag_in_the_snapshot() -> None:
    monitor = LoopLagMonitor(interval=0.01)
    task = asyncio.create_task(monitor.run())
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # a handler that blocks the loop
        await asyncio.sleep(0.05)
    finally:
        task.cancel()
    snapshot = monitor.snapshot(window_seconds=60)
    assert snapshot.samples >= 2
    assert snapshot.max_ms >= 250.0  # at least the blocked time, less one interval
    assert snapshot.as_dict()["max_ms"] == snapshot.max_ms
