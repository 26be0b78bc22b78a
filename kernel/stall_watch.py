"""Names the code that holds the event loop when it stalls: the loop's stack, caught in the act.

`LoopLagMonitor` says *that* the loop ran late (p99, max); under load that was 273 ms p99 and
2.5 s at worst, with `/health` answering in up to 785 ms (issue 26), and nothing said *what* ran.
A profiler at 100 calls is more than a shared machine or a production node can afford. This
watch costs one thread that wakes every `interval` and compares two numbers: when the loop's
heartbeat is older than `threshold_ms`, it reads the loop thread's current stack
(`sys._current_frames`) and logs it once per stall, so the logs of any busy node, or of the
node-capacity benchmark, say which handler to move off the loop or batch.

A stall is not always the loop's own doing: on a shared machine the process may simply not be
scheduled. So each stall also says how much CPU time the process used meanwhile (`cpu_ms`, all
its threads): close to `held_ms`, code held the loop; far below, the process was waiting (for
the CPU, or in a blocking call).

It never touches the loop's objects from its thread (it reads two floats and a frame), and the
heartbeat task only stores two floats: neither can slow the loop down.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stall:
    """One stall: how long the loop had been held when it was seen, and what held it."""

    held_ms: float
    cpu_ms: float  # CPU time the process used meanwhile
    stack: tuple[str, ...]  # innermost last, like a traceback

    @property
    def where(self) -> str:
        """The innermost frame of our own code (not the standard library's or a package's)."""
        ours = [line for line in self.stack if "site-packages" not in line
                and "/lib/python" not in line]
        return (ours or list(self.stack) or ["?"])[-1].strip().splitlines()[0]


class StallWatch:
    def __init__(self, *, threshold_ms: float = 200.0, interval: float = 0.05,
                 frames: int = 12, keep: int = 50) -> None:
        self.threshold_ms = threshold_ms
        self.interval = interval
        self.frames = frames
        #: The latest stalls seen, newest last.
        self.stalls: deque[Stall] = deque(maxlen=keep)
        self._beat = time.monotonic()
        self._beat_cpu = time.process_time()
        self._loop_thread: int | None = None
        self._stop = threading.Event()

    async def run(self) -> None:
        """Beat until cancelled (a supervised task); the watching thread lives as long."""
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._stop.clear()
        watcher = threading.Thread(target=self._watch, name="loop-stall-watch", daemon=True)
        watcher.start()
        try:
            while True:
                self._beat_cpu = time.process_time()
                self._beat = time.monotonic()
                await asyncio.sleep(self.interval)
        finally:
            self._stop.set()
            watcher.join(timeout=1.0)

    def _watch(self) -> None:
        reported: float | None = None
        while not self._stop.wait(self.interval):
            beat, beat_cpu = self._beat, self._beat_cpu
            held_ms = (time.monotonic() - beat - self.interval) * 1000.0
            if held_ms < self.threshold_ms or beat == reported or self._loop_thread is None:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            if frame is None:
                continue
            reported = beat
            stall = Stall(held_ms=round(held_ms, 1),
                          cpu_ms=round((time.process_time() - beat_cpu) * 1000.0, 1),
                          stack=tuple(traceback.format_stack(frame)[-self.frames:]))
            self.stalls.append(stall)
            log.warning("event loop held; what holds it: %s", stall.where,
                        extra={"held_ms": stall.held_ms, "cpu_ms": stall.cpu_ms,
                               "stack": "".join(stall.stack)})
