"""The wallboard pushed over the websocket equals what the database and the ACD say.

Real Redis (the ACD and the event bus) and a real database (SQLite, then PostgreSQL). Calls
are stored by the real intake (announced on the bus as the composition root does), agents
change state in the real ACD, callers wait in its queue; after every change the figures the
supervisor's websocket receives equal the figures recomputed here, independently, from the
database rows and the ACD's state. `/metrics` carries the same numbers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_desk.plugin import DeskDeps, install
from call_queue.acd import AcdStore
from call_queue.agent_state import BreakReason, Trigger
from hotline.wallboard_source import AcdWallboardSource, AnnouncingIntake
from kernel.event_bus import RedisEventBus
from kernel.http_edge import new_app
from kernel.schema import calls, tickets, transcript_segments
from telephony.call_record import CallRecord
from tests.auth_tokens import bearer, with_test_signer
from tests.conftest import REDIS_URL
from tickets.intake import CallIntake

SUPERVISOR = bearer("supervisor", "sup1")
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def recompute(engine: AsyncEngine, acd: AcdStore) -> dict[str, Any]:
    """The figures from the rows themselves (the test's own reading of the definitions)."""
    now = datetime.now(UTC)
    local = now.astimezone(SHANGHAI)
    since = datetime(local.year, local.month, local.day, tzinfo=SHANGHAI)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(calls).where(calls.c.started_at >= since))).mappings().all()
        messages = set((await conn.execute(select(tickets.c.call_id).where(tickets.c.origin == "message"))).scalars())
        transcribed = set((await conn.execute(select(transcript_segments.c.call_id))).scalars())
    answered = [r for r in rows if r["agent_id"]]
    within = [r for r in answered if r["queue_seconds"] is not None and r["queue_seconds"] <= 15]
    abandoned = [r for r in rows if r["queue_seconds"] is not None and not r["agent_id"] and r["id"] not in messages]
    agents = [a.status.value for a in await acd.agents()]
    waiting = await acd.queued()
    handle = [(r["ended_at"] - r["started_at"]).total_seconds() - (r["queue_seconds"] or 0) for r in answered]
    return {
        "calls_waiting": len(waiting),
        "oldest_waiting_since": min(w.enqueued_at for w in waiting).isoformat() if waiting else None,
        "agents": {s: agents.count(s) for s in ("available", "ringing", "on_call", "after_call_work", "break")},
        "calls_today": len(rows), "answered_today": len(answered), "answered_within_15s_today": len(within),
        "service_level": round(len(within) / (len(answered) + len(abandoned)), 4) if rows else None,
        "abandoned_today": len(abandoned), "messages_today": len([r for r in rows if r["id"] in messages]),
        "average_handle_seconds": round(sum(handle) / len(handle), 1) if handle else None,
        "transcription_coverage": (round(len([r for r in answered if r["id"] in transcribed]) / len(answered), 4)
                                   if answered else None),
    }


class Calls:
    """Finished calls stored by the real intake, announced on the bus as in production."""

    def __init__(self, engine: AsyncEngine, bus: RedisEventBus) -> None:
        self.engine = engine
        self.intake = AnnouncingIntake(CallIntake(engine, "N01"), bus.publish)

    async def finish(self, *, agent_id: str | None, queue_seconds: float | None, talk: float = 60.0,
                     message: bool = False, transcribed: bool = False, days_ago: int = 0,
                     call_id: str | None = None) -> str:
        call_id = call_id or str(uuid.uuid4())
        ended = datetime.now(UTC) - timedelta(days=days_ago)
        started = ended - timedelta(seconds=talk + (queue_seconds or 0) + 5)
        await self.intake.record_finished_call(CallRecord(
            call_id=call_id, channel_id=f"chan-{call_id}", bridge_id=None, caller_number="13812345678",
            caller_name="", dialed_number="12345", node_id="N01", started_at=started, answered_at=started,
            ended_at=ended, end_reason="caller_hangup", recording_path=None, recording_seconds=None,
            is_message=message, agent_id=agent_id, queue_seconds=queue_seconds))
        if transcribed:
            async with self.engine.begin() as conn:
                await conn.execute(insert(transcript_segments).values(
                    call_id=call_id, speaker="caller", start_seconds=0.0, end_seconds=1.0, text="路灯不亮",
                    source="live"))
        return call_id


