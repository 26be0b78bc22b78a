"""Desk fan-out: 500 agents' desk websockets on one node, event latency p50/p99.

The desk server (the real `agent_desk` plugin with its hub and the real ACD store on Redis)
runs in a child process, as on a node; this process opens the websockets, signs every agent
in, then publishes events to the agents' topics through Redis (as the call path does) and
measures publish -> browser-socket latency. Baseline, in the same run: the same publishes
received by one plain Redis pattern subscriber (no hub, no websocket).

    .venv/bin/python bench/bench_desk.py [--desks 500] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = b"bench-desk-secret-key-0123456789"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the server (child process) ---------------------------------------------------------------

class BenchBackend:
    """The desk's port over the real ACD store (no telephony: only desks are measured)."""

    def __init__(self, acd: Any) -> None:
        self.acd = acd

    async def sign_in(self, agent_id: str) -> dict[str, Any]:
        from hotline.desk_backend import agent_json

        return agent_json(await self.acd.sign_in(agent_id))

    async def agent_view(self, agent_id: str) -> dict[str, Any]:
        return {}

    async def set_status(self, agent_id: str, status: str, reason: str | None) -> dict[str, Any]:
        return {}

    async def softphone(self, agent_id: str) -> dict[str, Any]:
        return {}

    async def current_call(self, agent_id: str) -> dict[str, Any] | None:
        return None

    async def hangup(self, agent_id: str, call_id: str) -> None: ...

    async def hold(self, agent_id: str, call_id: str, on: bool) -> None: ...

    async def wrap_up(self, agent_id: str, call_id: str, *, no_new_content: bool,
                      harassment: bool, note: str) -> dict[str, Any]:
        return {}

    async def softphone_ended(self, agent_id: str) -> None: ...

    async def desk_closed(self, agent_id: str) -> None: ...


def serve(port: int, prefix: str) -> None:
    from aiohttp import web

    from agent_desk.plugin import DeskDeps, install
    from call_queue.acd import AcdStore
    from kernel.auth import TOKEN_SIGNER, TokenSigner
    from kernel.http_edge import new_app

    async def build() -> web.Application:
        redis = aioredis.from_url(REDIS_URL)
        feed = aioredis.from_url(REDIS_URL)
        app = new_app()
        app[TOKEN_SIGNER] = TokenSigner(SECRET)
        install(app, DeskDeps(feed, prefix, backend=BenchBackend(AcdStore(redis, prefix))))
        return app

    web.run_app(build(), host="127.0.0.1", port=port, print=None)


# --- the clients (this process) ---------------------------------------------------------------

async def wait_for_server(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/api/desk/protocol"):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise SystemExit("desk server did not start")


async def run(desks: int, rounds: int, rate: int) -> None:
    from kernel.auth import Principal, TokenSigner

    prefix = f"bench-desk-{uuid.uuid4().hex[:8]}:"
    port = 20000 + os.getpid() % 20000
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), prefix])  # noqa: ASYNC220
    redis = aioredis.from_url(REDIS_URL)
    try:
        await wait_for_server(port)
        signer = TokenSigner(SECRET)
        latencies: list[float] = []
        received = asyncio.Event()
        expected = desks * rounds
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            sockets = []
            for i in range(desks):
                token = signer.issue(Principal(user=f"b{i}", role="agent"), hours=1)
                ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws/desk",
                                              headers={"Authorization": f"Bearer {token}"})
                ready = await ws.receive_json()
                assert ready["type"] == "desk.ready", ready
                sockets.append(ws)

            async def reader(ws: aiohttp.ClientWebSocketResponse) -> None:
                async for message in ws:
                    data = json.loads(message.data)
                    if data.get("type") == "bench.ping":
                        latencies.append(time.time() - data["sent"])
                        if len(latencies) >= expected:
                            received.set()

            readers = [asyncio.create_task(reader(ws)) for ws in sockets]

            # Baseline: one plain pattern subscriber on the same publishes.
            baseline: list[float] = []
            pubsub = redis.pubsub()
            await pubsub.psubscribe(f"{prefix}events:agent:*")

            async def base_reader() -> None:
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        baseline.append(time.time() - json.loads(message["data"])["sent"])

            base = asyncio.create_task(base_reader())
            await asyncio.sleep(0.5)
            started = time.perf_counter()
            # Paced at `rate` events a second in 10 ms ticks, spread over all desks (a busy
            # floor: offers, answers, status changes and transcript lines of 500 agents).
            per_tick = max(1, rate // 100)
            sent = 0
            tick = time.perf_counter()
            while sent < expected:
                async with redis.pipeline(transaction=False) as pipe:
                    for _ in range(min(per_tick, expected - sent)):
                        pipe.publish(f"{prefix}events:agent:b{sent % desks}", json.dumps(
                            {"type": "bench.ping", "sent": time.time()}))
                        sent += 1
                    await pipe.execute()
                tick += 0.01
                await asyncio.sleep(max(0.0, tick - time.perf_counter()))
            await asyncio.wait_for(received.wait(), 60)
            elapsed = time.perf_counter() - started
            base.cancel()
            for task in readers:
                task.cancel()
            for ws in sockets:
                await ws.close()
            await pubsub.aclose()

        ms = [v * 1000 for v in latencies]
        base_ms = [v * 1000 for v in baseline]
        print(f"desks: {desks}, events delivered: {len(ms)} in {elapsed:.2f} s "
              f"({len(ms) / elapsed:.0f}/s, paced at {rate}/s)")
        print(f"desk fan-out latency   p50 {quantile(ms, 0.5):7.2f} ms  p99 {quantile(ms, 0.99):7.2f} ms"
              f"  max {max(ms):7.2f} ms  (goal p99 <= 50 ms)")
        print(f"baseline plain pub/sub p50 {quantile(base_ms, 0.5):7.2f} ms  "
              f"p99 {quantile(base_ms, 0.99):7.2f} ms  (one subscriber, same publishes)")
        print(f"ratio desk/baseline    p50 x{quantile(ms, 0.5) / quantile(base_ms, 0.5):.2f}  "
              f"p99 x{quantile(ms, 0.99) / quantile(base_ms, 0.99):.2f}; mean {statistics.fmean(ms):.2f} ms")
    finally:
        server.terminate()
        server.wait(10)
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--desks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20, help="events per desk")
    parser.add_argument("--rate", type=int, default=2000, help="events a second, all desks together")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
    else:
        asyncio.run(run(args.desks, args.rounds, args.rate))


if __name__ == "__main__":
    main()
