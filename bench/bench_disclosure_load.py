"""The public monthly disclosure under a crowd, against a live call's answer (issue 25).

The disclosure (`GET /api/disclosure/{month}.json`) needs no credential, so anyone can ask for it
as often as they like, on the same event loop that answers calls. It is computed once per ended
month and then served from memory (tickets/disclosure.py), and public routes are limited per
client address (`[http] public_requests_per_minute`). This bench shows what a crowd of such
requests costs a caller.

One backend (`hotline run`, SQLite) on the project's Asterisk sandbox; the previous month holds
`--tickets` tickets that went the whole way to a satisfied callback (written through
`TicketStore` with the clock in that month, so the disclosure has real rows). Then three phases of
`--calls` sequential SIPp calls to 12345 each:

1. quiet: no other requests;
2. crowd: bursts of `--concurrency` (200) concurrent disclosure requests, one burst after the
   other for the whole phase;
3. quiet again: the noise of the measurement itself (phase 3 against phase 1).

Measured per phase: the backend's answer delay (`hotline_call_answer_delay_seconds`: the call's
arrival in Asterisk to the backend answering it, mean from the histogram's sum and count over the
phase), SIPp's INVITE -> 200 OK, and the event loop's lag p99 and max at the phase's end. The rate
limit is raised for the run (`--per-client-limit`, default 100000) so every request is served: the
worst case, where the crowd comes from many addresses. With the shipped limit (60 a minute)
nearly all of them get a 429 instead, which is cheaper still.

Printed: the figures of each phase, crowd / quiet ratios, and the noise (quiet again / quiet).
Timings are printed, never asserted.

    .venv/bin/python bench/bench_disclosure_load.py [--calls 20] [--concurrency 200] [--tickets 200]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_call_setup import parse_average_ms
from bench.bench_tickets import lifecycle
from devtools.sandbox import AsteriskSandbox, ensure_rootfs, free_tcp_port
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from kernel.database import create_engine
from tests.asterisk_harness import BridgeProcess, bridge_env
from tickets.store import TicketStore

ANSWER_SUM = re.compile(r"^hotline_call_answer_delay_seconds_sum\s+(\S+)$", re.MULTILINE)
ANSWER_COUNT = re.compile(r"^hotline_call_answer_delay_seconds_count\s+(\S+)$", re.MULTILINE)
LAG_WINDOW_SECONDS = 61.0
LOOP_LAG = re.compile(r'^hotline_event_loop_lag_ms\{quantile="([^"]+)"\}\s+(\S+)$', re.MULTILINE)


@dataclass(frozen=True)
class Phase:
    name: str
    answer_ms: float
    invite_ok_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    requests: Counter[int]


def previous_month(now: datetime) -> datetime:
    """Noon on the 10th of the month before `now`'s (a working day is not needed: tickets are
    written directly)."""
    first = now.replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).replace(day=10)


async def seed_month(database_url: str, at: datetime, tickets: int) -> str:
    """`tickets` tickets through their whole lifecycle with the clock at `at`; the month's key."""
    engine = create_engine(database_url)
    try:
        store = TicketStore(engine, "D01", clock=lambda: at)
        for index in range(tickets):
            await lifecycle(store, 70_000_000 + index, None)
    finally:
        await engine.dispose()
    return at.strftime("%Y-%m")


async def scrape(session: aiohttp.ClientSession, base: str) -> tuple[float, float, dict[str, float]]:
    async with session.get(f"{base}/metrics") as response:
        text = await response.text()
    total = float(ANSWER_SUM.search(text).group(1))  # type: ignore[union-attr]
    count = float(ANSWER_COUNT.search(text).group(1))  # type: ignore[union-attr]
    return total, count, {quantile: float(value) for quantile, value in LOOP_LAG.findall(text)}


async def place_calls(sandbox: AsteriskSandbox, calls: int) -> float:
    wav = sandbox.write_sipp_file("disclosure-audio.wav", caller_audio_wav(seconds=1.0))
    scenario = sandbox.write_sipp_file(f"disclosure-{uuid.uuid4().hex[:6]}.xml",
                                       speech_call_scenario(wav, hold_ms=500, loops=-1))
    code, out = await sandbox.run_sipp("-sf", scenario, "-s", "12345", "-m", str(calls), "-l", "1",
                                       "-set", "caller", "13800000000", timeout=60 + calls * 5)
    if code != 0:
        raise RuntimeError(f"SIPp failed ({code}): {out[-800:]}")
    return parse_average_ms(out)


async def crowd(session: aiohttp.ClientSession, url: str, concurrency: int, stop: asyncio.Event,
                statuses: Counter[int]) -> None:
    async def one() -> None:
        try:
            async with session.get(url) as response:
                await response.read()
                statuses[response.status] += 1
        except aiohttp.ClientError:
            statuses[0] += 1

    while not stop.is_set():
        await asyncio.gather(*(one() for _ in range(concurrency)))


