"""Benchmark: cost of one anti-abuse decision against baselines measured in the same run.

Claim checked: a full decision (one atomic Lua script: three sliding windows, repeat/occupation/
harassment counts, measure, two audit XADDs) costs a small multiple of the cheapest possible Redis
round trip, and is in the same league as the `limits` library's moving window (which does much
less: one window, no measure, no audit).

    python3 bench/bench_abuse_limiter.py [--ops 2000] [--concurrency 16] [--callers 200]

Compared, each on the same Redis, same event loop, same client settings:
  * plain   : `INCR` on one key (a single-command loop: the floor of a round trip);
  * limits  : `limits` MovingWindowRateLimiter.hit (redis-py implementation), if installed;
  * decide  : `AbuseScreen.decide` for `--callers` distinct numbers in rotation.
Reports p50/p99 latency of sequential calls, throughput with `--concurrency` in flight, and the
ratios decide/plain and decide/limits. Bounded in count and in time (each phase stops after
`--max-seconds`); only a loopback Redis is accepted; every key it wrote is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis

from abuse.limiter import AbuseScreen
from abuse.policy_file import load_abuse_policy
from bench.redis_timing import Result, refuse_remote_redis, time_one_at_a_time


async def measure(
    name: str, op: Callable[[int], Awaitable[object]], *, ops: int, concurrency: int, max_seconds: float
) -> Result:
    """p50/p99 of `op` one at a time, then its throughput with `concurrency` workers."""
    counter = itertools.count()
    result = await time_one_at_a_time(name, lambda: op(next(counter)), ops=ops, max_seconds=max_seconds)
    done = 0
    phase_deadline = time.perf_counter() + max_seconds

    async def worker(offset: int) -> None:
        nonlocal done
        i = offset
        while i < ops and time.perf_counter() < phase_deadline:
            await op(i)
            done += 1
            i += concurrency

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for w in range(concurrency):
            group.create_task(worker(w))
    elapsed = time.perf_counter() - started
    result.throughput = done / elapsed if elapsed else 0.0
    return result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=os.environ.get("HOTLINE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    args = parser.parse_args()
    if refuse_remote_redis(args.redis_url):
        return 2
    ops = max(100, min(args.ops, 20_000))
    concurrency = max(1, min(args.concurrency, 64))
    prefix = f"hotline-bench-{uuid.uuid4().hex[:8]}:"
    client = aioredis.from_url(args.redis_url, socket_timeout=5, socket_connect_timeout=2)
    await client.ping()
    results: list[Result] = []
    limits_storage = None
    try:
        results.append(await measure(
            "plain INCR", lambda i: client.incr(f"{prefix}plain"),
            ops=ops, concurrency=concurrency, max_seconds=args.max_seconds,
        ))

        try:
            from limits import RateLimitItemPerDay
            from limits.aio.storage import RedisStorage
            from limits.aio.strategies import MovingWindowRateLimiter
        except ImportError:
            print("note: `limits` is not installed (pip install limits); skipping that comparison")
        else:
            limits_storage = RedisStorage(
                "async+" + args.redis_url, implementation="redispy", key_prefix=f"{prefix}limits"
            )
            limiter = MovingWindowRateLimiter(limits_storage)
            # Large enough never to reject, so every hit records an entry like a decision does.
            item = RateLimitItemPerDay(1_000_000)
            results.append(await measure(
                "limits moving window", lambda i: limiter.hit(item, f"c{i % args.callers}"),
                ops=ops, concurrency=concurrency, max_seconds=args.max_seconds,
            ))

        # Loose thresholds so rotating callers exercise the common path (allow/warn) like real
        # traffic; the script does the same work whatever level comes out.
        screen = AbuseScreen(client, load_abuse_policy(), key_prefix=prefix, decision_timeout=5.0)
        numbers = [f"138{n:08d}" for n in range(args.callers)]
        results.append(await measure(
            "AbuseScreen.decide", lambda i: screen.decide(numbers[i % len(numbers)]),
            ops=ops, concurrency=concurrency, max_seconds=args.max_seconds,
        ))
        if screen.stats.fail_open or screen.stats.divergences:
            print(f"warning: {screen.stats}")
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start:start + 500])
        await client.aclose()

    print(f"Redis {args.redis_url}  ops={ops} concurrency={concurrency} callers={args.callers}")
    print(f"{'what':<22}{'n':>7}{'p50 us':>10}{'p99 us':>10}{'ops/s':>11}")
    for r in results:
        print(f"{r.name:<22}{r.ops:>7}{r.p50_us:>10.0f}{r.p99_us:>10.0f}{r.throughput:>11.0f}")
    by_name = {r.name: r for r in results}
    decide = by_name["AbuseScreen.decide"]
    for base in ("plain INCR", "limits moving window"):
        if base in by_name:
            b = by_name[base]
            print(
                f"decide / {base}: p50 x{decide.p50_us / b.p50_us:.2f}  p99 x{decide.p99_us / b.p99_us:.2f}  "
                f"throughput x{decide.throughput / b.throughput:.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
