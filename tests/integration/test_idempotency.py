"""`Idempotency-Key` on ticket registration and commands, over HTTP, on real SQLite and
PostgreSQL: a retry creates nothing new and gets the first answer, across a restart and from
another node; the same key with another body is a typed 422.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.audit import AccessAudit
from kernel.clock import FixedClock
from kernel.database import open_database
from kernel.errors import Conflict
from kernel.http_edge import new_app
from kernel.idempotency import IdempotencyStore, Replay, fingerprint
from kernel.schema import idempotency_keys, ticket_events, tickets
from tests.auth_tokens import bearer, with_test_signer
from tests.evidence_files import evidence_store_with
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.plugin import TicketDeps, install
from tickets.store import TicketStore

AGENT = bearer("agent", "agent7")
OTHER_AGENT = bearer("agent", "agent8")
TICKET = {"channel": "phone", "caller": {"number": "13812345678", "name": "张三"},
          "summary": "小区电梯停运", "content": "3号楼电梯停运一周"}
TTL = timedelta(hours=24)


@asynccontextmanager
async def node(database_url: str, clock: FixedClock, tmp_path: Path, node_id: str = "N01"
               ) -> AsyncIterator[tuple[TestClient, AsyncEngine]]:
    """One backend node's ticket API on the shared database (opened and closed like a restart)."""
    engine = await open_database(database_url)
    app = with_test_signer(new_app())
    evidence = await evidence_store_with(tmp_path / "evidence", b"evidence")
    install(app, TicketDeps(TicketStore(engine, node_id, clock=clock), load_catalogue(), load_calendar(),
                            evidence, AccessAudit(engine, clock=clock),
                            idempotency=IdempotencyStore(engine, clock=clock, ttl=TTL)))
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client, engine
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))


