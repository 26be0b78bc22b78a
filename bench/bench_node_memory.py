"""Node memory over many calls: resident memory after the first 10 calls vs after N (issue 14).

Issue 14's acceptance: memory after 1,000 calls within 10 % of memory after the first 10. A
warm pool (model, warm recognizers, connection pools) is fine but must plateau; per-call
leftovers grow without bound. This places short calls with speech through a real `hotline run`
(live ASR when a model is installed) in waves of `--wave` concurrent calls: first 10 calls,
then N - 10 more; after each phase it waits until every call is recorded and ticketed and the
post-call backlog is done, lets the node settle, and reads its RSS (and the post-call decoder
child's, which exits when idle); then it waits until the node is at rest (the ASR keeper has
retired the recognizers that decoded speech: asr/recognizers.py) and reads it again. The
comparison is at rest, after the first 10 calls and after N.

Default: --calls 200 --wave 10 --hold 3 (a few minutes). Issue 14: --calls 1000.
Only 127.0.0.1 is used; every SIPp run is bounded by -m and a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_node_capacity import default_model, health, node_env, place, rss_mb, wait_for_rows
from devtools.sandbox import AsteriskSandbox, ensure_rootfs, free_tcp_port
from tests.asterisk_harness import BridgeProcess

FIRST = 10
LIMIT = 1.10


async def drained(port: int, spool: Path, timeout: float) -> float:
    """Wait until no post-call work is pending (in memory or on disk); returns seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        asr = (await health(port, 1.0)).get("asr") or {}
        if not asr.get("post_call_pending") and not list(spool.glob("*.pending.json")):
            break
        await asyncio.sleep(1.0)
    return time.monotonic() - started


async def at_rest(port: int, timeout: float) -> float:
    """Wait until the ASR recognizers are back at rest (the keeper retired every one that decoded
    speech and refilled the warm ones: asr/recognizers.py); returns seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        asr = (await health(port, 1.0)).get("asr") or {}
        if "capacity" not in asr or (not asr.get("used_recognizers")
                                     and asr.get("warm_recognizers", 0) >= asr["capacity"]):
            break
        await asyncio.sleep(1.0)
    return time.monotonic() - started


async def phase(sandbox: AsteriskSandbox, bridge: BridgeProcess, url: str, spool: Path, calls: int,
                wave: int, rate: float, hold_ms: int, totals: list[int], rest_timeout: float) -> tuple[float, int, int]:
    assert bridge.process is not None
    result = await place(sandbox, "12345", calls, rate, hold_ms, "13800000000", limit=wave)
    expected = (totals[0] + calls, totals[1] + calls)
    rows = await wait_for_rows(url, expected, timeout=60 + calls * 0.2)
    totals[0], totals[1] = rows
    waited = await drained(bridge.http_port, spool, timeout=600)
    await asyncio.sleep(5)
    child = ((await health(bridge.http_port, 1.0)).get("asr") or {}).get("post_call_process")
    busy = rss_mb(bridge.process.pid)
    rested = await at_rest(bridge.http_port, rest_timeout)
    now = rss_mb(bridge.process.pid)
    print(f"  {calls} calls: SIPp failures {result.failed}, records/tickets so far {rows[0]}/{rows[1]}, "
          f"post-call drained after {waited:.0f} s; backend RSS {busy:.0f} MB when the calls ended, "
          f"{now:.0f} MB at rest ({rested:.0f} s later); "
          f"post-call child {rss_mb(child) if child else 0:.0f} MB (exits when idle)", flush=True)
    return now, result.failed, rows[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls in total (N)")
    parser.add_argument("--wave", type=int, default=10, help="concurrent calls")
    parser.add_argument("--rate", type=float, default=10.0, help="calls placed per second")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds each call speaks")
    parser.add_argument("--every", type=int, default=0, help="print RSS after every this many calls")
    parser.add_argument("--no-asr", action="store_true")
    parser.add_argument("--rest-seconds", type=float, default=None,
                        help="asr.recognizer_rest_seconds of the node (default: the node's, 60 s)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra backend setting, e.g. HOTLINE_ASR_POST_CALL_PROCESS=false")
    args = parser.parse_args()
    model = None if args.no_asr else default_model()
    hold_ms = int(args.hold * 1000)
    sandbox = AsteriskSandbox(ensure_rootfs(), rtp_ports=max(200, 4 * args.wave + 100))
    sandbox.start()
    bridge: BridgeProcess | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/memory.sqlite3"
            port = free_tcp_port()
            spool = Path(tmp) / "asr-spool"
            extra = args.env + ([f"HOTLINE_ASR_RECOGNIZER_REST_SECONDS={args.rest_seconds}"]
                                if args.rest_seconds is not None else [])
            env = node_env(sandbox, tmp, url, port, "memory", model, args.wave * 4, extra)
            rest_timeout = (args.rest_seconds or 60.0) + 60.0
            bridge = BridgeProcess(env=env, http_port=port, log_path=Path(tmp) / "bridge.log")
            await bridge.start(timeout=120)
            assert bridge.process is not None
            await at_rest(bridge.http_port, 120)  # the warm recognizers are ready
            await asyncio.sleep(2)
            rest = rss_mb(bridge.process.pid)
            print(f"backend pid {bridge.process.pid}, ASR model: {model or 'none'}; RSS at rest {rest:.0f} MB; "
                  f"{args.calls} calls of {args.hold:.0f} s, {args.wave} at a time", flush=True)
            totals = [0, 0]
            first, failed_first, _ = await phase(sandbox, bridge, url, spool, FIRST, args.wave, args.rate,
                                                 hold_ms, totals, rest_timeout)
            # In slices of --every calls, so the curve shows a plateau (a warm pool) or a slope.
            left, failed_rest, last = args.calls - FIRST, 0, first
            while left > 0:
                size = min(left, args.every or left)
                last, failed, _ = await phase(sandbox, bridge, url, spool, size, args.wave, args.rate,
                                              hold_ms, totals, rest_timeout)
                failed_rest += failed
                left -= size
            ratio = last / first if first else float("inf")
            good = ratio <= LIMIT and failed_first + failed_rest == 0 and totals == [args.calls, args.calls]
            print(f"RSS at rest {rest:.0f} MB, after {FIRST} calls {first:.0f} MB, after {args.calls} calls "
                  f"{last:.0f} MB ({ratio:.3f}x the first {FIRST}; limit {LIMIT:.2f}x) | "
                  f"records/tickets {totals[0]}/{totals[1]} | {'ok' if good else 'OVER'}")
    finally:
        if bridge is not None:
            bridge.stop()
        sandbox.remove()


if __name__ == "__main__":
    asyncio.run(main())
