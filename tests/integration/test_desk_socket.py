"""The desk websocket over real Redis: typed errors that never close it, events per person,
and a reconnect that restores the agent's call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from agent_desk.hub import BusDeskNotifier
from agent_desk.plugin import DeskDeps, install
from agent_desk.ports import DeskError
from call_queue.acd import AcdStore
from call_queue.agent_state import BreakReason, Trigger
from hotline.desk_backend import agent_json, sign_out_idle_agent
from kernel.errors import NotFound
from kernel.event_bus import RedisEventBus
from kernel.http_edge import new_app
from tests.auth_tokens import bearer, with_test_signer
from tests.conftest import REDIS_URL


class AcdOnlyBackend:
    """The desk's port over the real ACD store; calls are whatever the test says."""

    def __init__(self, acd: AcdStore) -> None:
        self.acd = acd
        self.calls: dict[str, dict[str, Any]] = {}
        #: The units rung into calls (三方连线), as (call id, unit).
        self.rung: list[tuple[str, str]] = []

    async def sign_in(self, agent_id: str) -> dict[str, Any]:
        try:
            state = await self.acd.agent(agent_id)
        except NotFound:
            state = None
        if state is None or state.status.value == "offline":
            await self.acd.sign_in(agent_id)
            state = await self.acd.set_status(agent_id, Trigger.TAKE_BREAK, reason=BreakReason.REST)
        return agent_json(state)

    async def agent_view(self, agent_id: str) -> dict[str, Any]:
        return agent_json(await self.acd.agent(agent_id))

    async def set_status(self, agent_id: str, status: str, reason: str | None) -> dict[str, Any]:
        trigger = Trigger.GO_AVAILABLE if status == "available" else Trigger.TAKE_BREAK
        return agent_json(await self.acd.set_status(agent_id, trigger,
                                                    reason=BreakReason(reason) if reason else None))

    async def softphone(self, agent_id: str) -> dict[str, Any]:
        if agent_id == "nophone":
            raise DeskError("unavailable", "话机账号暂时无法开通，请稍后重试")
        return {"ws_url": "ws://127.0.0.1:1/ws", "sip_uri": f"sip:agent-{agent_id}@127.0.0.1",
                "username": f"agent-{agent_id}", "password": "x", "endpoint": f"agent-{agent_id}"}

    async def current_call(self, agent_id: str) -> dict[str, Any] | None:
        return self.calls.get(agent_id)

    async def hangup(self, agent_id: str, call_id: str) -> None:
        raise DeskError("not_found", "没有这通电话")

    async def hold(self, agent_id: str, call_id: str, on: bool) -> None:
        raise DeskError("not_found", "没有这通电话")

    async def three_way(self, agent_id: str, call_id: str, unit: str) -> None:
        self.rung.append((call_id, unit))

    async def wrap_up(self, agent_id: str, call_id: str, *, no_new_content: bool,
                      harassment: bool, note: str) -> dict[str, Any]:
        raise DeskError("not_allowed", "当前不在话后处理状态")

    async def softphone_ended(self, agent_id: str) -> None:
        return None

    async def desk_closed(self, agent_id: str) -> None:
        await sign_out_idle_agent(self.acd, agent_id)  # the real rule


@pytest.fixture
async def desk(redis_key_prefix: str, redis_client) -> AsyncIterator[tuple[TestClient, AcdOnlyBackend, RedisEventBus]]:
    feed = aioredis.from_url(REDIS_URL)
    bus = RedisEventBus(redis_client, redis_key_prefix)
    backend = AcdOnlyBackend(AcdStore(redis_client, redis_key_prefix, bus=bus))
    app = with_test_signer(new_app())
    install(app, DeskDeps(feed, redis_key_prefix, backend=backend, close_grace_seconds=0.5))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, backend, bus
    await feed.aclose()


