"""The public monthly disclosure: computed once per ended month and kept in the database (not
recomputed per request), and limited per client in real Redis; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from devtools.sandbox import free_tcp_port
from kernel.audit import AccessAudit
from kernel.clock import FixedClock
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.request_rate import RequestRate
from kernel.schema import monthly_disclosures
from tests.auth_tokens import with_test_signer
from tests.evidence_files import evidence_store_with
from tests.integration.test_ticket_api import dispatched_to_housing
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.plugin import TicketDeps, install
from tickets.store import TicketStore

HOUSING = "市住房和城乡建设局"


async def node(database_url: str, clock: FixedClock, tmp_path: Path,
               limit: RequestRate | None = None) -> TestClient:
    engine = await open_database(database_url)
    app = with_test_signer(new_app())
    install(app, TicketDeps(TicketStore(engine, "N01", clock=clock), load_catalogue(), load_calendar(),
                            await evidence_store_with(tmp_path / "evidence", b"evidence"),
                            AccessAudit(engine, clock=clock), public_limit=limit))
    app.on_cleanup.append(lambda _: engine.dispose())
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def clients() -> AsyncIterator[list[TestClient]]:
    made: list[TestClient] = []
    yield made
    for client in made:
        await client.close()


async def test_an_ended_month_is_computed_once_and_served_from_the_database(
        database_url: str, tmp_path: Path, clients: list[TestClient]) -> None:
    clock = FixedClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    first = await node(database_url, clock, tmp_path)
    clients.append(first)
    await dispatched_to_housing(first)
    assert (await first.get("/api/disclosure/2026-11.json")).status == 404  # the month goes on
    clock.now = datetime(2026, 12, 3, tzinfo=UTC)
    answers = await asyncio.gather(*(first.get("/api/disclosure/2026-11.json") for _ in range(200)))
    bodies = {await answer.text() for answer in answers}
    assert {answer.status for answer in answers} == {200} and len(bodies) == 1
    units = json.loads(bodies.pop())["units"]
    assert next(u for u in units if u["unit"] == HOUSING)["received"] == 1
    # Served from the stored row afterwards, on any node, never recomputed: a row changed by
    # hand is what a restarted node (no memory of its own) publishes.
    engine = await open_database(database_url)
    try:
        async with engine.begin() as conn:
            stored = await conn.scalar(select(monthly_disclosures.c.records))
            changed = [{**u, "received": 41} for u in json.loads(stored)]
            await conn.execute(update(monthly_disclosures).values(
                records=json.dumps(changed, ensure_ascii=False)))
    finally:
        await engine.dispose()
    restarted = await node(database_url, clock, tmp_path)
    clients.append(restarted)
    again = await (await restarted.get("/api/disclosure/2026-11.json")).json()
    assert next(u for u in again["units"] if u["unit"] == HOUSING)["received"] == 41


async def test_public_requests_are_limited_per_client(
        sqlite_url: str, tmp_path: Path, redis_client: aioredis.Redis, redis_key_prefix: str,
        clients: list[TestClient]) -> None:
    clock = FixedClock(datetime(2026, 12, 3, tzinfo=UTC))
    limit = RequestRate(redis_client, redis_key_prefix, 5, timedelta(minutes=1), namespace="public", fail_open=True)
    client = await node(sqlite_url, clock, tmp_path, limit)
    clients.append(client)
    statuses = [(await client.get("/api/disclosure/2026-11.csv")).status for _ in range(5)]
    assert statuses == [200] * 5
    refused = await client.get("/api/disclosure/2026-11.csv")
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert (await refused.json())["error"] == "throttled"
    ttl = await redis_client.pttl(f"{redis_key_prefix}ratelimit:public:127.0.0.1")
    assert 0 < ttl <= 60_000


async def test_with_redis_not_answering_one_node_still_serves_a_client_no_more_than_the_limit(
        sqlite_url: str, tmp_path: Path, clients: list[TestClient]) -> None:
    """The disclosure's limit fails open when Redis does not answer, but not wide open: the
    node's own count refuses the client past the limit (a crowd is when Redis answers late)."""
    clock = FixedClock(datetime(2026, 12, 3, tzinfo=UTC))
    nowhere = aioredis.Redis(host="127.0.0.1", port=free_tcp_port(), socket_connect_timeout=0.2)
    limit = RequestRate(nowhere, "hotline-test-away:", 5, timedelta(minutes=1), namespace="public",
                        fail_open=True, monotonic=lambda: 30.0)  # half way through one minute
    client = await node(sqlite_url, clock, tmp_path, limit)
    clients.append(client)
    statuses = [(await client.get("/api/disclosure/2026-11.csv")).status for _ in range(7)]
    await nowhere.aclose()
    assert statuses == [200] * 5 + [429, 429]
