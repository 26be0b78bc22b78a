"""SIGTERM during N live calls with speech and live ASR (issue 14's stop acceptance, default 50).

A real `hotline run` (SQLite, Redis, live ASR when a model is installed) takes N SIPp calls that
speak for `--hold` seconds; once all are set up and have spoken a while, it gets SIGTERM. Printed:
the time the process took to exit (measured here, and its own logged `stop_seconds` against
`call_flow.stop_timeout_seconds`), the calls it handed over, the post-call records it left on
disk; then a next process starts with the same settings and the bench checks that every SIPp
call completed, every call has exactly one record and one ticket, and the post-call backlog
the first process left was transcribed by the next one (records gone, post-call segments
stored for those calls).

The test suite checks the same with 6 calls (tests/integration/test_node_stop_and_capacity.py);
this is the full-size run. Only 127.0.0.1 is used; SIPp is bounded by -m and a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_node_capacity import default_model, node_env, place, wait_for_rows
from bench.bench_node_memory import drained
from devtools.sandbox import AsteriskSandbox, ensure_rootfs, free_tcp_port
from kernel.schema import calls, tickets, transcript_segments
from tests.asterisk_harness import BridgeProcess
from tests.integration.test_backend_away import _wait_until_set_up
from tests.integration.test_node_stop_and_capacity import _logged

STOP_TIMEOUT = 10.0


async def check_rows(url: str, left: list[str]) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            records = await conn.scalar(select(func.count()).select_from(calls))
            channels = await conn.scalar(select(func.count(func.distinct(calls.c.channel_id))))
            ticket_calls = await conn.scalar(select(func.count(func.distinct(tickets.c.call_id))))
            ticket_rows = await conn.scalar(select(func.count()).select_from(tickets))
            post_call = await conn.scalar(
                select(func.count(func.distinct(transcript_segments.c.call_id)))
                .where(transcript_segments.c.call_id.in_(left))
                .where(transcript_segments.c.source == "post_call")) if left else 0
        return {"records": int(records or 0), "channels": int(channels or 0),
                "tickets": int(ticket_rows or 0), "ticketed_calls": int(ticket_calls or 0),
                "left_calls_with_post_call_text": int(post_call or 0)}
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--hold", type=float, default=40.0, help="seconds each call speaks")
    parser.add_argument("--speak-before-stop", type=float, default=8.0,
                        help="seconds of speech after the last call is set up, before SIGTERM")
    parser.add_argument("--ended-before", type=int, default=20,
                        help="short calls placed and ended first, so a post-call backlog exists at the stop")
    parser.add_argument("--no-asr", action="store_true")
    args = parser.parse_args()
    model = None if args.no_asr else default_model()
    sandbox = AsteriskSandbox(ensure_rootfs(), rtp_ports=max(200, 4 * args.calls + 100))
    sandbox.start()
    bridge: BridgeProcess | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/stop.sqlite3"
            port = free_tcp_port()
            prefix = f"hotline-stop-{uuid.uuid4().hex[:8]}:"
            spool = Path(tmp) / "asr-spool"
            env = node_env(sandbox, tmp, url, port, "stop", model, args.calls * 2,
                           [f"HOTLINE_CALL_FLOW_STOP_TIMEOUT_SECONDS={STOP_TIMEOUT}"], prefix=prefix)
            bridge = BridgeProcess(env=env, http_port=port, log_path=Path(tmp) / "bridge.log")
            await bridge.start(timeout=120)
            assert bridge.process is not None
            print(f"backend pid {bridge.process.pid}, ASR model: {model or 'none'}; {args.ended_before} "
                  f"calls of 6 s first, then {args.calls} calls of {args.hold:.0f} s; "
                  f"SIGTERM {args.speak_before_stop:.0f} s after all are up", flush=True)
            short = await place(sandbox, "12345", args.ended_before, args.rate, 6000, "13700000000") \
                if args.ended_before else None
            sipp = asyncio.create_task(place(sandbox, "12345", args.calls, args.rate,
                                             int(args.hold * 1000), "13800000000"))
            await _wait_until_set_up(prefix, args.calls, timeout=60 + args.calls / args.rate)
            await asyncio.sleep(args.speak_before_stop)

            started = time.monotonic()
            bridge.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(bridge.process.wait, 120)
            exit_seconds = time.monotonic() - started
            log_text = bridge.log_path.read_text(errors="replace")
            stopped = _logged(log_text, "hotline backend stopped")
            handed = _logged(log_text, "live calls handed over to the next owner")
            left = sorted(p.name.removesuffix(".pending.json") for p in spool.glob("*.pending.json"))
            spools_left = len(list(spool.glob("*.wav")))
            own = stopped[0].get("stop_seconds") if stopped else None
            print(f"SIGTERM -> exit {code} after {exit_seconds:.2f} s (own measure {own} s, bound "
                  f"{STOP_TIMEOUT:.0f} s) | handed over {handed[0]['calls'] if handed else 0} calls | "
                  f"post-call records left on disk: {len(left)} ({spools_left} spool files) | "
                  f"SIPp calls still up: {not sipp.done()}",
                  flush=True)

            await bridge.start(timeout=120)
            result = await sipp
            total = args.calls + args.ended_before
            rows = await wait_for_rows(url, (total, total), timeout=120)
            waited = await drained(bridge.http_port, spool, timeout=900)
            counts = await check_rows(url, left)
            failed = result.failed + (short.failed if short else 0)
            good = (code == 0 and exit_seconds <= STOP_TIMEOUT and failed == 0
                    and counts["records"] == counts["channels"] == total
                    and counts["tickets"] == counts["ticketed_calls"] == total
                    and counts["left_calls_with_post_call_text"] == len(left)
                    and not list(spool.glob("*.pending.json")))
            await asyncio.sleep(3)
            print(f"next process: SIPp failures {failed}/{total} | rows {rows} | {counts} | "
                  f"spool files left {len(list(spool.glob('*.wav')))} | "
                  f"backlog left by the stopped process transcribed within {waited:.0f} s | "
                  f"{'ok' if good else 'OVER'}")
    finally:
        if bridge is not None:
            bridge.stop()
        sandbox.remove()


if __name__ == "__main__":
    asyncio.run(main())
