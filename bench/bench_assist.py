"""Benchmark: what the live agent assist costs the event loop that also runs the calls.

The assist (asr/live_assist.py) reads every live call's caller words on the backend's event loop,
at most once per `interval` per call, and searches the knowledge base (real SQLite, the seed
articles) at most every 1.5 s. This feeds N simulated calls the way Vosk does (a growing partial
every 0.3 s, a final at each sentence's end; the labelled intake requests as what callers say,
one after the other) for a while, twice in the same run: the ASR events going nowhere (baseline)
and going through the assist. It prints the process CPU time, the loop's lag (a 10 ms ticker's
lateness, p50/p99/max), and the updates sent per call per second.

    .venv/bin/python bench/bench_assist.py [--calls 8] [--seconds 20] [--interval 0.4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.extract import load_gazetteer
from asr.live_assist import LiveAssist
from asr.segments import AsrEvent, CallTranscript, Segment, Speaker, TranscriptReady
from hotline.assist_knowledge import knowledge_lookup
from kernel.database import open_database
from knowledge.store import KnowledgeStore, load_seed
from tests.intake_set import load_requests
from tickets.dispatch import load_catalogue, suggest_units

PARTIAL_EVERY = 0.3  # seconds: asr.partial_every_chunks x decode_chunk_ms
CHARS_PER_PARTIAL = 3  # about 10 characters a second of Mandarin speech


async def feed(call_id: str, sentences: list[str], seconds: float, hear: Any) -> None:
    """One caller: each sentence grows as partials, then is final; until `seconds` are over."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    i = 0
    while loop.time() < end:
        sentence = sentences[i % len(sentences)]
        for n in range(CHARS_PER_PARTIAL, len(sentence), CHARS_PER_PARTIAL):
            hear(Segment(call_id, Speaker.CALLER, sentence[:n], 0.0, 1.0, False))
            await asyncio.sleep(PARTIAL_EVERY)
        hear(Segment(call_id, Speaker.CALLER, sentence, 0.0, 1.0, True))
        await asyncio.sleep(PARTIAL_EVERY)
        i += 1
    hear(TranscriptReady(CallTranscript(call_id, ())))


async def ticker(stop: asyncio.Event, lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.01)
        lags.append(loop.time() - before - 0.01)


async def run(calls: int, seconds: float, hear: Any) -> tuple[float, list[float]]:
    texts = [r.text for r in load_requests()]
    stop = asyncio.Event()
    lags: list[float] = []
    tick = asyncio.create_task(ticker(stop, lags))
    cpu = time.process_time()
    await asyncio.gather(*(feed(f"call-{c}", texts[c::calls], seconds, hear) for c in range(calls)))
    cpu = time.process_time() - cpu
    stop.set()
    await tick
    return cpu, lags


def describe(name: str, cpu: float, lags: list[float], seconds: float) -> None:
    ms = sorted(lag * 1000 for lag in lags)
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(f"{name:<10} CPU {cpu:6.2f} s ({100 * cpu / seconds:5.1f} % of a core)  loop lag ms "
          f"p50 {statistics.median(ms):5.2f}  p99 {p99:6.2f}  max {ms[-1]:6.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=0.4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        engine = await open_database(f"sqlite+aiosqlite:///{scratch}/bench.sqlite3")
        store = KnowledgeStore(engine)
        await load_seed(store)
        catalogue = load_catalogue()
        sent: list[dict[str, Any]] = []

        async def publish(payload: dict[str, Any]) -> None:
            sent.append(payload)

        searches = 0
        search = knowledge_lookup(store)

        async def counted(query: str, district: str | None) -> Any:
            nonlocal searches
            searches += 1
            return await search(query, district)

        def units(text: str, kind: Any, district: str | None) -> Any:
            return suggest_units(catalogue, text, kind, district)

        def nowhere(_: AsrEvent) -> None:
            return None

        print(f"{args.calls} callers speaking for {args.seconds:.0f} s, assist interval {args.interval} s")
        cpu, lags = await run(args.calls, args.seconds, nowhere)
        describe("baseline", cpu, lags, args.seconds)
        for name, lookup in (("no search", None), ("assist", counted)):
            sent.clear()
            assist = LiveAssist(load_gazetteer(), units, lookup, publish, interval=args.interval)
            cpu_assist, lags = await run(args.calls, args.seconds, assist.hear)
            await asyncio.sleep(args.interval * 2)
            await assist.aclose()
            describe(name, cpu_assist, lags, args.seconds)
            extra = cpu_assist - cpu
            print(f"{'':<10} {len(sent)} updates, {len(sent) / args.calls / args.seconds:.2f} per call per second "
                  f"(at most {1 / args.interval:.1f}); {1000 * extra / max(1, len(sent)):.2f} ms CPU per update; "
                  f"{100 * extra / args.seconds / args.calls:.2f} % of a core per call; "
                  f"{searches} knowledge searches; {assist.failures} failures")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
