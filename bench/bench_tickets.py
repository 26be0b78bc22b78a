"""Benchmark: the ticket repository on real PostgreSQL, against plain SQL measured in the same run.

Three claims are checked, each as a ratio against a baseline that runs on the same server, the
same database, the same SQLAlchemy engine settings (`kernel.database.create_engine`) and the
same event loop, so that the ratio isolates what our code adds and machine noise mostly cancels:

1. Lifecycle throughput. N tickets go create -> classify -> dispatch -> sign -> feedback ->
   callback (satisfied, which closes the ticket) through `TicketStore`, with C workers in
   flight: the real code path, i.e. per transition a read of the row and its events, a fold,
   the workflow's checks, then one transaction with the optimistically locked UPDATE of the
   projection and the INSERT of the event; registration allocates a ticket number per node and
   day and retries when concurrent writers of the node race for it. Baseline: the same number
   of single-row statements (one INSERT then five UPDATEs per ticket, each its own transaction,
   same C workers) on a four-column table with no domain logic. The ratio is the domain's cost.

2. Caller history at scale. `--history-rows` rows are bulk-loaded into `tickets` with one
   server-side `INSERT ... SELECT FROM generate_series` per chunk: nothing crosses the network
   and no Python tuples are built, which beats COPY from the client when the client would have
   to generate a million rows first. The rows go in with every index of the migrations already
   in place (no drop/re-create), so the figures describe the schema as shipped. Callers follow
   a heavy tail (every caller has one ticket, the rest go to `floor(callers * u**2.5)`, so the
   top caller has thousands and the median two), and lookups pick callers the same way: a
   lookup happens when someone calls, and frequent callers call more. Then
   `TicketStore.caller_history` is timed against the same SELECT sent as raw SQL through the
   same engine (no Core compilation, no `ticket_from_row`), interleaved in random order.
   The load ends with VACUUM ANALYZE, the state autovacuum keeps a long-lived table in.

3. Ticket numbers at scale. On the loaded table, the first registration of a day on a node
   (a prefix with no rows yet) against the next registrations of that node and day, with the
   plan of the allocation query. A bare `max(ticket_no) LIKE 'prefix%'` is only an index range
   under a "C" collation (it read the whole unique index: 100 ms at a million rows); the query
   now narrows by the day's `created_at` range first (migration 0006).

The loaded rows are projection rows only (no `ticket_events`): valid for `caller_history` and
`ticket_from_row`, not for transitions. The bench creates its own database on the server named
by `--database-url`, runs the migrations in it, and drops it at the end, also on error or
Ctrl-C; it refuses any server but loopback. Timings are printed, never asserted.

    .venv/bin/python bench/bench_tickets.py [--tickets 300] [--concurrency 8]
        [--history-rows 1000000] [--lookups 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.scratch_database import create_scratch_database, drop_scratch_database
from kernel.database import open_database
from kernel.roles import Actor, Role
from tickets.model import (
    Caller,
    Channel,
    Satisfaction,
    TicketStatus,
    TicketType,
)
from tickets.store import TicketStore, last_number_query
from tickets.workflow import (
    Classify,
    Command,
    Dispatch,
    RecordCallback,
    Register,
    Sign,
    SubmitFeedback,
)

DEFAULT_URL = "postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

AGENT = Actor("bench-agent", Role.AGENT)
DISPATCHER = Actor("bench-dispatcher", Role.DISPATCHER)
HOUSING = Actor("bench-unit", Role.UNIT, unit="city-housing")
CALLBACK_AGENT = Actor("bench-callback", Role.CALLBACK_AGENT)

#: The steps of one ticket's life, in order; `register` creates it, `callback` closes it.
STEPS: tuple[str, ...] = ("register", "classify", "dispatch", "sign", "feedback", "callback")

#: Heavy-tail exponent of the caller distribution (load and lookups alike).
SKEW = 2.5
HISTORY_LIMIT = 50
LOAD_CHUNK = 250_000

#: The query `TicketStore.caller_history` sends, as raw SQL (the baseline of part 2).
RAW_HISTORY_SQL = (
    "SELECT * FROM tickets WHERE caller_number = :number "
    "ORDER BY created_at DESC, ticket_no DESC LIMIT :limit OFFSET 0"
)


# ---- figures -------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (the convention of the other benches); 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else float("inf")


@dataclass
class Latencies:
    """Seconds per operation, by step name."""

    by_step: dict[str, list[float]] = field(default_factory=dict)

    def add(self, step: str, seconds: float) -> None:
        self.by_step.setdefault(step, []).append(seconds)

    def all(self) -> list[float]:
        return [s for samples in self.by_step.values() for s in samples]


@dataclass
class ThroughputResult:
    name: str
    tickets: int
    operations: int
    seconds: float
    p50_ms: float
    p99_ms: float
    steps: dict[str, dict[str, float]]

    @property
    def tickets_per_s(self) -> float:
        return self.tickets / self.seconds if self.seconds else 0.0

    @property
    def operations_per_s(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, Any]:
        return {**asdict(self), "tickets_per_s": round(self.tickets_per_s, 1),
                "operations_per_s": round(self.operations_per_s, 1)}


def summarise(name: str, tickets: int, seconds: float, latencies: Latencies) -> ThroughputResult:
    samples = latencies.all()
    return ThroughputResult(
        name=name, tickets=tickets, operations=len(samples), seconds=round(seconds, 3),
        p50_ms=ms(percentile(samples, 0.50)), p99_ms=ms(percentile(samples, 0.99)),
        steps={step: {"n": len(s), "p50_ms": ms(percentile(s, 0.50)),
                      "p99_ms": ms(percentile(s, 0.99))}
               for step, s in latencies.by_step.items()},
    )


# ---- the throw-away database ---------------------------------------------------------------


# ---- part 1: lifecycle throughput ----------------------------------------------------------


async def run_workers(tickets: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run `one(i)` for i in range(tickets) with `concurrency` in flight; returns the seconds."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < tickets:
            index = next_index
            next_index += 1
            await one(index)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return time.perf_counter() - started


async def lifecycle(store: TicketStore, index: int, latencies: Latencies | None) -> str:
    """One ticket from registration to the satisfied callback that closes it."""

    async def timed(step: str, call: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        result = await call
        if latencies is not None:
            latencies.add(step, time.perf_counter() - started)
        return result

    ticket, _ = await timed("register", store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=f"138{index:08d}"),
        summary="小区供暖不热", content="3号楼室温不足16度，已持续一周"), AGENT))
    number = ticket.ticket_no
    now = store.now()
    # Deadlines are absolute in the command: the service layer computes them from the calendar
    # (tickets/deadlines.py); that pure CPU step is not what this bench is about.
    steps: tuple[tuple[str, Command, Actor], ...] = (
        ("classify", Classify(ticket_type=TicketType.COMPLAINT, summary="供暖温度不达标",
                              content="3号楼室温不足16度", district="兰山区"), AGENT),
        ("dispatch", Dispatch(lead_unit="city-housing", deadline=now + timedelta(days=5),
                              sign_deadline=now + timedelta(days=1)), DISPATCHER),
        ("sign", Sign(), HOUSING),
        ("feedback", SubmitFeedback(result="已协调供热公司排查，室温恢复至18度"), HOUSING),
        ("callback", RecordCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK_AGENT),
    )
    for step, command, actor in steps:
        ticket, _ = await timed(step, store.transition(number, command, actor, ticket.version))
    if ticket.status is not TicketStatus.CLOSED:
        raise RuntimeError(f"ticket {number} ended {ticket.status.value}, not closed")
    return number


async def bench_store(engine: AsyncEngine, tickets: int, concurrency: int) -> ThroughputResult:
    store = TicketStore(engine, "B01")
    for i in range(3):  # warm-up: pool connections, prepared statements, the codecs
        await lifecycle(store, 90_000_000 + i, None)
    latencies = Latencies()

    async def one(index: int) -> None:
        await lifecycle(store, index, latencies)

    seconds = await run_workers(tickets, concurrency, one)
    return summarise("TicketStore lifecycle", tickets, seconds, latencies)


BASELINE_TABLE_SQL = (
    "CREATE TABLE bench_plain (id text PRIMARY KEY, status text NOT NULL, "
    "version integer NOT NULL, updated_at timestamptz NOT NULL)"
)


async def bench_plain(engine: AsyncEngine, tickets: int, concurrency: int) -> ThroughputResult:
    """One INSERT then five UPDATEs per ticket, each committed alone, no reads, no domain."""
    async with engine.begin() as conn:
        await conn.execute(text(BASELINE_TABLE_SQL))
    insert = text("INSERT INTO bench_plain (id, status, version, updated_at) "
                  "VALUES (:id, 'draft', 1, :at)")
    update = text("UPDATE bench_plain SET status = :status, version = :version, updated_at = :at "
                  "WHERE id = :id AND version = :expected")

    async def plain(latencies: Latencies | None) -> None:
        row_id = str(uuid.uuid4())
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(insert, {"id": row_id, "at": datetime.now(UTC)})
        if latencies is not None:
            latencies.add("insert", time.perf_counter() - started)
        for version, step in enumerate(STEPS[1:], start=2):
            started = time.perf_counter()
            async with engine.begin() as conn:
                result = await conn.execute(update, {"id": row_id, "status": step,
                                                     "version": version, "expected": version - 1,
                                                     "at": datetime.now(UTC)})
                if result.rowcount != 1:
                    raise RuntimeError("baseline update lost its row")
            if latencies is not None:
                latencies.add("update", time.perf_counter() - started)

    for _ in range(3):
        await plain(None)
    latencies = Latencies()

    async def one(index: int) -> None:
        await plain(latencies)

    seconds = await run_workers(tickets, concurrency, one)
    return summarise("plain INSERT+UPDATEs", tickets, seconds, latencies)


async def check_lifecycle_rows(engine: AsyncEngine) -> dict[str, int]:
    """What the store left behind: closed tickets and events (a sanity check, not a timing)."""
    async with engine.connect() as conn:
        closed = await conn.scalar(text("SELECT count(*) FROM tickets WHERE status = 'closed'"))
        events = await conn.scalar(text("SELECT count(*) FROM ticket_events"))
    return {"closed_tickets": int(closed or 0), "events": int(events or 0)}


# ---- part 2: caller history at scale -------------------------------------------------------

# One statement per chunk, all generated on the server. The innermost SELECT draws the random
# values once per row, the middle one derives the status, the outer one the columns that must
# agree with it (a closed ticket has closed_at, a satisfaction and a closure reason...), so
# every row is one `ticket_from_row` accepts.
LOAD_SQL = """
INSERT INTO tickets (
    id, ticket_no, status, channel, origin, caller_number, created_at, updated_at, version,
    ticket_type, urgency, caller_name, caller_confidential, caller_anonymous, district,
    location, summary, content, lead_unit, cooperating_units, dispatched_at, sign_deadline,
    deadline, satisfaction, supervision_level, return_count, closure_reason, closed_at)
