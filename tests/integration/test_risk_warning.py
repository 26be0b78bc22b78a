"""The live risk warning (临沂条例第四十一条), on SQLite and PostgreSQL with real Redis: 8 calls
about one street's water within 20 minutes raise exactly one warning, on the event bus and in
the list, as the tickets come in; the same 8 spread over a month raise none; a unit sees the
warnings that concern it without the tickets' numbers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from asr.gazetteer import load_gazetteer
from hotline.hotspots import hotspot_finder
from kernel.database import open_database
from kernel.event_bus import RedisEventBus
from kernel.http_edge import new_app
from kernel.schema import risk_intake
from risk_warning.detector import RiskDetector
from risk_warning.plugin import RiskDeps, install
from risk_warning.policy import Thresholds
from risk_warning.store import RISK_TOPIC, RiskWarnings
from tests.auth_tokens import bearer, with_test_signer
from tests.ticket_steps import registered
from tickets.dispatch import load_catalogue
from tickets.event_log import EventLogReader
from tickets.store import TicketStore

START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
WATER = "家里水龙头一滴水都没有，停水了"
THRESHOLDS = Thresholds()  # the defaults config/hotline.toml carries


@dataclass
class Detection:
    store: TicketStore
    detector: RiskDetector
    warnings: RiskWarnings
    bus: RedisEventBus
    redis: aioredis.Redis
    now: list[datetime]
    engine: AsyncEngine


@pytest.fixture
async def detection(database_url: str, redis_client: aioredis.Redis, redis_key_prefix: str) -> AsyncIterator[Detection]:
    engine = await open_database(database_url)
    now = [START]
    store = TicketStore(engine, "T01", clock=lambda: now[0])
    bus = RedisEventBus(redis_client, redis_key_prefix)
    detector = RiskDetector(engine, EventLogReader(engine), hotspot_finder(load_gazetteer(), load_catalogue()),
                            THRESHOLDS, bus.publish, clock=lambda: now[0])
    yield Detection(store, detector, RiskWarnings(engine), bus, redis_client, now, engine)
    await engine.dispose()


async def caught_up(detector: RiskDetector) -> None:
    while await detector.detect_once():
        pass


async def test_eight_calls_about_one_streets_water_in_twenty_minutes_raise_one_warning(detection: Detection) -> None:
    pubsub = detection.redis.pubsub()
    await pubsub.subscribe(detection.bus.channel(RISK_TOPIC))
    warned_after: list[int] = []
    for n in range(8):
        detection.now[0] = START + timedelta(minutes=20 * n / 7)
        await registered(detection.store, f"1370000{n:04d}", summary="停水", content=WATER,
                         location="银雀山街道书院小区", district="兰山区")
        await caught_up(detection.detector)  # live: the detector reads each ticket as it comes
        if await detection.warnings.recent():
            warned_after.append(n + 1)
    warnings = await detection.warnings.recent()
    assert len(warnings) == 1
    assert warned_after[0] == THRESHOLDS.min_count  # raised by the ticket that tipped it
    warning = warnings[0]
    assert (warning.district, warning.street, warning.topic) == ("兰山区", "银雀山街道", "城市供水")
    assert warning.count == THRESHOLDS.min_count and set(warning.units) == {"utility-water", "gov-lanshan"}
    # A marker published after the detector's work ends the reading: what came before it on the
    # channel is everything the detector published (one channel keeps its order).
    await detection.bus.publish(RISK_TOPIC, {"type": "test.end"})
    messages: list[dict] = []

    async def read_to_marker() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                payload = json.loads(message["data"])
                if payload["type"] == "test.end":
                    return
                messages.append(payload)

    await asyncio.wait_for(read_to_marker(), 60)  # a hang guard, not a timing assertion
    await pubsub.aclose()
    assert [m["type"] for m in messages] == ["risk.warning"] and messages[0]["id"] == warning.id


async def test_the_same_eight_calls_spread_over_a_month_raise_none(detection: Detection) -> None:
    for n in range(8):
        detection.now[0] = START + timedelta(days=30 * n / 7)
        await registered(detection.store, f"1370000{n:04d}", summary="停水", content=WATER,
                         location="银雀山街道书院小区", district="兰山区")
    await caught_up(detection.detector)
    assert await detection.warnings.recent() == []
    async with detection.engine.connect() as conn:  # the first call is past any baseline now
        assert await conn.scalar(select(func.count()).select_from(risk_intake)) == 7


async def test_calls_about_other_streets_or_matters_do_not_add_up(detection: Detection) -> None:
    places = ["银雀山街道", "柳青街道", "南坊街道"]
    for n in range(9):
        detection.now[0] = START + timedelta(minutes=n)
        content = WATER if n % 2 else "小区门口的路灯坏了不亮"
        await registered(detection.store, f"1370000{n:04d}", summary="反映问题", content=content,
                         location=places[n % 3], district="兰山区")
    await caught_up(detection.detector)
    assert await detection.warnings.recent() == []


async def test_a_streets_usual_level_does_not_warn_but_a_surge_above_it_does(detection: Detection) -> None:
    # Small numbers, same rule: 6-hour windows, 2 days of baseline (7 windows before the current).
    thresholds = Thresholds(window=timedelta(hours=6), min_count=6, ratio=4.0, baseline=timedelta(days=2))
    engine = detection.engine
    detector = RiskDetector(engine, EventLogReader(engine), hotspot_finder(load_gazetteer(), load_catalogue()),
                            thresholds, detection.bus.publish, clock=lambda: detection.now[0])

    async def calls(count: int, first: datetime, every: timedelta, prefix: str) -> None:
        for n in range(count):
            detection.now[0] = first + every * n
            await registered(detection.store, f"{prefix}{n:04d}", summary="水压低", content=WATER,
                             location="柳青街道", district="兰山区")
        await caught_up(detector)

    # A street that calls about water every 3 hours: 14 calls in a baseline, 2 per window...
    await calls(16, START, timedelta(hours=3), "1370000")
    surge = START + timedelta(hours=48, minutes=1)
    # ...then 6 in 2 hours: 7 in the window with the one of before, above min_count, but under
    # 4 times its usual 2: a busy spell of a street that often calls, no warning.
    await calls(6, surge, timedelta(minutes=20), "1380000")
    assert await detection.warnings.recent() == []
    # One more: 8 in the window, 4 times its usual level: a warning.
    await calls(1, surge + timedelta(minutes=120), timedelta(0), "1390000")
    assert [(w.street, w.count, w.baseline) for w in await detection.warnings.recent()] == [("柳青街道", 8, 2.0)]


async def test_the_warnings_list_shows_units_theirs_without_ticket_numbers(detection: Detection) -> None:
    for n in range(6):
        detection.now[0] = START + timedelta(minutes=n)
        await registered(detection.store, f"1370000{n:04d}", summary="停水", content=WATER,
                         location="银雀山街道", district="兰山区")
    await caught_up(detection.detector)
    app = with_test_signer(new_app())
    install(app, RiskDeps(detection.warnings))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        supervisor = await (await client.get("/api/risk-warnings", headers=bearer("supervisor", "s1"))).json()
        assert len(supervisor["warnings"]) == 1 and len(supervisor["warnings"][0]["ticket_nos"]) == 6
        water = await (await client.get("/api/risk-warnings", headers=bearer("unit", "w", "utility-water"))).json()
        assert len(water["warnings"]) == 1 and "ticket_nos" not in water["warnings"][0]
        market = await (await client.get("/api/risk-warnings", headers=bearer("unit", "m", "city-market"))).json()
        assert market["warnings"] == []
        assert (await client.get("/api/risk-warnings", headers=bearer("agent", "a1"))).status == 403
        page = await client.get("/risk", headers=bearer("supervisor", "s1"), allow_redirects=False)
        assert page.status == 200 and "风险预警" in await page.text()
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert (await client.get("/risk", allow_redirects=False)).status == 303  # sign in first
        assert (await client.get("/risk-warning/risk.js")).status == 200
