"""The stall watch names the code that holds the event loop (issue 26 item 3)."""

from __future__ import annotations

import asyncio
import time

from kernel.stall_watch import StallWatch


def hold_the_loop_with_a_blocking_handler(seconds: float) -> None:
    time.sleep(seconds)


async def test_a_handler_that_blocks_the_loop_is_named_with_its_stack() -> None:
    watch = StallWatch(threshold_ms=100.0, interval=0.02)
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.sleep(0.1)
        hold_the_loop_with_a_blocking_handler(0.4)
        await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    named = [s for s in watch.stalls if "hold_the_loop_with_a_blocking_handler" in s.where]
    assert len(named) == 1, f"one stall, reported once: {list(watch.stalls)}"
    assert named[0].held_ms >= 100.0
    assert named[0].cpu_ms < named[0].held_ms, "asleep, not computing: little CPU time"
    assert "test_a_handler_that_blocks_the_loop" in "".join(named[0].stack)