SELECT
    gen_random_uuid()::text,
    to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')
        || '-H' || (i / 999999)::text || '-' || lpad((i % 999999 + 1)::text, 6, '0'),
    status,
    CASE WHEN r_channel < 0.70 THEN 'phone' WHEN r_channel < 0.80 THEN 'wechat'
         WHEN r_channel < 0.88 THEN 'web' WHEN r_channel < 0.95 THEN 'app'
         WHEN r_channel < 0.98 THEN 'sms' ELSE 'email' END,
    CASE WHEN r_channel < 0.70 THEN 'call' END,
    '139' || lpad(caller::text, 8, '0'),
    created_at,
    CASE WHEN status IN ('closed', 'archived') THEN created_at + interval '4 days'
         WHEN status = 'draft' THEN created_at ELSE created_at + interval '2 days' END,
    CASE status WHEN 'draft' THEN 1 WHEN 'dispatched' THEN 3 WHEN 'in_progress' THEN 4
         WHEN 'feedback_submitted' THEN 5 WHEN 'closed' THEN 6 ELSE 7 END,
    (ARRAY['consultation', 'help', 'complaint', 'report', 'suggestion'])[1 + i % 5],
    CASE WHEN r_misc < 0.05 THEN 'urgent' ELSE 'normal' END,
    CASE WHEN r_misc < 0.30 THEN '诉求人' || (caller % 97)::text END,
    r_misc > 0.97,
    r_misc BETWEEN 0.60 AND 0.70,
    (ARRAY['兰山区', '罗庄区', '河东区', '沂南县', '郯城县', '沂水县'])[1 + i % 6],
    (ARRAY['滨河东路', '沂蒙路', '北京路', '解放路', '通达路'])[1 + i % 5]
        || (1 + i % 300)::text || '号',
    (ARRAY['小区供暖不热', '道路积水', '噪声扰民', '物业收费争议', '公交线路咨询',
           '社保转移咨询', '违章建筑举报', '路灯不亮'])[1 + caller % 8],
    '诉求人来电反映：' || (ARRAY['小区供暖不热', '道路积水', '噪声扰民', '物业收费争议',
           '公交线路咨询', '社保转移咨询', '违章建筑举报', '路灯不亮'])[1 + caller % 8]
        || '，已持续多日，希望相关部门尽快核实处理并回复。来电时间为工作日，诉求人同意回访。',
    CASE WHEN status <> 'draft' THEN lead_unit END,
    CASE WHEN status <> 'draft' AND i % 7 = 0 THEN '["city-urban-management"]' ELSE '[]' END,
    CASE WHEN status <> 'draft' THEN created_at + interval '1 hour' END,
    CASE WHEN status <> 'draft' THEN created_at + interval '1 day' END,
    CASE WHEN status <> 'draft' THEN created_at + interval '5 days' END,
    CASE WHEN status IN ('closed', 'archived') THEN
        CASE WHEN r_misc < 0.80 THEN 'satisfied' WHEN r_misc < 0.93 THEN 'basically_satisfied'
             ELSE 'unsatisfied' END END,
    CASE WHEN i % 50 = 0 AND status <> 'draft' THEN 1 ELSE 0 END,
    CASE WHEN i % 40 = 0 AND status <> 'draft' THEN 1 ELSE 0 END,
    CASE WHEN status IN ('closed', 'archived') THEN 'callback_completed' END,
    CASE WHEN status IN ('closed', 'archived') THEN created_at + interval '4 days' END
