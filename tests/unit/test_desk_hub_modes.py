"""The desk learns each speaker's transcription mode (`asr.mode`) of its call, including the
caller's, which is published before the call is offered to anyone, and the call's last live
assist (`assist.update`)."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from agent_desk.hub import ASSISTS_KEPT, MODES_KEPT, DeskHub, DeskOutbox


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


def assist(call_id: str, seq: int) -> str:
    return json.dumps({"type": "assist.update", "call_id": call_id, "seq": seq, "units": []})


async def test_the_last_assist_follows_an_offer_until_the_call_ends_and_is_bounded() -> None:
    hub = DeskHub(aioredis.from_url("redis://127.0.0.1:6379/0"), "p:")
    mine = DeskOutbox("a7")
    hub.attach(mine)
    hub._route("assist", assist("c1", 1))
    hub._route("assist", assist("c1", 2))  # each update is complete: only the last is kept
    hub._route("asr", mode("c1", "caller", "live"))
    hub._route("agent:a7", json.dumps({"type": "call.offered", "call_id": "c1"}))
    assert [(m["type"], m.get("seq")) for m in drain(mine)] == [
        ("call.offered", None), ("asr.mode", None), ("assist.update", 2)]
    hub._route("assist", assist("c1", 3))
    assert [m["seq"] for m in drain(mine)] == [3]

    hub._route("agent:a7", json.dumps({"type": "call.ended", "call_id": "c1"}))
    drain(mine)
    assert hub.footprint()["call_assists"] == 0
    for i in range(ASSISTS_KEPT + 10):
        hub._route("assist", assist(f"c{i}", 1))
    assert hub.footprint()["call_assists"] == ASSISTS_KEPT
    assert drain(mine) == []  # nobody follows those calls
    await hub._redis.aclose()