async def phase(name: str, sandbox: AsteriskSandbox, session: aiohttp.ClientSession, base: str,
                calls: int, crowd_url: str | None, concurrency: int, settle: float) -> Phase:
    await asyncio.sleep(settle)  # the previous phase's calls finish and their tasks settle
    total0, count0, _ = await scrape(session, base)
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()
    load = (asyncio.create_task(crowd(session, crowd_url, concurrency, stop, statuses))
            if crowd_url is not None else None)
    started = time.monotonic()
    try:
        invite_ok = await place_calls(sandbox, calls)
    finally:
        stop.set()
        if load is not None:
            await load
    total1, count1, lag = await scrape(session, base)
    answered = count1 - count0
    if answered < calls:
        raise RuntimeError(f"{name}: {answered:.0f} of {calls} calls answered by the backend")
    print(f"  {name}: {calls} calls in {time.monotonic() - started:.1f} s", flush=True)
    return Phase(name, (total1 - total0) / answered * 1000.0, invite_ok,
                 lag.get("0.99", 0.0), lag.get("1", 0.0), statuses)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def report(phases: list[Phase], concurrency: int) -> None:
    quiet, loaded, again = phases
    print()
    print(f"{'phase':<14}{'answer delay':>14}{'INVITE->200':>13}{'lag p99':>10}{'lag max':>10}  requests")
    for p in phases:
        served = ", ".join(f"{status or 'error'}: {n}" for status, n in sorted(p.requests.items())) or "-"
        print(f"{p.name:<14}{p.answer_ms:>11.1f} ms{p.invite_ok_ms:>10.1f} ms{p.lag_p99_ms:>7.1f} ms"
              f"{p.lag_max_ms:>7.1f} ms  {served}")
    print()
    print(f"answer delay, crowd of {concurrency} / quiet:   {ratio(loaded.answer_ms, quiet.answer_ms)}")
    print(f"answer delay, quiet again / quiet (noise): {ratio(again.answer_ms, quiet.answer_ms)}")
    print(f"INVITE->200 OK, crowd / quiet:            {ratio(loaded.invite_ok_ms, quiet.invite_ok_ms)}")
    baseline = max(quiet.answer_ms, again.answer_ms)
    spread = abs(again.answer_ms - quiet.answer_ms)
    verdict = "within" if loaded.answer_ms <= baseline + spread else "beyond"
    print(f"crowd's answer delay is {verdict} the noise of the quiet phases "
          f"({loaded.answer_ms:.1f} ms against {min(quiet.answer_ms, again.answer_ms):.1f}-"
          f"{baseline:.1f} ms, spread {spread:.1f} ms)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--per-client-limit", type=int, default=100_000)
    args = parser.parse_args()
    sandbox = AsteriskSandbox(ensure_rootfs())
    sandbox.start()
    bridge: BridgeProcess | None = None
    phases: list[Phase] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
            port = free_tcp_port()
            env = bridge_env(sandbox, url, f"hotline-bench-{uuid.uuid4().hex[:8]}:", port)
            env["HOTLINE_HTTP_PUBLIC_REQUESTS_PER_MINUTE"] = str(args.per_client_limit)
            bridge = BridgeProcess(env=env, http_port=port, log_path=Path(tmp) / "bridge.log")
            await bridge.start()  # runs the migrations
            month = await seed_month(url, previous_month(datetime.now(UTC)), args.tickets)
            base = f"http://127.0.0.1:{port}"
            crowd_url = f"{base}/api/disclosure/{month}.json"
            connector = aiohttp.TCPConnector(limit=args.concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                async with session.get(crowd_url) as first:  # computed once, then kept
                    body = await first.json()
                    if first.status != 200:
                        raise RuntimeError(f"disclosure of {month}: {first.status} {body}")
                print(f"disclosure of {month}: {len(body['units'])} unit rows from {args.tickets} tickets", flush=True)
                await place_calls(sandbox, 3)  # warm-up: prompts cached, connections open
                # The loop-lag figures cover the last 60 s (kernel/loop_lag.py): the phase after
                # the crowd starts once the crowd's lag is out of that window.
                for name, url_or_none, settle in (("quiet", None, 2.0), ("crowd", crowd_url, 2.0),
                                                  ("quiet again", None, LAG_WINDOW_SECONDS)):
                    phases.append(await phase(name, sandbox, session, base, args.calls,
                                              url_or_none, args.concurrency, settle))
    finally:
        if bridge is not None:
            bridge.stop()
        sandbox.remove()
    report(phases, args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
