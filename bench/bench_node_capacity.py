"""Node capacity: concurrent calls with speech, ramped, through the backend vs the dialplan only.

Per step (N concurrent calls placed at R calls/s, each sending speech for H seconds), on the
same real Asterisk in the same run:
- baseline: extension 12398 answers, records (MixMonitor) and waits, all in the dialplan;
- measured: extension 12345 goes to the ARI application of a real `hotline run` process
  (SQLite, Redis, live ASR when a model is installed), which answers, bridges, records, taps the
  audio, screens, greets and, at hang-up, writes the call record and its ticket.
Printed per step: SIPp failures, calls recorded and ticketed by the backend, calls without a
recording and the largest gap between a recording's length and its call's talk time (answer to
hang-up), the shortest recording of each path less the seconds its caller spoke (SIPp's hold:
the dialplan's own MixMonitor beside ours, so a shortfall the machine causes shows on both),
answer delay (INVITE -> 200 OK) p50/p99 of both paths and their ratio, the backend's
event-loop lag p99 (its own monitor, `/health?lag_window=`), the slowest `/health` answer during
the step, and its resident memory at rest, during and after the step. The knee is the last step
with no failure, every call recorded and ticketed, every call with a recording within 0.2 s of
its talk time, loop lag p99 <= 100 ms, `/health` <= 250 ms and answer p99 <= 1.5x the
dialplan's (issues 14 and 26).

Default (a few minutes): steps 10,20,40 at 10 calls/s, 10 s calls.
Issue 14's full run: --steps 50,100,150,200,250,300 --rate 20 --hold 20
The machine may be shared: the figures are only comparable within one run (hence the baseline).
Only 127.0.0.1 is used; every SIPp run is bounded by -m and a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.sandbox import AsteriskSandbox, ensure_rootfs, free_tcp_port
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from kernel.loop_lag import percentile
from kernel.schema import calls, tickets
from telephony.recording_length import wav_seconds
from tests.asterisk_harness import BridgeProcess, bridge_env

BASELINE_EXTEN = "12398"
BASELINE_DIALPLAN = f"""
; bench_node_capacity: the dialplan-only path (answer, record, wait for the caller's BYE)
exten => {BASELINE_EXTEN},1,Answer()
 same => n,MixMonitor(bench-baseline-${{UNIQUEID}}.wav)
 same => n,Wait(3600)
 same => n,Hangup()
"""
FAILED = re.compile(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)")
SUCCESSFUL = re.compile(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)")
LAG_LIMIT_MS = 100.0
ANSWER_RATIO_LIMIT = 1.5
HEALTH_LIMIT_MS = 250.0
RECORDING_GAP_LIMIT_S = 0.2


@dataclass
class PathResult:
    placed: int
    succeeded: int
    failed: int
    answer_ms: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.answer_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.answer_ms, 0.99)


@dataclass
class StepResult:
    concurrent: int
    rate: float
    baseline: PathResult
    ours: PathResult
    recorded: int
    ticketed: int
    lag_p99_ms: float
    lag_max_ms: float
    rss_peak_mb: float
    rss_after_mb: float
    unrecorded: int
    recording_gap_s: float
    health_max_ms: float
    #: The shortest recording less the seconds the caller spoke (SIPp's hold), per path: the
    #: dialplan's own MixMonitor beside ours shows how much of a shortfall the machine causes.
    baseline_short_s: float = 0.0
    ours_short_s: float = 0.0

    @property
    def ratio_p50(self) -> float:
        return self.ours.p50 / self.baseline.p50 if self.baseline.p50 else float("inf")

    @property
    def ratio_p99(self) -> float:
        return self.ours.p99 / self.baseline.p99 if self.baseline.p99 else float("inf")

    @property
    def good(self) -> bool:
        return (self.ours.failed == 0 and self.ours.succeeded == self.concurrent
                and self.recorded == self.concurrent and self.ticketed == self.concurrent
                and self.unrecorded == 0 and abs(self.recording_gap_s) <= RECORDING_GAP_LIMIT_S
                and self.lag_p99_ms <= LAG_LIMIT_MS and self.health_max_ms <= HEALTH_LIMIT_MS
                and self.ratio_p99 <= ANSWER_RATIO_LIMIT)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def read_rtt(sipp_dir: Path, stem: str) -> list[float]:
    """Per-call INVITE -> 200 OK times SIPp wrote with -trace_rtt (ms)."""
    values: list[float] = []
    for path in sipp_dir.glob(f"{stem}_*_rtt.csv"):
        with path.open() as handle:
            for row in csv.reader(handle, delimiter=";"):
                if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                    values.append(float(row[1]))
    return values


async def place(sandbox: AsteriskSandbox, service: str, concurrent: int, rate: float,
                hold_ms: int, caller: str, *, limit: int | None = None) -> PathResult:
    """Place `concurrent` calls at `rate`; with `limit`, at most that many at a time (waves)."""
    wav = sandbox.write_sipp_file("capacity-audio.wav", caller_audio_wav(seconds=2.0))
    stem = f"capacity-{service}-{uuid.uuid4().hex[:6]}"
    scenario = sandbox.write_sipp_file(f"{stem}.xml",
                                       speech_call_scenario(wav, hold_ms=hold_ms, loops=-1))
    waves = concurrent / limit if limit else 1
    timeout = 60 + concurrent / rate + waves * (hold_ms / 1000 + 5) * 2
    code, out = await sandbox.run_sipp(
        "-sf", scenario, "-s", service, "-m", str(concurrent), "-l", str(limit or concurrent),
        "-r", str(rate), "-trace_rtt", "-rtt_freq", "1", "-recv_timeout", "30000",
        "-set", "caller", caller, timeout=timeout)
    failed = FAILED.findall(out)
    succeeded = SUCCESSFUL.findall(out)
    answer = read_rtt(sandbox.sipp_dir(), stem)
    return PathResult(placed=concurrent, succeeded=int(succeeded[-1]) if succeeded else 0,
                      failed=int(failed[-1]) if failed else (0 if code == 0 else concurrent),
                      answer_ms=answer)


async def count_rows(database_url: str) -> tuple[int, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            recorded = await conn.scalar(select(func.count()).select_from(calls))
            ticketed = await conn.scalar(select(func.count()).select_from(tickets))
        return int(recorded or 0), int(ticketed or 0)
    finally:
        await engine.dispose()


async def recording_coverage(database_url: str, since: datetime) -> tuple[int, float]:
    """(calls without a recording, the largest recording length - talk time in seconds, by its
    size: negative, a recording shorter than its call) of the calls that started at or after
    `since`."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(
                select(calls.c.answered_at, calls.c.ended_at, calls.c.recording_seconds)
                .where(calls.c.started_at >= since))).all()
    finally:
        await engine.dispose()
    unrecorded = sum(1 for row in rows if not row.recording_seconds)
    gaps = [row.recording_seconds - (row.ended_at - row.answered_at).total_seconds()
            for row in rows if row.recording_seconds and row.answered_at is not None]
    return unrecorded, max(gaps, key=abs, default=0.0)


