"""Live transcript segments published on any node reach the live feed: over its websocket, and on
the page in a real browser (Debian's chromium driven by Playwright), signed in on the sign-in page.
The feed shows a supervisor every call and an agent only their own (`kernel.access_policy`), and
writes one audit row per call per socket before the first words leave."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import plugin as accounts_plugin
from accounts.store import AccountStore
from accounts.throttle import SignInThrottle, ThrottleLimits
from agent_desk.hub import BusDeskNotifier
from agent_desk.plugin import DeskDeps, install
from asr.segments import Segment, Speaker
from kernel.audit import AccessAudit, AccessKind, AuditQuery
from kernel.database import open_database
from kernel.event_bus import RedisEventBus
from kernel.http_edge import new_app
from kernel.sessions import SessionLimits
from tests.auth_tokens import bearer, with_test_signer
from tests.browser_harness import wait_for
from tests.conftest import REDIS_URL
from tests.page_sign_in import CHEAP, AddressLog, add_person, sign_in

AGENT = bearer("agent", "agent7")
SUPERVISOR = bearer("supervisor", "sup1")
CALL = "c0ffee00-1234"


def desk_app(prefix: str, engine: AsyncEngine, *, sign_in: bool = False) -> web.Application:
    """The live feed, audited in `engine`; with `sign_in`, people sign in to its page too."""
    app = with_test_signer(new_app())
    redis = aioredis.from_url(REDIS_URL)
    if sign_in:
        accounts_plugin.install(app, accounts_plugin.AccountsDeps(
            AccountStore(engine), CHEAP, SignInThrottle(redis, prefix, ThrottleLimits(5, 50, timedelta(minutes=15))),
            SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12))))
    install(app, DeskDeps(redis, prefix, audit=AccessAudit(engine)))

    async def close_redis(_: web.Application) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    app.cleanup_ctx.append(close_redis)
    return app


def segment(text: str, final: bool, call_id: str = CALL) -> Segment:
    return Segment(call_id=call_id, speaker=Speaker.CALLER, text=text, start=0.5,
                   end=2.0, final=final, confidence=0.9)


async def offer(bus: RedisEventBus, agent_id: str, call_id: str = CALL) -> None:
    """The call is offered to the agent's desk (what makes it their own). Published before the
    segments, on the same Redis server: one subscriber connection receives them in that order."""
    await BusDeskNotifier(bus.publish).notify_agent(agent_id, {"type": "call.offered", "call_id": call_id})


async def test_desk_websocket_receives_live_segments(redis_client, redis_key_prefix: str, sqlite_url: str) -> None:
    bus = RedisEventBus(redis_client, redis_key_prefix)
    engine = await open_database(sqlite_url)
    async with TestClient(TestServer(desk_app(redis_key_prefix, engine))) as client:
        ws = await client.ws_connect("/ws/live", headers=AGENT)
        assert (await ws.receive_json(timeout=5))["type"] == "desk.ready"
        await offer(bus, "agent7")
        started = asyncio.get_running_loop().time()
        await bus.publish_event(segment("小区 噪音", final=True))
        event = await ws.receive_json(timeout=5)
        latency = asyncio.get_running_loop().time() - started
        assert event["type"] == "asr.final" and event["text"] == "小区 噪音"
        assert event["speaker"] == "caller" and event["call_id"] == "c0ffee00-1234"
        print(f"publish -> desk websocket: {latency * 1000:.1f} ms")
        await ws.close()
    await engine.dispose()


async def test_an_agent_sees_only_their_own_calls_a_supervisor_every_call_each_audited_once(
    redis_client, redis_key_prefix: str, sqlite_url: str,
) -> None:
    bus = RedisEventBus(redis_client, redis_key_prefix)
    engine = await open_database(sqlite_url)
    async with TestClient(TestServer(desk_app(redis_key_prefix, engine))) as client:
        agent = await client.ws_connect("/ws/live", headers=AGENT)
        floor = await client.ws_connect("/ws/live", headers=SUPERVISOR)
        for ws in (agent, floor):
            assert (await ws.receive_json(timeout=5))["type"] == "desk.ready"
        await offer(bus, "agent7", "mine")
        for text, call_id in (("别人的", "theirs"), ("我的", "mine"), ("我的 第二句", "mine")):
            await bus.publish_event(segment(text, final=True, call_id=call_id))
        assert [(await agent.receive_json(timeout=5))["text"] for _ in range(2)] == ["我的", "我的 第二句"]
        assert [(await floor.receive_json(timeout=5))["call_id"] for _ in range(3)] == ["theirs", "mine", "mine"]
        with pytest.raises(TimeoutError):
            await agent.receive_json(timeout=0.5)
        for ws in (agent, floor):
            await ws.close()
    rows = await AccessAudit(engine).search(AuditQuery(kind=AccessKind.TRANSCRIPT))
    assert sorted((r.actor, r.call_id, r.detail) for r in rows) == [
        ("agent7", "mine", "live transcript"), ("sup1", "mine", "live transcript"),
        ("sup1", "theirs", "live transcript")]
    await engine.dispose()


async def test_live_feed_refuses_anonymous_units_and_forged_tokens(redis_key_prefix: str, sqlite_url: str) -> None:
    forged = AGENT["Authorization"][:-4] + "AAAA"
    engine = await open_database(sqlite_url)
    async with TestClient(TestServer(desk_app(redis_key_prefix, engine))) as client:
        for headers, status in (({}, 401), ({"Authorization": forged}, 401),
                                (bearer("unit", "zhang", "city-housing"), 403),
                                (bearer("dispatcher", "d1"), 403)):
            response = await client.get("/ws/live", headers={
                **headers, "Connection": "Upgrade", "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            assert response.status == status, await response.text()
            assert (await response.json())["error"] in ("unauthenticated", "permission_denied")
    await engine.dispose()


async def test_desk_page_shows_the_callers_words_in_a_real_browser(
    redis_client, redis_key_prefix: str, sqlite_url: str,
) -> None:
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    bus = RedisEventBus(redis_client, redis_key_prefix)
    engine = await open_database(sqlite_url)
    await add_person(engine, "agent7", "agent")
    server = TestServer(desk_app(redis_key_prefix, engine, sign_in=True), host="127.0.0.1")
    await server.start_server()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = await browser.new_page()
            addresses = AddressLog().watch(page)
            await sign_in(page, f"http://127.0.0.1:{server.port}", "/live", "agent7")
            await wait_for(page, "document.getElementById('status').textContent.includes('已连接')")
            await offer(bus, "agent7")
            await bus.publish_event(segment("我要 投诉", final=False))
            await page.wait_for_selector(".line.caller.partial")
            await bus.publish_event(segment("我要 投诉 小区 噪音", final=True))
            await wait_for(page,
                "document.querySelector('.line.caller:not(.partial) .text')?.textContent === '我要 投诉 小区 噪音'")
            lines = await page.locator(".line").all_text_contents()
            assert lines == ["来电人：我要 投诉 小区 噪音"], json.dumps(lines, ensure_ascii=False)
            assert f"ws://127.0.0.1:{server.port}/ws/live" in addresses.addresses
            assert addresses.with_tokens() == [], addresses.with_tokens()
            await browser.close()
    finally:
        await server.close()
        await engine.dispose()
