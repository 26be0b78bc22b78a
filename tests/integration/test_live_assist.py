"""The live assist over real Redis and a real knowledge base: computed from the caller's words
(final and partial) on the transcribing side, throttled, and seen on the desk socket by the
agents on the call only (never on the floor's live feed, never by another agent)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from agent_desk.hub import BusDeskNotifier
from agent_desk.plugin import DeskDeps, install
from asr.assist import KnowledgeCandidate
from asr.extract import load_gazetteer
from asr.live_assist import LiveAssist
from asr.publish import with_listeners
from asr.segments import AsrEvent, CallTranscript, Segment, Speaker, TranscriptReady
from call_queue.acd import AcdStore
from hotline.assist_knowledge import knowledge_lookup
from kernel.database import open_database
from kernel.event_bus import RedisEventBus
from kernel.http_edge import new_app
from knowledge.store import KnowledgeStore, load_seed
from tests.auth_tokens import bearer, with_test_signer
from tests.conftest import REDIS_URL
from tests.integration.test_desk_socket import AcdOnlyBackend, open_desk, receive
from tickets.dispatch import load_catalogue, suggest_units

#: What the Mandarin model wrote for a neural-voice caller (tests/e2e/test_desk_assist.py).
SAID = ("以后 我 要 投诉 噪音 扰民", "晚上 工地 一直 在 施工", "家 我家 是 蒙阴县 城里 的")


def caller(call_id: str, text: str, *, final: bool = True, live: bool = True) -> Segment:
    return Segment(call_id, Speaker.CALLER, text, 0.0, 1.0, final, live=live)


def units_matcher():
    catalogue = load_catalogue()
    return lambda text, kind, district: suggest_units(catalogue, text, kind, district)


@pytest.fixture
async def knowledge(sqlite_url: str) -> AsyncIterator[KnowledgeStore]:
    engine = await open_database(sqlite_url)
    store = KnowledgeStore(engine)
    await load_seed(store)
    yield store
    await engine.dispose()


@pytest.fixture
async def floor(redis_key_prefix: str, redis_client) -> AsyncIterator[tuple[TestClient, AcdOnlyBackend, RedisEventBus]]:
    """Desks (and the floor's live feed) served by a real hub on real Redis."""
    feed = aioredis.from_url(REDIS_URL)
    bus = RedisEventBus(redis_client, redis_key_prefix)
    backend = AcdOnlyBackend(AcdStore(redis_client, redis_key_prefix, bus=bus))
    app = with_test_signer(new_app())
    install(app, DeskDeps(feed, redis_key_prefix, backend=backend, close_grace_seconds=0.5))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, backend, bus
    await feed.aclose()


def assist_for(bus: RedisEventBus, knowledge: KnowledgeStore | None, **kwargs: Any) -> LiveAssist:
    async def publish(payload: dict[str, Any]) -> None:
        await bus.publish("assist", payload)

    return LiveAssist(load_gazetteer(), units_matcher(),
                      knowledge_lookup(knowledge) if knowledge is not None else None, publish, **kwargs)


async def next_assist(ws: Any, until: Any = lambda m: True, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = await receive(ws, "assist.update", timeout)
            if until(message):
                return message


def marked(suggestion: dict[str, Any]) -> list[str]:
    return [p["text"] for s in suggestion["evidence"] for p in s["parts"] if p["mark"]]


async def test_the_agent_on_the_call_sees_the_assist_and_nobody_else_does(floor, knowledge) -> None:
    client, _, bus = floor
    mine, other = await open_desk(client, "a1"), await open_desk(client, "a2")
    live = await client.ws_connect("/ws/live", headers=bearer("agent", "a3"))
    for ws in (mine, other, live):
        await receive(ws, "desk.ready")
    await BusDeskNotifier(bus.publish).notify_agent("a1", {"type": "call.offered", "call_id": "call-1"})
    await receive(mine, "call.offered")
    assist = assist_for(bus, knowledge, interval=0.1, knowledge_interval=0.1)

    # The caller is still saying the first sentence: the partial already suggests.
    assist.hear(caller("call-1", "以后 我 要 投诉 噪音", final=False))
    first = await next_assist(mine)
    assert first["partial"] is True and first["request_type"]["value"] == "complaint"
    assert first["request_type"]["evidence"][0]["partial"] is True

    for sentence in SAID:
        assist.hear(caller("call-1", sentence))
    update = await next_assist(mine, lambda m: m["district"] is not None and m["answers"])
    assert update["partial"] is False and update["seq"] > first["seq"]
    lead = update["units"][0]
    assert (lead["unit"], lead["matter"]) == ("city-urban-management", "夜间施工与噪声扰民")
    assert "噪音扰民" in marked(lead)
    assert update["district"]["value"] == "蒙阴县" and marked(update["district"]) == ["蒙阴县"]
    assert update["street"]["value"] == "蒙阴街道"
    # The approved wording comes from the real knowledge base (published seed article).
    (answer,) = update["answers"]
    assert answer["title"] == "噪音扰民投诉渠道" and answer["approved_wording"].startswith("您好")
    assert answer["version"] >= 2 and marked(answer) == ["噪音扰民"]

    # Nobody else receives it: not another agent, not another agent's live transcript feed
    # (which shows an agent their own calls only: kernel.access_policy).
    await other.send_json({"type": "ping", "ref": "p"})
    await receive(other, "pong")
    for ws in (other, live):
        with pytest.raises(TimeoutError):
            await receive(ws, "assist.update", timeout=0.5)
    await assist.aclose()
    for ws in (mine, other, live):
        await ws.close()


async def test_a_desk_joining_after_the_caller_spoke_gets_the_last_assist(floor) -> None:
    client, backend, bus = floor
    ws = await open_desk(client, "a1")
    await receive(ws, "desk.ready")  # the hub has subscribed
    assist = assist_for(bus, None, interval=0.05)
    for sentence in SAID:  # while the caller waits in the queue
        assist.hear(caller("call-7", sentence))
    await asyncio.sleep(0.5)
    assert assist.updates >= 1

    await BusDeskNotifier(bus.publish).notify_agent("a1", {"type": "call.offered", "call_id": "call-7"})
    await receive(ws, "call.offered")
    offered = await next_assist(ws)
    assert offered["call_id"] == "call-7" and offered["district"]["value"] == "蒙阴县"
    await ws.close()

    # A reload mid-call: desk.ready restores the call, then its last assist.
    backend.calls["a1"] = {"call_id": "call-7", "caller_number": "13800000000", "answered": True}
    again = await open_desk(client, "a1")
    ready = await receive(again, "desk.ready")
    assert ready["call"]["call_id"] == "call-7"
    assert (await next_assist(again))["seq"] == offered["seq"]

    # After the call has ended, nothing of it is kept for later desks.
    await BusDeskNotifier(bus.publish).notify_agent("a1", {"type": "call.ended", "call_id": "call-7"})
    await receive(again, "call.ended")
    await again.close()
    backend.calls.clear()
    third = await open_desk(client, "a1")
    await receive(third, "desk.ready")
    await BusDeskNotifier(bus.publish).notify_agent("a1", {"type": "call.offered", "call_id": "call-7"})
    await receive(third, "call.offered")
    with pytest.raises(TimeoutError):
        await receive(third, "assist.update", timeout=0.5)
    await assist.aclose()
    await third.close()


async def test_updates_are_throttled_and_the_latest_words_win() -> None:
    sent: list[dict[str, Any]] = []
    at: list[float] = []
    searched: list[str] = []

    async def publish(payload: dict[str, Any]) -> None:
        sent.append(payload)
        at.append(time.monotonic())

    async def knowledge(query: str, district: str | None) -> list[KnowledgeCandidate]:
        searched.append(query)
        return []

    interval = 0.3
    assist = LiveAssist(load_gazetteer(), units_matcher(), knowledge, publish, interval=interval,
                        knowledge_interval=0.5)
    words = ["家", "我家", "是", "蒙阴县", "城里", "的", "晚上", "工地", "一直", "在", "施工"]
    started = time.monotonic()
    for n in range(1, len(words) + 1):  # a partial every 60 ms (5x Vosk's rate) for ~0.7 s
        assist.hear(caller("c1", " ".join(words[:n]), final=False))
        await asyncio.sleep(0.06)
    assist.hear(caller("c1", " ".join(words)))
    spoken = time.monotonic() - started
    await asyncio.sleep(interval * 2)
    assert 2 <= len(sent) <= spoken / interval + 2, [m["seq"] for m in sent]
    assert sent[-1]["partial"] is False and sent[-1]["units"][0]["matter"] == "夜间施工与噪声扰民"
    assert [m["seq"] for m in sent] == list(range(1, len(sent) + 1))
    # Never two updates closer than the interval, searches included (a few ms of reading aside).
    assert min(b - a for a, b in pairwise(at)) >= interval - 0.05, at
    assert 1 <= len(searched) <= spoken / 0.5 + 2
    assert searched[-1] == "家我家是蒙阴县城里的晚上工地一直在施工"  # the latest words were searched too
    # Nothing new said (an empty partial after the final): nothing new sent.
    count = len(sent)
    assist.hear(caller("c1", "", final=False))
    await asyncio.sleep(interval * 2)
    assert len(sent) == count
    await assist.aclose()


async def test_only_the_callers_live_words_count_and_the_call_is_forgotten_once_transcribed() -> None:
    sent: list[dict[str, Any]] = []

    async def publish(payload: dict[str, Any]) -> None:
        sent.append(payload)

    assist = LiveAssist(load_gazetteer(), units_matcher(), None, publish, interval=5.0)
    assist.hear(Segment("c2", Speaker.AGENT, "您 在 蒙阴县 吗", 0.0, 1.0, True))  # the agent's words
    assist.hear(caller("c2", "家 我家 是 蒙阴县 城里 的", live=False))  # post-call work: not live
    await asyncio.sleep(0.1)
    assert sent == [] and assist.calls == 0

    assist.hear(caller("c2", "以后 我 要 投诉 噪音 扰民"))
    await asyncio.sleep(0.1)  # the first update goes at once; the next waits for the interval
    assist.hear(caller("c2", "家 我家 是 蒙阴县 城里 的"))
    # The transcript is complete (hang-up): the last words are sent now, then the call is gone.
    assist.hear(TranscriptReady(CallTranscript("c2", ())))
    assert assist.calls == 0
    await asyncio.sleep(0.2)
    assert [m["district"] and m["district"]["value"] for m in sent] == [None, "蒙阴县"]
    await assist.aclose()


async def test_a_failing_knowledge_search_leaves_the_other_suggestions() -> None:
    sent: list[dict[str, Any]] = []
    asked: list[tuple[str, str | None]] = []

    async def publish(payload: dict[str, Any]) -> None:
        sent.append(payload)

    async def away(query: str, district: str | None) -> list[KnowledgeCandidate]:
        asked.append((query, district))
        raise ConnectionRefusedError("database away")

    assist = LiveAssist(load_gazetteer(), units_matcher(), away, publish, interval=0.05, knowledge_interval=0.05)
    for sentence in SAID:
        assist.hear(caller("c3", sentence))
        await asyncio.sleep(0.15)
    await asyncio.sleep(0.3)
    assert sent and sent[-1]["units"] and sent[-1]["district"]["value"] == "蒙阴县"
    assert sent[-1]["answers"] == [] and assist.failures >= 1
    # Searched again as the words (and the district heard) changed; never in a loop.
    assert asked[-1][1] == "蒙阴县" and len(asked) <= 2 * len(SAID)
    await assist.aclose()


async def test_a_failing_listener_never_holds_up_the_transcript() -> None:
    delivered: list[AsrEvent] = []

    def broken(_: AsrEvent) -> None:
        raise RuntimeError("listener bug")

    sink = with_listeners(delivered.append, broken)
    events = [caller("c4", f"第 {i} 句") for i in range(3)]
    for event in events:
        sink(event)
    assert delivered == events