def baseline_recordings(sandbox: AsteriskSandbox) -> set[Path]:
    return set(sandbox.instance_dir.rglob("bench-baseline-*.wav"))


async def shortest_against_hold(paths: Sequence[Path] | Sequence[float], hold_s: float) -> float:
    """The smallest (recording seconds - hold): how far the shortest recording falls short of
    what the caller said; waits a moment for Asterisk to close the files."""
    await asyncio.sleep(2.0)
    lengths = [p if isinstance(p, float) else (wav_seconds(p) or 0.0) for p in paths]
    return min((length - hold_s for length in lengths), default=0.0)


async def recorded_seconds(database_url: str, since: datetime) -> list[float]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            values = (await conn.execute(select(calls.c.recording_seconds)
                                         .where(calls.c.started_at >= since))).scalars().all()
    finally:
        await engine.dispose()
    return [float(v) for v in values if v]


async def health_times(port: int, stop: asyncio.Event) -> float:
    """The slowest `/health` answer (ms) while the step runs, asked twice a second."""
    slowest = 0.0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            asked = time.monotonic()
            async with session.get(f"http://127.0.0.1:{port}/health",
                                   timeout=aiohttp.ClientTimeout(total=30)) as response:
                await response.read()
            slowest = max(slowest, (time.monotonic() - asked) * 1000)
            await asyncio.sleep(0.5)
    return slowest


async def wait_for_rows(database_url: str, expected: tuple[int, int], timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await count_rows(database_url)
        if (rows[0] >= expected[0] and rows[1] >= expected[1]) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.5)


async def health(port: int, window: float) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/health",
                               params={"lag_window": str(window)},
                               timeout=aiohttp.ClientTimeout(total=30)) as response:
            return dict(await response.json())


async def sample_rss(pid: int, stop: asyncio.Event) -> float:
    peak = 0.0
    while not stop.is_set():
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.5)
    return peak