FROM (
    SELECT s.*,
        CASE WHEN r_status < 0.75 THEN 'closed' WHEN r_status < 0.85 THEN 'archived'
             WHEN r_status < 0.93 THEN 'in_progress' WHEN r_status < 0.96 THEN 'dispatched'
             WHEN r_status < 0.98 THEN 'feedback_submitted' ELSE 'draft' END AS status,
        (ARRAY['city-housing', 'city-urban-management', 'city-transport', 'utility-heating',
               'city-hrss', 'gov-lanshan'])[1 + caller % 6] AS lead_unit
    FROM (
        SELECT i,
            CASE WHEN i < CAST(:callers AS bigint) THEN i
                 ELSE floor(CAST(:callers AS bigint) * power(random(), CAST(:skew AS float8)))::bigint
            END AS caller,
            now() - random() * interval '730 days' AS created_at,
            random() AS r_status, random() AS r_channel, random() AS r_misc
        FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint) - 1) AS i
    ) AS s
) AS t
"""


def caller_number(index: int) -> str:
    return f"139{index:08d}"


def draw_caller(rng: random.Random, rows: int, callers: int) -> int:
    """A caller picked as the load spread rows: one ticket each, the rest heavy-tailed."""
    if rng.random() < callers / rows:
        return rng.randrange(callers)
    return min(callers - 1, int(callers * rng.random() ** SKEW))


@dataclass
class LoadResult:
    rows: int
    callers: int
    insert_seconds: float
    analyze_seconds: float
    table_bytes: int
    heap_bytes: int
    indexes_bytes: int
    top_caller: str
    top_caller_tickets: int
    callers_with_100_plus: int


async def load_history(engine: AsyncEngine, rows: int, callers: int) -> LoadResult:
    started = time.perf_counter()
    for start in range(0, rows, LOAD_CHUNK):
        stop = min(rows, start + LOAD_CHUNK)
        async with engine.begin() as conn:
            await conn.execute(text(LOAD_SQL), {"callers": callers, "skew": SKEW,
                                                "start": start, "stop": stop})
        print(f"  loaded {stop:,}/{rows:,} rows ({time.perf_counter() - started:.1f} s)",
              file=sys.stderr, flush=True)
    insert_seconds = time.perf_counter() - started
    # VACUUM as well as ANALYZE: a table that grew over two years has been vacuumed by
    # autovacuum, and an index-only scan over a never-vacuumed one would visit every heap page.
    started = time.perf_counter()
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (ANALYZE) tickets"))
    analyze_seconds = time.perf_counter() - started
    async with engine.connect() as conn:
        sizes = (await conn.execute(text(
            "SELECT pg_total_relation_size('tickets'), pg_relation_size('tickets'), "
            "pg_indexes_size('tickets')"))).one()
        top = (await conn.execute(text(
            "SELECT caller_number, count(*) AS n FROM tickets WHERE caller_number LIKE '139%' "
            "GROUP BY caller_number ORDER BY n DESC LIMIT 1"))).one()
        heavy = await conn.scalar(text(
            "SELECT count(*) FROM (SELECT 1 FROM tickets WHERE caller_number LIKE '139%' "
            "GROUP BY caller_number HAVING count(*) >= 100) AS h"))
    return LoadResult(
        rows=rows, callers=callers, insert_seconds=round(insert_seconds, 2),
        analyze_seconds=round(analyze_seconds, 2), table_bytes=int(sizes[0]),
        heap_bytes=int(sizes[1]), indexes_bytes=int(sizes[2]), top_caller=str(top[0]),
        top_caller_tickets=int(top[1]), callers_with_100_plus=int(heavy or 0),
    )


@dataclass
class LookupResult:
    name: str
    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def lookup_figures(name: str, samples: list[float]) -> LookupResult:
    return LookupResult(name=name, n=len(samples), p50_ms=ms(percentile(samples, 0.50)),
                        p95_ms=ms(percentile(samples, 0.95)), p99_ms=ms(percentile(samples, 0.99)),
                        max_ms=ms(max(samples, default=0.0)))


async def bench_lookups(
    engine: AsyncEngine, numbers: list[str]
) -> tuple[LookupResult, LookupResult, dict[str, int]]:
    """Sequential lookups (an agent waits for each), store and raw SQL in random order."""
    store = TicketStore(engine, "B01")
    raw = text(RAW_HISTORY_SQL)

    async def via_store(number: str) -> int:
        return len(await store.caller_history(number, limit=HISTORY_LIMIT))

    async def via_sql(number: str) -> int:
        async with engine.connect() as conn:
            return len((await conn.execute(raw, {"number": number,
                                                 "limit": HISTORY_LIMIT})).all())

    for number in numbers[:20]:  # warm-up: prepared statements, the index's upper pages
        await via_store(number)
        await via_sql(number)
    order = random.Random(7)
    store_s: list[float] = []
    sql_s: list[float] = []
    returned: list[int] = []
    for number in numbers:
        pair: list[tuple[Callable[[str], Awaitable[int]], list[float]]] = [
            (via_store, store_s), (via_sql, sql_s)]
        order.shuffle(pair)
        for lookup, samples in pair:
            started = time.perf_counter()
            found = await lookup(number)
            samples.append(time.perf_counter() - started)
        returned.append(found)
    shapes = {"rows_returned_p50": int(percentile([float(r) for r in returned], 0.5)),
              "lookups_returning_limit": sum(1 for r in returned if r >= HISTORY_LIMIT),
              "lookups_returning_none": sum(1 for r in returned if r == 0)}
    return (lookup_figures("TicketStore.caller_history", store_s),
            lookup_figures("raw SQL SELECT", sql_s), shapes)


async def explain(engine: AsyncEngine, number: str) -> dict[str, list[str]]:
    """The plans of the history query for one caller: as a custom plan (literal number, what
    asyncpg's first executions get) and as the generic plan a prepared statement may switch to."""
    if not number.isdigit():  # it is spliced into the SQL: EXPLAIN EXECUTE takes no binds
        raise ValueError(f"not a phone number: {number!r}")
    sql = RAW_HISTORY_SQL.replace(":limit", str(HISTORY_LIMIT))
    plans: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        rows = await conn.execute(text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
                                       + sql.replace(":number", f"'{number}'")))
        plans["custom"] = [r[0] for r in rows]
        await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        await conn.execute(text(f"PREPARE bench_history(text) AS {sql.replace(':number', '$1')}"))
        rows = await conn.execute(
            text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE bench_history('{number}')"))
        plans["generic"] = [r[0] for r in rows]
        await conn.execute(text("DEALLOCATE bench_history"))
        await conn.execute(text("RESET plan_cache_mode"))
        await conn.rollback()
    return plans


# ---- part 3: the first registration of a day, at scale -------------------------------------



@dataclass
class FirstOfDayResult:
    rows: int
    first_ms: float
    next_p50_ms: float
    plan: list[str]


async def bench_first_of_day(engine: AsyncEngine, rows: int) -> FirstOfDayResult:
    """Registrations on a day this node has no ticket yet (every node, every midnight).

    `NumberAllocator.next` asks for the day's highest number of the node (`last_number_query`).
    Whether that reads a few index entries or the whole table depends on the plan, so it is
    measured here on the loaded table rather than assumed. Baseline: the next registrations
    of the same node and day.
    """
    def later() -> datetime:
        return datetime.now(UTC) + timedelta(days=3)  # after every loaded and registered row

    store = TicketStore(engine, "B01", clock=later)
    times: list[float] = []
    for i in range(6):
        started = time.perf_counter()
        await store.register(Register(ticket_no="", channel=Channel.PHONE,
                                      caller=Caller(number=f"137{i:08d}"), summary="路灯不亮"),
                             AGENT)
        times.append(time.perf_counter() - started)
    query = last_number_query(later(), "B02").compile(
        dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    async with engine.connect() as conn:
        plan = [r[0] for r in await conn.execute(text(
            f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {query}"))]
    return FirstOfDayResult(rows=rows, first_ms=ms(times[0]),
                            next_p50_ms=ms(percentile(times[1:], 0.5)), plan=plan)


# ---- report --------------------------------------------------------------------------------


def print_lifecycle(store: ThroughputResult, plain: ThroughputResult, concurrency: int,
                    check: dict[str, int]) -> None:
    print(f"\n1. Lifecycle: {store.tickets} tickets x {len(STEPS)} writes "
          f"({' -> '.join(STEPS)}), {concurrency} workers")
    print(f"{'what':<24}{'writes':>8}{'s':>8}{'tickets/s':>11}{'writes/s':>10}"
          f"{'p50 ms':>9}{'p99 ms':>9}")
    for r in (plain, store):
        print(f"{r.name:<24}{r.operations:>8}{r.seconds:>8.2f}{r.tickets_per_s:>11.1f}"
              f"{r.operations_per_s:>10.1f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}")
    print("  per step (p50 / p99 ms): " + ", ".join(
        f"{step} {f['p50_ms']:.1f}/{f['p99_ms']:.1f}"
        for step, f in {**store.steps, **{f'plain {k}': v for k, v in plain.steps.items()}}.items()))
    print(f"  store / plain: throughput x{ratio(store.tickets_per_s, plain.tickets_per_s):.2f}  "
          f"p50 x{ratio(store.p50_ms, plain.p50_ms):.2f}  p99 x{ratio(store.p99_ms, plain.p99_ms):.2f}")
    print(f"  left behind: {check['closed_tickets']} closed tickets, {check['events']} events "
          f"(expected {store.tickets + 3} and {(store.tickets + 3) * len(STEPS)} with the warm-up)")


def print_history(load: LoadResult, store: LookupResult, raw: LookupResult,
                  shapes: dict[str, int], plans: dict[str, list[str]]) -> None:
    mib = 1024 * 1024
    print(f"\n2. Caller history: {load.rows:,} rows, {load.callers:,} callers "
          f"(top caller {load.top_caller_tickets:,} tickets, "
          f"{load.callers_with_100_plus:,} callers with >= 100)")
    print(f"  load: {load.insert_seconds:.1f} s insert ({load.rows / load.insert_seconds:,.0f} rows/s)"
          f" + {load.analyze_seconds:.1f} s VACUUM ANALYZE; tickets total {load.table_bytes / mib:,.0f} MiB "
          f"(heap {load.heap_bytes / mib:,.0f} MiB, indexes {load.indexes_bytes / mib:,.0f} MiB)")
    print(f"{'what':<28}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for r in (raw, store):
        print(f"{r.name:<28}{r.n:>6}{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}{r.p99_ms:>9.2f}{r.max_ms:>9.2f}")
    print(f"  store / raw: p50 x{ratio(store.p50_ms, raw.p50_ms):.2f}  "
          f"p95 x{ratio(store.p95_ms, raw.p95_ms):.2f}  p99 x{ratio(store.p99_ms, raw.p99_ms):.2f}")
    print(f"  rows returned: p50 {shapes['rows_returned_p50']}, "
          f"{shapes['lookups_returning_limit']} lookups hit the limit of {HISTORY_LIMIT}")
    for kind, lines in plans.items():
        print(f"  plan for the top caller ({kind}):")
        for line in lines:
            print(f"    {line}")


# ---- main ----------------------------------------------------------------------------------


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help="a PostgreSQL server (asyncpg URL); the bench creates and drops "
                             "its own database there")
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--callers", type=int, default=None,
                        help="distinct callers in the history (default: rows / 5)")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 50 tickets, 20,000 history rows, 200 lookups")
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    url = make_url(args.database_url)
    if not url.drivername.startswith("postgresql"):
        print("refusing: this bench needs PostgreSQL (postgresql+asyncpg://...)", file=sys.stderr)
        return 2
    if url.host not in LOOPBACK:
        print("refusing: the benchmark only talks to a PostgreSQL on the loopback interface",
              file=sys.stderr)
        return 2
    if args.quick:
        args.tickets, args.history_rows, args.lookups = 50, 20_000, 200
    tickets = max(1, min(args.tickets, 100_000))
    concurrency = max(1, min(args.concurrency, 64))
    rows = max(1_000, min(args.history_rows, 20_000_000))
    callers = max(1, min(args.callers or rows // 5, rows))
    lookups = max(20, min(args.lookups, 100_000))

    bench_url = await create_scratch_database(args.database_url, "hotline_bench")
    print(f"database {make_url(bench_url).database} on {url.host}:{url.port or 5432} "
          f"(dropped at the end)", file=sys.stderr, flush=True)
    engine: AsyncEngine | None = None
    try:
        engine = await open_database(bench_url)
        async with engine.connect() as conn:
            server = str(await conn.scalar(text("SHOW server_version")))

        print("part 1: lifecycle ...", file=sys.stderr, flush=True)
        plain = await bench_plain(engine, tickets, concurrency)
        store = await bench_store(engine, tickets, concurrency)
        check = await check_lifecycle_rows(engine)

        print(f"part 2: loading {rows:,} rows ...", file=sys.stderr, flush=True)
        load = await load_history(engine, rows, callers)
        rng = random.Random(args.seed)
        numbers = [caller_number(draw_caller(rng, rows, callers)) for _ in range(lookups)]
        numbers[rng.randrange(lookups)] = load.top_caller  # the worst case is always in
        print(f"part 2: {lookups} lookups ...", file=sys.stderr, flush=True)
        store_lookup, raw_lookup, shapes = await bench_lookups(engine, numbers)
        plans = await explain(engine, load.top_caller)
        print("part 3: first registration of a day ...", file=sys.stderr, flush=True)
        first_of_day = await bench_first_of_day(engine, rows)
    finally:
        if engine is not None:
            await engine.dispose()
        await drop_scratch_database(args.database_url, bench_url)

    print(f"PostgreSQL {server}, throw-away database dropped")
    print_lifecycle(store, plain, concurrency, check)
    print_history(load, store_lookup, raw_lookup, shapes, plans)
    register_p50 = store.steps["register"]["p50_ms"]
    print(f"\n3. First registration of a day on a node, {rows:,} rows in tickets: "
          f"{first_of_day.first_ms:.1f} ms; next ones p50 {first_of_day.next_p50_ms:.2f} ms "
          f"(x{ratio(first_of_day.first_ms, first_of_day.next_p50_ms):.0f}); "
          f"part 1 register p50 {register_p50:.2f} ms")
    print("  plan of the ticket-number query for a prefix with no rows yet:")
    for line in first_of_day.plan:
        print(f"    {line}")
    print(json.dumps({
        "bench": "tickets", "postgres": server, "quick": args.quick,
        "lifecycle": {
            "tickets": tickets, "concurrency": concurrency, "writes_per_ticket": len(STEPS),
            "store": store.figures(), "plain": plain.figures(), "check": check,
            "ratio_store_over_plain": {
                "tickets_per_s": ratio(store.tickets_per_s, plain.tickets_per_s),
                "p50": ratio(store.p50_ms, plain.p50_ms), "p99": ratio(store.p99_ms, plain.p99_ms)},
        },
        "history": {
            "load": asdict(load), "lookups": lookups, "limit": HISTORY_LIMIT, **shapes,
            "store": asdict(store_lookup), "raw_sql": asdict(raw_lookup),
            "ratio_store_over_raw": {
                "p50": ratio(store_lookup.p50_ms, raw_lookup.p50_ms),
                "p95": ratio(store_lookup.p95_ms, raw_lookup.p95_ms),
                "p99": ratio(store_lookup.p99_ms, raw_lookup.p99_ms)},
            "plan_top_caller": plans,
        },
        "first_registration_of_day": {
            **asdict(first_of_day),
            "ratio_first_over_next": ratio(first_of_day.first_ms, first_of_day.next_p50_ms)},
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
