"""Data push to units (临沂条例第四十二条; 北京条例第二十六条), on SQLite and PostgreSQL with real
Redis and a real HTTP receiver: the receiver gets every event of its unit's tickets (callback
evaluation included) once, in order, signed, although it fails the first attempts and the push
worker is stopped midway and a new one started; another unit's tickets never reach it, and a
confidential ticket's events carry nothing of the caller. The feed API serves the same events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.audit import AccessAudit, install_audit
from kernel.database import open_database
from kernel.errors import ConfigError
from kernel.http_edge import new_app
from kernel.leader_lease import LeaderLease
from kernel.roles import Actor, Role
from tests.auth_tokens import bearer, with_test_signer
from tests.ticket_steps import dispatched, handled, registered
from tickets.event_log import EventLogReader
from tickets.store import TicketStore
from tickets.workflow import Sign
from unit_push.delivery import Backoff, PushWorker
from unit_push.plugin import PushDeps, install
from unit_push.router import FeedRouter
from unit_push.settings import ConfiguredWebhook, read_secret
from unit_push.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from unit_push.store import PushStore

SECRET = "s" * 40
FAILING_ATTEMPTS = 2
CONFIDENTIAL_CALLER = "13600006666"
WAIT = 60  # a hang guard, not a timing assertion


@dataclass
class Receiver:
    """The unit's system: refuses the first attempts, holds the answer to `hold_at` (the
    number of the accepted push to hold) until released, records everything."""

    attempts: list[tuple[str, bool]] = field(default_factory=list)
    accepted: list[dict] = field(default_factory=list)
    bad_signatures: int = 0
    hold_at: int = 0
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    want: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        delivery = request.headers[DELIVERY_HEADER]
        if not verify(SECRET, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER],
                      time.time()):
            self.bad_signatures += 1
            return web.Response(status=401)
        if len(self.attempts) < FAILING_ATTEMPTS:
            self.attempts.append((delivery, False))
            return web.Response(status=500)
        self.attempts.append((delivery, True))
        self.accepted.append(json.loads(body))
        if len(self.accepted) == self.hold_at:
            self.held.set()
            await self.release.wait()
        if self.want and len(self.accepted) >= self.want:
            self.done.set()
        return web.Response(status=204)


@dataclass
class Push:
    store: TicketStore
    push: PushStore
    receiver: Receiver
    url: str
    redis: aioredis.Redis
    prefix: str
    engine: AsyncEngine


@pytest.fixture
async def push(database_url: str, redis_client: aioredis.Redis, redis_key_prefix: str) -> AsyncIterator[Push]:
    engine = await open_database(database_url)
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield Push(TicketStore(engine, "T01"), PushStore(engine), receiver, str(server.make_url("/hook")),
                   redis_client, redis_key_prefix, engine)
    await engine.dispose()


async def run_worker(push: Push, session: aiohttp.ClientSession) -> tuple[PushWorker, LeaderLease, asyncio.Task[None]]:
    """A push worker as a node starts it: its own router, log reader and lease."""
    engine = push.engine
    worker = PushWorker(FeedRouter(engine, EventLogReader(engine)), push.push, session,
                        backoff=Backoff(first=0.01, cap=0.05), poll_seconds=0.05, timeout_seconds=10)
    lease = LeaderLease(push.redis, f"{push.prefix}lease:unit-push", ttl_seconds=30)
    return worker, lease, asyncio.create_task(worker.run(lease.hold))


async def push_until(push: Push, session: aiohttp.ClientSession, accepted: int) -> None:
    """A new worker pushes until the receiver has accepted `accepted` events, then stops."""
    push.receiver.want = accepted
    worker, lease, task = await run_worker(push, session)
    await asyncio.wait_for(push.receiver.done.wait(), WAIT)
    worker.stop()
    await asyncio.wait_for(task, WAIT)
    await lease.release()


async def test_every_event_of_the_units_tickets_arrives_once_in_order_signed(push: Push) -> None:
    store, receiver = push.store, push.receiver
    await push.push.set_webhook("city-housing", push.url, SECRET, by="test")
    a = await registered(store, "13700003333")
    await dispatched(store, a, "city-housing")
    other = await registered(store, "13700004444")
    await dispatched(store, other, "city-ecology")
    await handled(store, a, "city-housing", "已处理")
    receiver.hold_at = 3
    async with aiohttp.ClientSession() as session:
        first, first_lease, task = await run_worker(push, session)
        await asyncio.wait_for(receiver.held.wait(), WAIT)
        first.stop()  # a deploy: the push in flight finishes and is recorded, nothing more is sent
        receiver.release.set()
        await asyncio.wait_for(task, WAIT)
        await first_lease.release()
        assert len(receiver.accepted) == 3

        confidential = await registered(store, CONFIDENTIAL_CALLER, confidential=True,
                                        callback_number="13600007777")
        await dispatched(store, confidential, "city-housing", cooperating=("city-ecology",))
        await store.transition(confidential, Sign(), Actor("zhang", Role.UNIT, "city-housing"), 3)
        await push_until(push, session, 6)

    got = [(e["ticket_no"], e["version"], e["type"]) for e in receiver.accepted]
    assert got == [(a, 3, "Dispatched"), (a, 4, "Signed"), (a, 5, "FeedbackSubmitted"), (a, 6, "CallbackRecorded"),
                   (confidential, 3, "Dispatched"), (confidential, 4, "Signed")]
    assert [e["seq"] for e in receiver.accepted] == [1, 2, 3, 4, 5, 6]
    assert {e["unit"] for e in receiver.accepted} == {"city-housing"}
    assert receiver.bad_signatures == 0
    # The refused attempts were the first push, tried again until it went through.
    assert receiver.attempts[:FAILING_ATTEMPTS + 1] == [("city-housing:1", False)] * FAILING_ATTEMPTS + [
        ("city-housing:1", True)]
    deliveries = [d for d, ok in receiver.attempts if ok]
    assert len(deliveries) == len(set(deliveries)) == 6
    assert receiver.accepted[3]["data"]["satisfaction"] == "satisfied"
    shown = json.dumps(receiver.accepted[4:], ensure_ascii=False)
    assert receiver.accepted[4]["confidential"] is True
    assert CONFIDENTIAL_CALLER not in shown and "13600007777" not in shown
    hook = await push.push.webhook("city-housing")
    assert hook.delivered_seq == 6 and hook.failures == 0


async def test_a_unit_pulls_the_same_events_from_its_feed(push: Push) -> None:
    store = push.store
    a = await registered(store, "13700003333")
    await dispatched(store, a, "city-housing", cooperating=("city-ecology",))
    await handled(store, a, "city-housing", "已处理")
    router = FeedRouter(push.engine, EventLogReader(push.engine))
    while await router.route_once():
        pass
    app = with_test_signer(new_app())
    install_audit(app, AccessAudit(push.engine))
    install(app, PushDeps(push.push, ["city-housing", "city-ecology", "city-market"]))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        housing = bearer("unit", "zhang", "city-housing")
        page = await (await client.get("/api/push/feed?after=0", headers=housing)).json()
        assert [(e["seq"], e["version"]) for e in page["events"]] == [(1, 3), (2, 4), (3, 5), (4, 6)]
        assert page["next"] == 4
        rest = await (await client.get("/api/push/feed?after=2", headers=housing)).json()
        assert [e["seq"] for e in rest["events"]] == [3, 4]
        ecology = await (await client.get("/api/push/feed", headers=bearer("unit", "li", "city-ecology"))).json()
        assert [e["type"] for e in ecology["events"]] == ["Dispatched", "Signed", "FeedbackSubmitted",
                                                          "CallbackRecorded"]
        market = await (await client.get("/api/push/feed", headers=bearer("unit", "wu", "city-market"))).json()
        assert market["events"] == []
        assert (await client.get("/api/push/feed", headers=bearer("dispatcher", "d1"))).status == 403
        # A unit manages its own webhook only; the secret is shown once, never listed.
        set_own = await client.put("/api/units/city-housing/webhook", headers=housing,
                                   json={"url": "https://unit.example/hook"})
        assert set_own.status == 200 and len((await set_own.json())["secret"]) >= 32
        listed = await (await client.get("/api/units/city-housing/webhook", headers=housing)).text()
        assert "secret" not in listed
        plain = await client.put("/api/units/city-housing/webhook", headers=housing,
                                 json={"url": "http://10.0.0.8/hook"})
        assert plain.status == 400
        other = await client.put("/api/units/city-ecology/webhook", headers=housing,
                                 json={"url": "https://unit.example/hook"})
        assert other.status == 403


async def test_a_push_cut_short_by_a_crash_is_sent_again_under_the_same_delivery_id(push: Push) -> None:
    """At least once: the receiver took the push, the backend died before recording it; the next
    worker sends it again with the same `X-Hotline-Delivery`, by which the receiver deduplicates."""
    store, receiver = push.store, push.receiver
    receiver.attempts = [("warm-up", True)] * FAILING_ATTEMPTS  # no refusals in this test
    await push.push.set_webhook("city-housing", push.url, SECRET, by="test")
    a = await registered(store, "13700003333")
    await dispatched(store, a, "city-housing")
    receiver.hold_at = 1
    async with aiohttp.ClientSession() as session:
        _, lease, task = await run_worker(push, session)
        await asyncio.wait_for(receiver.held.wait(), WAIT)
        task.cancel()  # the node dies with the push in flight
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await lease.release()
        receiver.release.set()
        assert (await push.push.webhook("city-housing")).delivered_seq == 0
        await push_until(push, session, 2)
    deliveries = [d for d, ok in receiver.attempts[FAILING_ATTEMPTS:] if ok]
    assert deliveries == ["city-housing:1", "city-housing:1"]
    assert [e["seq"] for e in receiver.accepted] == [1, 1]
    assert (await push.push.webhook("city-housing")).delivered_seq == 1


async def test_a_webhook_in_the_settings_is_written_at_start_up(push: Push, tmp_path: Path) -> None:
    secret_file = tmp_path / "housing.secret"
    secret_file.write_text(SECRET + "\n")
    hook = ConfiguredWebhook(unit="city-housing", url=push.url, secret_file=secret_file)
    app = new_app()
    configured = [(hook.unit, hook.url, read_secret(hook, secret_file))]
    install(app, PushDeps(push.push, ["city-housing"], configured=configured))
    async with TestClient(TestServer(app, host="127.0.0.1")):
        written = await push.push.webhook("city-housing")
    assert (written.url, written.secret, written.active) == (push.url, SECRET, True)
    secret_file.write_text("too-short")
    with pytest.raises(ConfigError, match="shorter than 32"):
        read_secret(hook, secret_file)
