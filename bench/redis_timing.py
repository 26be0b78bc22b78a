"""Shared scaffolding of the Redis micro-benchmarks (`bench_acd.py`, `bench_abuse_limiter.py`).

Both time one awaited operation at a time against a loopback Redis and report p50/p99 in
microseconds next to a baseline measured the same way in the same run; this module keeps the
one way of doing that, so the two benchmarks' figures stay comparable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WARM_UP_OPS = 50  # connections, script cache


@dataclass
class Result:
    name: str
    ops: int
    p50_us: float
    p99_us: float
    throughput: float = 0.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def refuse_remote_redis(url: str) -> bool:
    """True (and says why on stderr) when `url` is not a loopback Redis: benchmarks write keys."""
    if urlparse(url).hostname in LOOPBACK:
        return False
    print("refusing: the benchmark only talks to a Redis on the loopback interface", file=sys.stderr)
    return True


async def time_one_at_a_time(
    name: str, op: Callable[[], Awaitable[Any]], *, ops: int, max_seconds: float,
    reset: Callable[[Any], Awaitable[None]] | None = None,
) -> Result:
    """Latencies of `op`, awaited one at a time; `reset(result)` runs untimed after each.

    Stops after `ops` operations or `max_seconds`, whichever comes first.
    """
    for _ in range(min(WARM_UP_OPS, ops)):
        result = await op()
        if reset is not None:
            await reset(result)
    latencies: list[float] = []
    deadline = time.perf_counter() + max_seconds
    for _ in range(ops):
        started = time.perf_counter()
        result = await op()
        latencies.append(time.perf_counter() - started)
        if reset is not None:
            await reset(result)
        if time.perf_counter() > deadline:
            break
    return Result(name, len(latencies), percentile(latencies, 0.50) * 1e6, percentile(latencies, 0.99) * 1e6)