async def run_step(sandbox: AsteriskSandbox, bridge: BridgeProcess, database_url: str,
                   concurrent: int, rate: float, hold_ms: int, totals: list[int]) -> StepResult:
    before = baseline_recordings(sandbox)
    baseline = await place(sandbox, BASELINE_EXTEN, concurrent, rate, hold_ms, "13900000000")
    baseline_short = await shortest_against_hold(sorted(baseline_recordings(sandbox) - before), hold_ms / 1000)
    assert bridge.process is not None
    started = time.monotonic()
    started_at = datetime.now(UTC)
    stop = asyncio.Event()
    peak_task = asyncio.create_task(sample_rss(bridge.process.pid, stop))
    health_task = asyncio.create_task(health_times(bridge.http_port, stop))
    ours = await place(sandbox, "12345", concurrent, rate, hold_ms, "13800000000")
    stop.set()
    peak = await peak_task
    health_max = await health_task
    lag = (await health(bridge.http_port, time.monotonic() - started + 1))["loop_lag"]
    expected = (totals[0] + concurrent, totals[1] + concurrent)
    rows = await wait_for_rows(database_url, expected, timeout=30 + concurrent * 0.2)
    recorded, ticketed = rows[0] - totals[0], rows[1] - totals[1]
    totals[0], totals[1] = rows
    unrecorded, gap = await recording_coverage(database_url, started_at)
    ours_short = await shortest_against_hold(await recorded_seconds(database_url, started_at), hold_ms / 1000)
    return StepResult(concurrent=concurrent, rate=rate, baseline=baseline, ours=ours,
                      recorded=recorded, ticketed=ticketed, lag_p99_ms=float(lag["p99_ms"]),
                      lag_max_ms=float(lag["max_ms"]), rss_peak_mb=peak,
                      rss_after_mb=rss_mb(bridge.process.pid), unrecorded=unrecorded,
                      recording_gap_s=gap, health_max_ms=health_max,
                      baseline_short_s=baseline_short, ours_short_s=ours_short)


def print_step(step: StepResult) -> None:
    print(f"{step.concurrent:5d} @{step.rate:4.0f}/s | fail base {step.baseline.failed:3d} "
          f"ours {step.ours.failed:3d} | rec/tkt {step.recorded:3d}/{step.ticketed:3d} | "
          f"no recording {step.unrecorded:3d} gap max {step.recording_gap_s:+5.2f} s "
          f"(shortest vs speech: dialplan {step.baseline_short_s:+5.2f} ours {step.ours_short_s:+5.2f} s) | "
          f"answer p50 {step.baseline.p50:7.1f} / {step.ours.p50:7.1f} ms "
          f"({step.ratio_p50:5.2f}x) p99 {step.baseline.p99:7.1f} / {step.ours.p99:7.1f} ms "
          f"({step.ratio_p99:5.2f}x) | lag p99 {step.lag_p99_ms:6.1f} max {step.lag_max_ms:6.1f} ms | "
          f"/health max {step.health_max_ms:6.1f} ms | "
          f"RSS peak {step.rss_peak_mb:6.0f} after {step.rss_after_mb:6.0f} MB "
          f"| {'ok' if step.good else 'OVER'}", flush=True)


def print_holders(log_lines: list[str]) -> None:
    """What held the backend's event loop (kernel/stall_watch.py), by the code that held it."""
    held: dict[str, list[tuple[float, float]]] = {}
    stacks: dict[str, str] = {}
    for line in log_lines:
        if "event loop held" not in line:
            continue
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            where = str(entry.get("msg", "")).split("what holds it: ", 1)[-1]
            held.setdefault(where, []).append((float(entry.get("held_ms", 0.0)),
                                               float(entry.get("cpu_ms", 0.0))))
            stacks.setdefault(where, str(entry.get("stack", "")))
    print(f"loop held >= 200 ms, by the code that held it (CPU: the process's CPU time "
          f"meanwhile; far below the hold, it waited for the machine): {sum(map(len, held.values()))}")
    for where, times in sorted(held.items(), key=lambda item: -sum(t for t, _ in item[1]))[:8]:
        worst = max(times)
        print(f"  {len(times):4d}x max {worst[0]:7.1f} ms (CPU {worst[1]:7.1f} ms)  {where}")
        callers = [line.strip() for line in stacks[where].splitlines()
                   if line.strip().startswith("File ") and "/lib/python" not in line]
        print("        called from: " + " <- ".join(reversed(callers[-4:-1])))


def default_model() -> Path | None:
    try:
        from tests.asr_fixtures import mandarin_model_path

        path = mandarin_model_path()
    except Exception:  # noqa: BLE001 - no model installed: the bench runs without live ASR
        return None
    return path if path.exists() else None