async def count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def keyed(key: str, headers: dict[str, str] = AGENT) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def post(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def test_retried_registration_answers_the_first_ticket_and_creates_none(
        database_url: str, clock: FixedClock, tmp_path: Path) -> None:
    async with node(database_url, clock, tmp_path) as (client, engine):
        first = await post(client, "/api/tickets", TICKET, keyed("reg-1"))
        again = await post(client, "/api/tickets", TICKET, keyed("reg-1"))
        assert first[0] == again[0] == 201
        assert again[1] == first[1]
        assert await count(engine, tickets) == 1
        unkeyed = [await post(client, "/api/tickets", TICKET, AGENT) for _ in range(2)]
        assert [s for s, _ in unkeyed] == [201, 201]
        assert await count(engine, tickets) == 3  # without a key, each request is its own


async def test_same_key_with_another_body_is_a_typed_422_and_creates_nothing(
        database_url: str, clock: FixedClock, tmp_path: Path) -> None:
    async with node(database_url, clock, tmp_path) as (client, engine):
        assert (await post(client, "/api/tickets", TICKET, keyed("reg-2")))[0] == 201
        status, body = await post(client, "/api/tickets", {**TICKET, "summary": "另一件事"}, keyed("reg-2"))
        assert status == 422
        assert body["error"] == "idempotency_key_reused"
        assert await count(engine, tickets) == 1


async def test_a_key_is_the_principals_own(database_url: str, clock: FixedClock, tmp_path: Path) -> None:
    """Another person's identical key is theirs: it neither replays nor blocks."""
    async with node(database_url, clock, tmp_path) as (client, engine):
        mine = await post(client, "/api/tickets", TICKET, keyed("shared"))
        theirs = await post(client, "/api/tickets", TICKET, keyed("shared", OTHER_AGENT))
        assert mine[0] == theirs[0] == 201
        assert mine[1]["ticket"]["ticket_no"] != theirs[1]["ticket"]["ticket_no"]
        assert await count(engine, tickets) == 2


async def test_retry_after_a_restart_from_another_node_replays(
        database_url: str, clock: FixedClock, tmp_path: Path) -> None:
    async with node(database_url, clock, tmp_path, "N01") as (client, _):
        first = await post(client, "/api/tickets", TICKET, keyed("reg-3"))
    async with node(database_url, clock, tmp_path, "N02") as (client, engine):
        again = await post(client, "/api/tickets", TICKET, keyed("reg-3"))
        assert again == first
        assert await count(engine, tickets) == 1


async def test_retried_command_applies_once(database_url: str, clock: FixedClock, tmp_path: Path) -> None:
    async with node(database_url, clock, tmp_path) as (client, engine):
        _, registered = await post(client, "/api/tickets", TICKET, AGENT)
        no = registered["ticket"]["ticket_no"]
        path = f"/api/tickets/{no}/commands/classify"
        body = {"expected_version": 1, "ticket_type": "complaint", "summary": "电梯停运"}
        first = await post(client, path, body, keyed("classify-1"))
        again = await post(client, path, body, keyed("classify-1"))
        assert first[0] == 200
        assert again == first
        assert await count(engine, ticket_events) == 2
        status, error = await post(client, path, {**body, "summary": "别的"}, keyed("classify-1"))
        assert (status, error["error"]) == (422, "idempotency_key_reused")


async def test_a_failed_request_remembers_nothing(database_url: str, clock: FixedClock, tmp_path: Path) -> None:
    """A refused command created nothing: its key is free, and the retry is judged afresh."""
    async with node(database_url, clock, tmp_path) as (client, engine):
        _, registered = await post(client, "/api/tickets", TICKET, AGENT)
        path = f"/api/tickets/{registered['ticket']['ticket_no']}/commands/classify"
        body = {"expected_version": 7, "ticket_type": "complaint", "summary": "电梯停运"}
        assert (await post(client, path, body, keyed("stale")))[0] == 409
        assert await count(engine, idempotency_keys) == 0


async def test_concurrent_retries_register_one_ticket(
        database_url: str, clock: FixedClock, tmp_path: Path) -> None:
    async with node(database_url, clock, tmp_path) as (client, engine):
        answers = await asyncio.gather(*(post(client, "/api/tickets", TICKET, keyed("burst"))
                                         for _ in range(5)))
        created = [body for status, body in answers if status == 201]
        assert {status for status, _ in answers} <= {201, 409}
        assert created and all(body == created[0] for body in created)
        assert await count(engine, tickets) == 1


async def test_expired_key_is_a_new_request(database_url: str, clock: FixedClock, tmp_path: Path) -> None:
    async with node(database_url, clock, tmp_path) as (client, engine):
        first = await post(client, "/api/tickets", TICKET, keyed("reg-4"))
        clock.advance(TTL + timedelta(seconds=1))
        later = await post(client, "/api/tickets", TICKET, keyed("reg-4"))
        assert later[1]["ticket"]["ticket_no"] != first[1]["ticket"]["ticket_no"]
        assert await count(engine, tickets) == 2
        assert await count(engine, idempotency_keys) == 1  # the expired row was deleted


async def test_a_claim_taken_over_after_its_lease_cannot_complete(engine: AsyncEngine, clock: FixedClock) -> None:
    """A request that stalled past its lease loses the key to a retry; if it then finishes,
    completing its claim fails, so its own transaction (the work) is rolled back."""
    store = IdempotencyStore(engine, clock=clock, lease=timedelta(seconds=60))
    request_hash = fingerprint("POST", "/api/tickets", b"{}")
    stalled = await store.claim("agent7", "k", request_hash)
    with pytest.raises(Conflict):
        await store.claim("agent7", "k", request_hash)  # still within the first one's lease
    clock.advance(timedelta(seconds=61))
    retry = await store.claim("agent7", "k", request_hash)
    assert not isinstance(stalled, Replay) and not isinstance(retry, Replay)
    with pytest.raises(Conflict):
        async with engine.begin() as conn:
            await store.complete(conn, stalled, 201, {"stale": True})
    async with engine.begin() as conn:
        await store.complete(conn, retry, 201, {"fresh": True})
    assert await store.claim("agent7", "k", request_hash) == Replay(201, '{"fresh": true}')


@pytest.mark.parametrize("key", ["", "x" * 129, "bad key"])
async def test_malformed_key_is_400(sqlite_url: str, clock: FixedClock, tmp_path: Path, key: str) -> None:
    async with node(sqlite_url, clock, tmp_path) as (client, engine):
        response = await client.post("/api/tickets", json=TICKET, headers={**AGENT, "Idempotency-Key": key})
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_input"
        assert await count(engine, tickets) == 0