async def receive(ws: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of `kind` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            assert message.type is WSMsgType.TEXT, message
            data = message.json()
            if data["type"] == kind:
                return dict(data)


async def open_desk(client: TestClient, agent: str) -> Any:
    return await client.ws_connect("/ws/desk", headers=bearer("agent", agent))


async def test_bad_messages_get_typed_errors_and_the_socket_stays_open(desk) -> None:
    client, _, _ = desk
    ws = await open_desk(client, "a1")
    ready = await receive(ws, "desk.ready")
    assert ready["version"] == 1 and ready["agent"]["status"] == "break"
    for raw, code in (("{oops", "malformed"), ('{"type": "steal"}', "unknown_type"),
                      ('{"type": "call.hold", "call_id": "c", "ref": "r1"}', "invalid"),
                      ('{"type": "call.wrap_up", "call_id": "c", "ref": "r2"}', "not_allowed"),
                      ('{"type": "call.hangup", "call_id": "not-mine", "ref": "r3"}', "not_found"),
                      ('{"type": "call.wrap_up", "call_id": "c", "note": "' + "x" * 20_000 + '"}',
                       "too_large")):
        await ws.send_str(raw)
        error = await receive(ws, "error")
        assert error["code"] == code, (raw[:40], error)
    await ws.send_bytes(b"\x00\x01")
    assert (await receive(ws, "error"))["code"] == "malformed"
    await ws.send_json({"type": "ping", "ref": "p"})
    assert (await receive(ws, "pong"))["ref"] == "p"
    await ws.send_json({"type": "agent.set_status", "status": "available", "ref": "s"})
    ack = await receive(ws, "ack")
    assert ack["ref"] == "s" and ack["agent"]["status"] == "available"
    await ws.close()


async def test_no_unit_is_rung_into_a_call_without_the_callers_consent(desk) -> None:
    """临沂条例第十四条: 征得诉求人同意 before a three-way call; the desk's own check is not trusted."""
    client, backend, _ = desk
    ws = await open_desk(client, "a1")
    await receive(ws, "desk.ready")
    await ws.send_json({"type": "call.three_way", "call_id": "c1", "unit": "city-housing", "ref": "t1"})
    error = await receive(ws, "error")
    assert (error["code"], error["ref"]) == ("not_allowed", "t1") and "同意" in error["message"]
    assert backend.rung == []
    await ws.send_json({"type": "call.three_way", "call_id": "c1", "unit": "city-housing",
                        "caller_consented": True, "ref": "t2"})
    assert (await receive(ws, "ack"))["ref"] == "t2"
    assert backend.rung == [("c1", "city-housing")]
    await ws.close()


async def test_each_agent_receives_only_their_own_calls_and_words(desk) -> None:
    client, _, bus = desk
    one, two = await open_desk(client, "a1"), await open_desk(client, "a2")
    await receive(one, "desk.ready")
    await receive(two, "desk.ready")
    notifier = BusDeskNotifier(bus.publish)
    await notifier.notify_agent("a1", {"type": "call.offered", "call_id": "call-1"})
    await notifier.notify_agent("a2", {"type": "call.offered", "call_id": "call-2"})
    assert (await receive(one, "call.offered"))["call_id"] == "call-1"
    assert (await receive(two, "call.offered"))["call_id"] == "call-2"
    await bus.publish("asr", {"type": "asr.final", "call_id": "call-2", "text": "二号的话"})
    await bus.publish("asr", {"type": "asr.final", "call_id": "call-1", "text": "一号的话"})
    assert (await receive(one, "asr.final"))["text"] == "一号的话"
    assert (await receive(two, "asr.final"))["text"] == "二号的话"
    # Each got exactly their own: a1's next transcript line is a1's again.
    await bus.publish("asr", {"type": "asr.final", "call_id": "call-1", "text": "再说一句"})
    assert (await receive(one, "asr.final"))["text"] == "再说一句"
    await one.close()
    await two.close()


async def test_a_reconnect_restores_the_call_and_its_transcript(desk) -> None:
    client, backend, bus = desk
    backend.calls["a1"] = {"call_id": "call-9", "caller_number": "13800000000", "answered": True}
    ws = await open_desk(client, "a1")
    ready = await receive(ws, "desk.ready")
    assert ready["call"]["call_id"] == "call-9"
    await bus.publish("asr", {"type": "asr.final", "call_id": "call-9", "text": "还在通话"})
    assert (await receive(ws, "asr.final"))["text"] == "还在通话"
    await ws.close()


async def test_an_agent_whose_desk_closes_is_signed_out_unless_it_comes_back(desk) -> None:
    client, backend, _ = desk
    ws = await open_desk(client, "a1")
    await receive(ws, "desk.ready")
    await ws.send_json({"type": "agent.set_status", "status": "available"})
    await receive(ws, "ack")
    await ws.close()
    again = await open_desk(client, "a1")  # a reload, within the grace period
    assert (await receive(again, "desk.ready"))["agent"]["status"] == "available"
    await asyncio.sleep(0.8)
    assert (await backend.acd.agent("a1")).status.value == "available"
    await again.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (await backend.acd.agent("a1")).status.value != "offline":
        assert loop.time() < deadline, "the agent was not signed out after their desk closed"
        await asyncio.sleep(0.1)


async def test_a_desk_that_cannot_get_ready_gets_an_error_frame_and_a_clean_close(desk) -> None:
    client, _, _ = desk
    ws = await open_desk(client, "nophone")
    error = await receive(ws, "error")
    assert error["code"] == "unavailable"
    closing = await ws.receive()
    assert closing.type is WSMsgType.CLOSE and ws.close_code == 1013  # try again later
