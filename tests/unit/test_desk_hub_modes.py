"""The desk learns each speaker's transcription mode (`asr.mode`) of its call, including the
caller's, which is published before the call is offered to anyone."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from agent_desk.hub import MODES_KEPT, DeskHub, DeskOutbox


def mode(call_id: str, speaker: str, value: str, reason: str | None = None) -> str:
    return json.dumps({"type": "asr.mode", "call_id": call_id, "speaker": speaker, "mode": value,
                       "reason": reason, "at": 0.0})


def drain(outbox: DeskOutbox) -> list[dict[str, object]]:
    out = []
    while not outbox._queue.empty():
        out.append(json.loads(outbox._queue.get_nowait()))
    return out


async def test_an_offered_call_brings_its_modes_and_later_changes_follow() -> None:
    hub = DeskHub(aioredis.from_url("redis://127.0.0.1:6379/0"), "p:")  # never used: routing only
    mine, other = DeskOutbox("a7"), DeskOutbox("a8")
    hub.attach(mine)
    hub.attach(other)
    hub._route("asr", mode("c1", "caller", "post_call", "capacity"))  # before anyone has the call
    assert drain(mine) == [] and drain(other) == []

    hub._route("agent:a7", json.dumps({"type": "call.offered", "call_id": "c1"}))
    got = drain(mine)
    assert [m["type"] for m in got] == ["call.offered", "asr.mode"]
    assert got[1]["speaker"] == "caller" and got[1]["mode"] == "post_call" and got[1]["reason"] == "capacity"

    hub._route("asr", mode("c1", "caller", "live"))  # capacity freed: back to live
    hub._route("asr", mode("c1", "agent", "live"))
    assert [(m["speaker"], m["mode"]) for m in drain(mine)] == [("caller", "live"), ("agent", "live")]
    assert drain(other) == []

    hub._route("agent:a7", json.dumps({"type": "call.answered", "call_id": "c1"}))  # e.g. a reload
    assert [(m["type"], m.get("speaker"), m.get("mode")) for m in drain(mine)] == [
        ("call.answered", None, None), ("asr.mode", "caller", "live"), ("asr.mode", "agent", "live")]
    await hub._redis.aclose()


async def test_remembered_modes_are_bounded() -> None:
    hub = DeskHub(aioredis.from_url("redis://127.0.0.1:6379/0"), "p:")
    for i in range(MODES_KEPT + 10):
        hub._route("asr", mode(f"c{i}", "caller", "live"))
    assert hub.footprint()["call_modes"] == MODES_KEPT
    await hub._redis.aclose()
