"""Benchmark: latency of claiming an offer against a Redis round trip measured in the same run.

Claim checked: `AcdStore.claim_next_offer` (one atomic Lua script that reads the free agents and
the waiting calls, applies the queue policy and marks both sides) costs a small multiple of the
cheapest Redis round trip, with 50 available agents and 200 waiting calls.

    python3 bench/bench_acd.py [--ops 2000] [--agents 50] [--calls 200]

Compared, sequentially on the same Redis, event loop and client:
  * baseline  : EVALSHA of a trivial script (`return 1`): the same number of round trips (one)
                as a claim, doing no work;
  * claim     : `claim_next_offer` with `--agents` available agents and `--calls` general calls
                waiting; after each timed claim the offer is withdrawn (the caller "hangs up",
                untimed) and a new caller joins the end, so every claim sees the same sizes;
  * claim, worst case : as above, but `--calls` senior calls wait ahead of one general call and
                no agent is senior, so the script walks every call and every agent before it
                finds the pair.
Reports p50/p99 and the ratios to the baseline. Only a loopback Redis is accepted; every key it
wrote is deleted at the end. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis

from bench.redis_timing import Result, refuse_remote_redis, time_one_at_a_time
from call_queue.acd import AcdStore
from call_queue.agent_state import Skill
from call_queue.queue_policy import Offer, Queue


async def claim_scenario(
    client: aioredis.Redis, prefix: str, *, agents: int, calls: int, senior_ahead: bool,
    ops: int, max_seconds: float, name: str,
) -> Result:
    store = AcdStore(client, prefix)
    for i in range(agents):
        await store.sign_in(f"agent{i:03}", [Skill.GENERAL])
    numbers = itertools.count()
    if senior_ahead:
        for _ in range(calls):
            await store.enqueue(f"senior{next(numbers)}", Queue.SENIOR)
        await store.enqueue(f"call{next(numbers)}", Queue.GENERAL)
    else:
        for _ in range(calls):
            await store.enqueue(f"call{next(numbers)}", Queue.GENERAL)

    async def claim() -> Offer:
        offer = await store.claim_next_offer()
        if offer is None:
            raise RuntimeError("the benchmark state ran dry: nothing to offer")
        return offer

    async def reset(offer: Offer) -> None:
        await store.dequeue(offer.call_id)
        await store.enqueue(f"call{next(numbers)}", Queue.GENERAL)

    result = await time_one_at_a_time(name, claim, reset=reset, ops=ops, max_seconds=max_seconds)
    free = sum(a.status.value == "available" for a in await store.agents())
    waiting = len(await store.queued())
    expected_waiting = calls + 1 if senior_ahead else calls
    if (free, waiting) != (agents, expected_waiting):
        raise RuntimeError(f"benchmark state drifted: {free} free agents, {waiting} waiting calls")
    return result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=os.environ.get("HOTLINE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    args = parser.parse_args()
    if refuse_remote_redis(args.redis_url):
        return 2
    ops = max(100, min(args.ops, 20_000))
    agents = max(1, min(args.agents, 1000))
    calls = max(1, min(args.calls, 5000))
    prefix = f"hotline-bench-{uuid.uuid4().hex[:8]}:"
    client = aioredis.from_url(args.redis_url, socket_timeout=5, socket_connect_timeout=2)
    await client.ping()
    results: list[Result] = []
    try:
        trivial = client.register_script("return 1")

        results.append(await time_one_at_a_time("baseline EVALSHA", lambda: trivial(keys=[], args=[]),
                                                ops=ops, max_seconds=args.max_seconds))
        results.append(await claim_scenario(
            client, f"{prefix}typical:", agents=agents, calls=calls, senior_ahead=False,
            ops=ops, max_seconds=args.max_seconds, name="claim_next_offer",
        ))
        results.append(await claim_scenario(
            client, f"{prefix}worst:", agents=agents, calls=calls, senior_ahead=True,
            ops=ops, max_seconds=args.max_seconds, name="claim, worst case",
        ))
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start:start + 500])
        await client.aclose()

    print(f"Redis {args.redis_url}  ops={ops} agents={agents} calls={calls}")
    print(f"{'what':<22}{'n':>7}{'p50 us':>10}{'p99 us':>10}")
    for r in results:
        print(f"{r.name:<22}{r.ops:>7}{r.p50_us:>10.0f}{r.p99_us:>10.0f}")
    base = results[0]
    for r in results[1:]:
        print(f"{r.name} / {base.name}: p50 x{r.p50_us / base.p50_us:.2f}  p99 x{r.p99_us / base.p99_us:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
