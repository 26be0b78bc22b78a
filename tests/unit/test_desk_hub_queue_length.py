"""Every desk shows how many callers wait (`queue.length`): the ACD's queue events carry the
count; the hub fans it out to all desks and hands the last one to a desk that joins."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from agent_desk.hub import DeskHub, DeskOutbox
from tests.unit.test_desk_hub_modes import drain


def queue_changed(waiting: object, agent_id: str | None = None) -> str:
    return json.dumps({"type": "queue.changed", "change": "enqueued", "call_id": "c1", "queue": "general",
                       "agent_id": agent_id, "waiting": waiting})


async def test_every_desk_gets_the_queue_length_and_a_joining_desk_the_last_one() -> None:
    hub = DeskHub(aioredis.from_url("redis://127.0.0.1:6379/0"), "p:")  # never used: routing only
    first, second = DeskOutbox("a1"), DeskOutbox("a2")
    hub.attach(first)
    assert drain(first) == []  # nothing known yet
    hub.attach(second)
    hub._route("agents", queue_changed(3))
    assert drain(first) == drain(second) == [{"type": "queue.length", "waiting": 3}]

    hub._route("agents", queue_changed("many"))  # not a count: the desks keep the last figure
    hub._route("agents", queue_changed(2, agent_id="a1"))  # an offer to a1: a1 also gets the event
    assert [m["type"] for m in drain(first)] == ["queue.length", "queue.changed"]
    assert drain(second) == [{"type": "queue.length", "waiting": 2}]

    late = DeskOutbox("a3")
    hub.attach(late)
    assert drain(late) == [{"type": "queue.length", "waiting": 2}]
    await hub._redis.aclose()
