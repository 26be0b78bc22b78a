"""Benchmark: the workbenches' two busiest lists with a million tickets in PostgreSQL, against the
plain indexed query measured in the same run.

Claim checked (issue 23): a unit's inbox and the dispatch queue cost at most 50 ms of server time
per page at p99 with 1,000,000 tickets, because each is read off a partial index made for it
(migration 0013) in the order the page shows it.

    .venv/bin/python bench/bench_workbenches.py [--rows 1000000] [--pages 500] [--quick]

The rows are loaded as `bench/bench_tickets.py` loads them (server-side generate_series, every
index of the migrations in place, VACUUM ANALYZE at the end): six lead units, one ticket in
seven with a cooperating unit, about 13 % open, 2 % classified drafts waiting for dispatch.
Then, interleaved in random order, for a random unit each time:

  * page : what the page's request costs the server past sign-in: `WorkbenchQueries` (the
           inbox: both indexed halves merged; the queue) and every entry built and encoded as
           the API answers it (`workbenches.api.list_entry`, JSON);
  * plain: the plain indexed query, sent as raw SQL through the same engine: the lead unit's
           open tickets by deadline (the inbox without its cooperating half), the queue's
           SELECT; no ORM, no entries, no JSON.

It prints p50/p95/p99 of both, their ratio, and the plans of the page's queries (custom and
generic) so that the index use is shown. Timings are printed, never asserted. The bench creates
its own database on the loopback server and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.bench_tickets import DEFAULT_URL, LOOPBACK, load_history, ms, percentile, ratio
from devtools.scratch_database import create_scratch_database, drop_scratch_database
from kernel.database import open_database
from kernel.roles import Actor, Role
from kernel.schema import UNIT_OPEN_LEAD, WAITING_FOR_DISPATCH
from workbenches.api import list_entry
from workbenches.queues import WorkbenchQueries, dispatch_queue_statement, unit_inbox_statement

#: The lead units of the loaded rows (bench_tickets.LOAD_SQL).
UNITS = ("city-housing", "city-urban-management", "city-transport", "utility-heating", "city-hrss", "gov-lanshan")
INBOX_LIMIT, QUEUE_LIMIT = 100, 100  # the pages' default limits (workbenches/api.py)
BUDGET_MS = 50.0
PLAIN_INBOX = (f"SELECT * FROM tickets WHERE lead_unit = :unit AND ({UNIT_OPEN_LEAD}) "
               "ORDER BY deadline, ticket_no LIMIT :limit")
PLAIN_QUEUE = f"SELECT * FROM tickets WHERE {WAITING_FOR_DISPATCH} ORDER BY updated_at, ticket_no LIMIT :limit"
DISPATCHER = Actor("bench-dispatcher", Role.DISPATCHER)


def figures(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50_ms": ms(percentile(samples, 0.5)), "p95_ms": ms(percentile(samples, 0.95)),
            "p99_ms": ms(percentile(samples, 0.99)), "max_ms": ms(max(samples))}


async def timed_pairs(pages: int, page: Callable[[str], Awaitable[int]], plain: Callable[[str], Awaitable[int]],
                      rng: random.Random) -> tuple[list[float], list[float], list[int]]:
    """`pages` requests of each for random units, the two in random order each time."""
    for unit in UNITS:  # warm-up: prepared statements, the indexes' upper pages
        await page(unit)
        await plain(unit)
    page_s: list[float] = []
    plain_s: list[float] = []
    returned: list[int] = []
    for _ in range(pages):
        unit = rng.choice(UNITS)
        pair: list[tuple[Callable[[str], Awaitable[int]], list[float]]] = [(page, page_s), (plain, plain_s)]
        rng.shuffle(pair)
        for run, samples in pair:
            started = time.perf_counter()
            found = await run(unit)
            samples.append(time.perf_counter() - started)
            if run is page:
                returned.append(found)
    return page_s, plain_s, returned


async def explain(engine: AsyncEngine, statement: Any) -> dict[str, list[str]]:
    """The plan of `statement` as a custom plan (values known) and as the generic plan a
    prepared statement may switch to after five runs."""
    compiled = statement.compile(dialect=engine.dialect)
    values = [compiled.params[name] for name in compiled.positiontup]
    literals = ", ".join(str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'" for v in values)
    plans: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(text(f"SET plan_cache_mode = {mode}"))
            await conn.execute(text(f"PREPARE bench_page AS {compiled}"))
            rows = await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE bench_page({literals})"))
            plans[mode.split("_")[1]] = [r[0] for r in rows]
            await conn.execute(text("DEALLOCATE bench_page"))
        await conn.execute(text("RESET plan_cache_mode"))
        await conn.rollback()
    return plans


async def run(engine: AsyncEngine, pages: int, seed: int) -> dict[str, Any]:
    queries = WorkbenchQueries(engine)
    now = datetime.now(UTC)
    rng = random.Random(seed)

    async def plain(sql: str, limit: int, unit: str) -> int:
        async with engine.connect() as conn:
            return len((await conn.execute(text(sql), {"unit": unit, "limit": limit})).all())

    async def inbox_page(unit: str) -> int:
        actor = Actor("bench-unit", Role.UNIT, unit=unit)
        found = await queries.unit_inbox(unit, INBOX_LIMIT)
        json.dumps({"tickets": [list_entry(t, actor, now) for t in found]}, ensure_ascii=False)
        return len(found)

    async def queue_page(_: str) -> int:
        found = await queries.dispatch_queue(QUEUE_LIMIT, DISPATCHER.id)
        json.dumps({"tickets": [list_entry(t, DISPATCHER, now) for t in found]}, ensure_ascii=False)
        return len(found)

    results: dict[str, Any] = {}
    for name, page, sql, limit, statement in (
            ("unit_inbox", inbox_page, PLAIN_INBOX, INBOX_LIMIT, unit_inbox_statement(UNITS[0], INBOX_LIMIT)),
            ("dispatch_queue", queue_page, PLAIN_QUEUE, QUEUE_LIMIT,
             dispatch_queue_statement(QUEUE_LIMIT, DISPATCHER.id))):
        print(f"{name}: {pages} pages ...", file=sys.stderr, flush=True)
        page_s, plain_s, returned = await timed_pairs(
            pages, page, lambda unit, sql=sql, limit=limit: plain(sql, limit, unit), rng)
        page_f, plain_f = figures(page_s), figures(plain_s)
        results[name] = {"page": page_f, "plain": plain_f, "rows_per_page_p50": int(percentile(
            [float(r) for r in returned], 0.5)), "ratio_page_over_plain": {
                k: ratio(page_f[k], plain_f[k]) for k in ("p50_ms", "p95_ms", "p99_ms")},
            "within_budget": page_f["p99_ms"] <= BUDGET_MS, "plans": await explain(engine, statement)}
    return results


def report(rows: int, server: str, results: dict[str, Any]) -> None:
    print(f"PostgreSQL {server}, {rows:,} tickets, throw-away database dropped")
    for name, r in results.items():
        page, plain = r["page"], r["plain"]
        print(f"\n{name}: {r['rows_per_page_p50']} rows per page (p50)")
        print(f"  page  (queries + entries + JSON): p50 {page['p50_ms']:.2f} ms  p95 {page['p95_ms']:.2f} ms  "
              f"p99 {page['p99_ms']:.2f} ms  max {page['max_ms']:.2f} ms  "
              f"{'within' if r['within_budget'] else 'OVER'} the {BUDGET_MS:.0f} ms budget")
        print(f"  plain indexed query (raw SQL):   p50 {plain['p50_ms']:.2f} ms  p95 {plain['p95_ms']:.2f} ms  "
              f"p99 {plain['p99_ms']:.2f} ms")
        ratios = r["ratio_page_over_plain"]
        print(f"  ratio page / plain: p50 x{ratios['p50_ms']}  p95 x{ratios['p95_ms']}  p99 x{ratios['p99_ms']}")
        for kind, plan in r["plans"].items():
            print(f"  {kind} plan:")
            for line in plan:
                print(f"    {line}")
    print(json.dumps({"bench": "workbenches", "postgres": server, "rows": rows, "budget_ms": BUDGET_MS,
                      **results}, ensure_ascii=False))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="smoke run: 20,000 rows, 50 pages")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    url = make_url(args.database_url)
    if not url.drivername.startswith("postgresql") or url.host not in LOOPBACK:
        print("refusing: this bench needs a PostgreSQL on the loopback interface", file=sys.stderr)
        return 2
    if args.quick:
        args.rows, args.pages = 20_000, 50
    rows = max(1_000, min(args.rows, 20_000_000))
    pages = max(20, min(args.pages, 100_000))
    bench_url = await create_scratch_database(args.database_url, "hotline_bench")
    engine: AsyncEngine | None = None
    try:
        engine = await open_database(bench_url)
        async with engine.connect() as conn:
            server = str(await conn.scalar(text("SHOW server_version")))
        print(f"loading {rows:,} rows ...", file=sys.stderr, flush=True)
        await load_history(engine, rows, max(1, rows // 5))
        results = await run(engine, pages, args.seed)
    finally:
        if engine is not None:
            await engine.dispose()
        await drop_scratch_database(args.database_url, bench_url)
    report(rows, server, results)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