@pytest.fixture
async def board(engine: AsyncEngine, redis_client: aioredis.Redis,
                redis_key_prefix: str) -> AsyncIterator[tuple[TestClient, AcdStore, Calls, RedisEventBus]]:
    bus = RedisEventBus(redis_client, redis_key_prefix)
    acd = AcdStore(redis_client, redis_key_prefix, bus=bus)
    finished = Calls(engine, bus)
    # Before the board starts: today's calls (and one of yesterday's), agents, a queue.
    await finished.finish(agent_id="a1", queue_seconds=4.0, transcribed=True)
    await finished.finish(agent_id="a2", queue_seconds=31.0)
    await finished.finish(agent_id=None, queue_seconds=12.0)  # hung up waiting
    await finished.finish(agent_id=None, queue_seconds=120.0, message=True)
    await finished.finish(agent_id="a1", queue_seconds=1.0, days_ago=1, transcribed=True)  # not today
    for agent_id in ("a1", "a2", "a3"):
        await acd.sign_in(agent_id)
    await acd.set_status("a3", Trigger.TAKE_BREAK, reason=BreakReason.MEAL)
    await acd.enqueue("c-1", "general", enqueued_at=datetime.now(UTC) - timedelta(seconds=40))
    await acd.enqueue("c-2", "general", enqueued_at=datetime.now(UTC) - timedelta(seconds=10))
    offer = await acd.claim_next_offer()
    assert offer is not None
    await acd.offer_answered(offer.call_id, offer.agent_id)

    feed = aioredis.from_url(REDIS_URL)  # subscriptions: no socket read timeout
    app = with_test_signer(new_app())
    install(app, DeskDeps(feed, redis_key_prefix, wallboard=AcdWallboardSource(acd, engine)))
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client, acd, finished, bus
    finally:
        await feed.aclose()


async def pushed_until_equal(ws: aiohttp.ClientWebSocketResponse, engine: AsyncEngine, acd: AcdStore,
                             what: str) -> dict[str, Any]:
    """Read pushes until one equals the recomputation (the board is event-driven: no polling)."""
    last: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    try:
        async with asyncio.timeout(10):
            while True:
                message = await ws.receive_json()
                assert message["type"] == "wallboard"
                last = message["figures"]
                expected = await recompute(engine, acd)
                if {k: last[k] for k in expected} == expected:
                    return last
    except TimeoutError:
        pytest.fail(f"{what}: pushed {last} never equalled {expected}")


async def pushed_until(ws: aiohttp.ClientWebSocketResponse, holds: Callable[[dict[str, Any]], bool],
                       what: str) -> dict[str, Any]:
    last: dict[str, Any] = {}
    try:
        async with asyncio.timeout(10):
            while not last or not holds(last):
                message = await ws.receive_json()
                assert message["type"] == "wallboard"
                last = message["figures"]
            return last
    except TimeoutError:
        pytest.fail(f"{what}: pushed {last} never held")


async def test_the_pushed_wallboard_equals_the_database_and_the_acd(
    board: tuple[TestClient, AcdStore, Calls, RedisEventBus], engine: AsyncEngine,
) -> None:
    client, acd, finished, bus = board
    async with client.ws_connect("/ws/wallboard", headers=SUPERVISOR) as ws:
        first = await pushed_until_equal(ws, engine, acd, "the seed")
        assert first["calls_waiting"] == 1 and first["calls_today"] == 4
        assert first["agents"] == {"available": 1, "ringing": 0, "on_call": 1, "after_call_work": 0, "break": 1}
        assert first["answered_within_15s_today"] == 1 and first["abandoned_today"] == 1
        assert first["service_level"] == round(1 / 3, 4) and first["transcription_coverage"] == 0.5
        assert first["longest_wait_seconds"] >= 10

        # Live: a call answered in 3 s is stored, its transcript line arrives; agents move; a caller queues.
        call_id = await finished.finish(agent_id="a1", queue_seconds=3.0, talk=90.0, transcribed=True)
        await bus.publish("asr", {"type": "asr.final", "call_id": call_id, "speaker": "caller", "text": "路灯不亮",
                                  "start": 0.0, "end": 1.0})
        after_call = await pushed_until_equal(ws, engine, acd, "a finished call")
        assert after_call["answered_within_15s_today"] == 2 and after_call["transcription_coverage"] == round(2 / 3, 4)
        await acd.set_status("a3", Trigger.GO_AVAILABLE)
        await acd.enqueue("c-3", "general")
        moved = await pushed_until_equal(ws, engine, acd, "agents and the queue")
        assert moved["calls_waiting"] == 2 and moved["agents"]["available"] == 2

    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert "hotline_calls_waiting 2\n" in text and 'hotline_agents{state="available"} 2\n' in text
    assert f"hotline_answered_within_15s_today {moved['answered_within_15s_today']}\n" in text

    # A call counts as answered when an agent answers it, within 15 s or not by its wait, not
    # when it ends; when it ends it still counts once.
    async with client.ws_connect("/ws/wallboard", headers=SUPERVISOR) as ws:
        before = await pushed_until_equal(ws, engine, acd, "the seed again")
        offer = await acd.claim_next_offer()
        assert offer is not None
        await acd.offer_answered(offer.call_id, offer.agent_id, waited_seconds=6.0)
        answering = await pushed_until(
            ws, lambda f: f["answered_today"] == before["answered_today"] + 1, "the answer")
        assert answering["answered_within_15s_today"] == before["answered_within_15s_today"] + 1
        await finished.finish(agent_id=offer.agent_id, queue_seconds=6.0, call_id=offer.call_id)
        done = await pushed_until_equal(ws, engine, acd, "the answered call, finished")
        assert done["answered_today"] == answering["answered_today"]

    for who in (bearer("agent", "a1"), bearer("unit", "u", "city-housing")):
        refused = await client.get("/ws/wallboard", headers=who)
        assert refused.status == 403