def node_env(sandbox: AsteriskSandbox, tmp: str, url: str, port: int, name: str, model: Path | None,
             max_calls: int, extra: Sequence[str] = (), prefix: str | None = None) -> dict[str, str]:
    """The backend's environment for a node benchmark: its own database, key prefix, outbox and
    (with a model) ASR spool under `tmp`; `extra` holds `KEY=VALUE` overrides (`--env`)."""
    env = bridge_env(sandbox, url, prefix or f"hotline-{name}-{uuid.uuid4().hex[:8]}:", port)
    env["HOTLINE_CALL_FLOW_MAX_CONCURRENT_CALLS"] = str(max_calls)
    env["HOTLINE_CALL_FLOW_OUTBOX_DIR"] = f"{tmp}/outbox"
    if model is not None:
        env["HOTLINE_ASR_MODEL_PATH"] = str(model)
        env["HOTLINE_ASR_SPOOL_DIR"] = f"{tmp}/asr-spool"
        env["HOTLINE_ASR_OVERLAY_DIR"] = f"{tmp}/asr-overlay"
    env.update(item.split("=", 1) for item in extra)
    return env


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="10,20,40", help="concurrent calls per step")
    parser.add_argument("--rate", type=float, default=10.0, help="calls placed per second")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds each call speaks")
    parser.add_argument("--no-asr", action="store_true", help="run the backend without live ASR")
    parser.add_argument("--keep-going", action="store_true", help="run every step past the knee")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra backend setting, e.g. HOTLINE_ASR_POST_CALL_PROCESS=false "
                             "(before/after comparisons in the same conditions)")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    hold_ms = int(args.hold * 1000)
    model = None if args.no_asr else default_model()

    # Two RTP ports per call leg; the sandbox's default range (200) holds only ~100 calls.
    sandbox = AsteriskSandbox(ensure_rootfs(), extra_dialplan=BASELINE_DIALPLAN,
                              rtp_ports=max(200, 2 * (max(steps) * 2 + 50)))
    sandbox.start()
    bridge: BridgeProcess | None = None
    results: list[StepResult] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/capacity.sqlite3"
            port = free_tcp_port()
            env = node_env(sandbox, tmp, url, port, "capacity", model, max(steps) * 2, args.env)
            bridge = BridgeProcess(env=env, http_port=port, log_path=Path(tmp) / "bridge.log")
            await bridge.start(timeout=120)
            assert bridge.process is not None
            await asyncio.sleep(2)
            rest_mb = rss_mb(bridge.process.pid)
            print(f"backend pid {bridge.process.pid}, ASR model: {model or 'none'}; {' '.join(args.env)} "
                  f"RSS at rest {rest_mb:.0f} MB; calls of {args.hold:.0f} s with speech")
            print("  conc  rate | SIPp failures | recorded/ticketed | recordings | answer delay "
                  "dialplan / backend | backend loop lag | /health | backend memory")
            totals = [0, 0]
            for concurrent in steps:
                step = await run_step(sandbox, bridge, url, concurrent, args.rate, hold_ms, totals)
                results.append(step)
                print_step(step)
                if not step.good and not args.keep_going:
                    break
            await asyncio.sleep(5)
            final_mb = rss_mb(bridge.process.pid)
            child = ((await health(bridge.http_port, 1.0)).get("asr") or {}).get("post_call_process")
            print(f"RSS at rest {rest_mb:.0f} MB -> after all steps {final_mb:.0f} MB "
                  f"({final_mb / rest_mb if rest_mb else 0:.2f}x); post-call decoder child "
                  f"{rss_mb(child) if child else 0:.0f} MB (exits when idle)")
            log_lines = bridge.log_tail(100000).splitlines()
            stalls = [line for line in log_lines if "event loop stalled" in line]
            print(f"loop stalls >= 250 ms logged by the backend: {len(stalls)}")
            print_holders(log_lines)
    finally:
        if bridge is not None:
            bridge.stop()
        sandbox.remove()
    good = [s for s in results if s.good]
    if good:
        knee = good[-1]
        print(f"knee: {knee.concurrent} concurrent calls at {knee.rate:.0f} calls/s "
              f"(answer p99 {knee.ratio_p99:.2f}x the dialplan's, loop lag p99 {knee.lag_p99_ms:.1f} ms)")
    else:
        print("knee: below the first step")
    if len(good) < len(results):
        first_bad = results[len(good)]
        print(f"first step over: {first_bad.concurrent} concurrent "
              f"(failures {first_bad.ours.failed}, recorded {first_bad.recorded}, "
              f"without a recording {first_bad.unrecorded}, recording gap max "
              f"{first_bad.recording_gap_s:+.2f} s, lag p99 {first_bad.lag_p99_ms:.1f} ms, "
              f"/health max {first_bad.health_max_ms:.0f} ms, answer p99 {first_bad.ratio_p99:.2f}x)")


if __name__ == "__main__":
    asyncio.run(main())
