"""The call distributor against real Redis: offers, missed offers, skills, restarts, concurrent
nodes, positions, events, and the Lua claim checked against the pure policy on random states."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from call_queue.acd import AcdStore
from call_queue.agent_state import AgentPolicy, AgentState, AgentStatus, BreakReason, Skill, Trigger
from call_queue.queue_policy import Offer, Queue, next_offer
from kernel.clock import FixedClock
from kernel.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from kernel.event_bus import RedisEventBus

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SENIOR = (Skill.GENERAL, Skill.SENIOR)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def store(redis_client: aioredis.Redis, redis_key_prefix: str, clock: FixedClock) -> AcdStore:
    return AcdStore(redis_client, redis_key_prefix, clock=clock)


@pytest.fixture
async def other_node(redis_key_prefix: str, clock: FixedClock) -> AsyncIterator[AcdStore]:
    """A second backend node: its own Redis connection, the same keys."""
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield AcdStore(client, redis_key_prefix, clock=clock)
    finally:
        await client.aclose()


async def sign_in_in_order(store: AcdStore, clock: FixedClock, *agent_ids: str,
                           skills: tuple[Skill, ...] = (Skill.GENERAL,)) -> None:
    """Sign agents in one second apart: the first named has been idle the longest."""
    for agent_id in agent_ids:
        await store.sign_in(agent_id, skills)
        clock.advance(timedelta(seconds=1))


async def enqueue_in_order(store: AcdStore, clock: FixedClock, *call_ids: str,
                           queue: Queue = Queue.GENERAL) -> None:
    for call_id in call_ids:
        await store.enqueue(call_id, queue)
        clock.advance(timedelta(seconds=1))


async def consistent(store: AcdStore) -> None:
    """Agents and calls agree: every ringing agent's call rings that agent, and only those."""
    agents = await store.agents()
    waiting = {c.call_id for c in await store.queued()}
    for a in agents:
        if a.status is AgentStatus.RINGING:
            assert a.call_id is not None and a.call_id not in waiting
            with pytest.raises(NotFound, match="ringing"):
                await store.position(a.call_id)
    ringing = [a.call_id for a in agents if a.status is AgentStatus.RINGING]
    assert len(ringing) == len(set(ringing))


# ------------------------------------------------------------------------ agents


async def test_signed_in_agents_are_available_with_their_skills(store: AcdStore, clock: FixedClock) -> None:
    state = await store.sign_in("senior1", SENIOR)
    assert state == AgentState(agent_id="senior1", status=AgentStatus.AVAILABLE, since=START,
                               skills=frozenset(SENIOR), idle_since=START)
    assert await store.agent("senior1") == state
    await store.sign_in("agent2")
    assert [a.agent_id for a in await store.agents()] == ["agent2", "senior1"]


async def test_agent_changes_follow_the_state_machine(store: AcdStore, clock: FixedClock) -> None:
    await store.sign_in("a1")
    with pytest.raises(IllegalTransition) as refused:
        await store.sign_in("a1")
    assert refused.value.context["agent_id"] == "a1"
    clock.advance(timedelta(minutes=1))
    on_break = await store.set_status("a1", Trigger.TAKE_BREAK, reason=BreakReason.MEAL)
    assert (on_break.status, on_break.break_reason, on_break.since) == (
        AgentStatus.BREAK, BreakReason.MEAL, START + timedelta(minutes=1))
    with pytest.raises(IllegalTransition):
        await store.set_status("a1", Trigger.WRAP_UP_DONE)
    assert await store.agent("a1") == on_break
    await store.set_status("a1", Trigger.SIGN_OUT)
    again = await store.sign_in("a1", SENIOR)  # a new shift may bring new skills
    assert again.skills == frozenset(SENIOR)


async def test_call_triggers_and_bad_input_are_refused_with_context(store: AcdStore) -> None:
    await store.sign_in("a1")
    with pytest.raises(InvalidInput):
        await store.set_status("a1", Trigger.OFFER)
    with pytest.raises(NotFound):
        await store.agent("nobody")
    with pytest.raises(NotFound):
        await store.set_status("nobody", Trigger.GO_AVAILABLE)
    with pytest.raises(InvalidInput):
        await store.sign_in("a:1")
    with pytest.raises(InvalidInput):
        await store.sign_in("a2", ["supervisor"])
    with pytest.raises(InvalidInput):
        await store.enqueue("c1", "vip")
    await store.enqueue("c1", Queue.GENERAL)
    with pytest.raises(Conflict):
        await store.enqueue("c1", Queue.GENERAL)


# ------------------------------------------------------------------------ offers


async def test_offers_go_to_the_longest_idle_agent(store: AcdStore, clock: FixedClock) -> None:
    await sign_in_in_order(store, clock, "first", "second", "third")
    await store.set_status("first", Trigger.TAKE_BREAK, reason=BreakReason.REST)
    await store.set_status("first", Trigger.GO_AVAILABLE)  # back: now idle the shortest
    await enqueue_in_order(store, clock, "c1", "c2", "c3")
    offers = [await store.claim_next_offer() for _ in range(4)]
    assert offers == [Offer("c1", "second"), Offer("c2", "third"), Offer("c3", "first"), None]
    ringing = await store.agent("second")
    assert (ringing.status, ringing.call_id, ringing.since) == (AgentStatus.RINGING, "c1", clock.now)
    assert await store.queued() == []
    await consistent(store)


async def test_a_missed_offer_moves_on_and_marks_the_agent_not_ready(store: AcdStore, clock: FixedClock) -> None:
    await sign_in_in_order(store, clock, "slow", "quick")
    await enqueue_in_order(store, clock, "c1", "c2")
    queued_before = await store.queued()
    assert await store.claim_next_offer() == Offer("c1", "slow")
    assert await store.claim_next_offer() == Offer("c2", "quick")
    clock.advance(timedelta(seconds=20))
    missed = await store.offer_missed("c1", "slow")
    assert (missed.status, missed.break_reason, missed.call_id) == (AgentStatus.BREAK, BreakReason.NO_ANSWER, None)
    # Back at its original place, with its original arrival time, never again for "slow".
    [again] = await store.queued()
    assert (again.call_id, again.enqueued_at, again.declined_by) == ("c1", queued_before[0].enqueued_at,
                                                                     frozenset({"slow"}))
    assert await store.position("c1") == 1
    await store.enqueue("c3", Queue.GENERAL)
    assert await store.position("c3") == 2
    # "slow" is not ready: nothing is offered to it, even though c1 waits.
    assert await store.claim_next_offer() is None
    await store.set_status("slow", Trigger.GO_AVAILABLE)
    assert await store.claim_next_offer() == Offer("c3", "slow")  # c1 skips the agent who missed it
    await store.offer_answered("c2", "quick")
    await store.call_ended("quick")
    await store.set_status("quick", Trigger.WRAP_UP_DONE)
    assert await store.claim_next_offer() == Offer("c1", "quick")
    await consistent(store)


async def test_a_declined_offer_is_a_missed_offer(store: AcdStore, clock: FixedClock) -> None:
    await sign_in_in_order(store, clock, "a1", "a2")
    await store.enqueue("c1", Queue.GENERAL)
    assert await store.claim_next_offer() == Offer("c1", "a1")
    declined = await store.offer_missed("c1", "a1", declined=True)
    assert declined.break_reason is BreakReason.NO_ANSWER
    assert await store.claim_next_offer() == Offer("c1", "a2")


async def test_only_the_agent_rung_can_answer_or_miss_the_offer(store: AcdStore, clock: FixedClock) -> None:
    await sign_in_in_order(store, clock, "a1", "a2")
    await store.enqueue("c1", Queue.GENERAL)
    await store.claim_next_offer()
    with pytest.raises(IllegalTransition):
        await store.offer_answered("c1", "a2")
    with pytest.raises(IllegalTransition):
        await store.offer_missed("c1", "a2")
    with pytest.raises(IllegalTransition) as refused:
        await store.offer_answered("c-old", "a1")  # a late answer to an earlier offer
    assert refused.value.context["rule"] == "other_call"
    assert (await store.agent("a1")).status is AgentStatus.RINGING


async def test_answer_call_end_and_wrap_up(store: AcdStore, clock: FixedClock) -> None:
    await store.sign_in("a1")
    await store.enqueue("c1", Queue.GENERAL)
    await store.claim_next_offer()
    on_call = await store.offer_answered("c1", "a1")
    assert (on_call.status, on_call.call_id) == (AgentStatus.ON_CALL, "c1")
    with pytest.raises(NotFound):
        await store.position("c1")  # the call is the agent's now, no longer queued
    clock.advance(timedelta(minutes=4))
    wrap_up = await store.call_ended("a1")
    assert (wrap_up.status, wrap_up.call_id) == (AgentStatus.AFTER_CALL_WORK, "c1")
    clock.advance(timedelta(seconds=30))
    done = await store.set_status("a1", Trigger.WRAP_UP_DONE)
    assert (done.status, done.idle_since) == (AgentStatus.AVAILABLE, clock.now)


async def test_a_caller_hanging_up_while_the_desk_rings_frees_the_agent(store: AcdStore, clock: FixedClock) -> None:
    await sign_in_in_order(store, clock, "a1", "a2")
    await enqueue_in_order(store, clock, "c1", "c2")
    await store.claim_next_offer()
    await store.dequeue("c1")  # hung up while ringing a1
    back = await store.agent("a1")
    assert (back.status, back.call_id, back.idle_since) == (AgentStatus.AVAILABLE, None, START)
    assert await store.claim_next_offer() == Offer("c2", "a1")  # kept its place in the idle line
    await store.call_ended("a1")  # the same through the agent's side
    assert (await store.agent("a1")).status is AgentStatus.AVAILABLE
    assert await store.queued() == []
    with pytest.raises(NotFound):
        await store.dequeue("c2")


async def test_the_senior_queue_is_served_only_by_senior_agents(store: AcdStore, clock: FixedClock) -> None:
    await sign_in_in_order(store, clock, "junior1", "junior2")
    await sign_in_in_order(store, clock, "senior1", skills=SENIOR)
    await enqueue_in_order(store, clock, "s1", "s2", queue=Queue.SENIOR)
    await enqueue_in_order(store, clock, "g1")
    # s1 is oldest and goes to the only senior agent; s2 has nobody; g1 is not held up.
    assert await store.claim_next_offer() == Offer("s1", "senior1")
    assert await store.claim_next_offer() == Offer("g1", "junior1")
    assert await store.claim_next_offer() is None
    assert [c.call_id for c in await store.queued()] == ["s2"]
    assert (await store.agent("junior2")).status is AgentStatus.AVAILABLE


async def test_while_a_senior_call_waits_general_calls_go_to_other_agents_first(
    store: AcdStore, clock: FixedClock
) -> None:
    await sign_in_in_order(store, clock, "senior1", skills=SENIOR)
    await sign_in_in_order(store, clock, "junior1")
    await enqueue_in_order(store, clock, "g1")
    await enqueue_in_order(store, clock, "s1", queue=Queue.SENIOR)
    assert await store.claim_next_offer() == Offer("g1", "junior1")
    assert await store.claim_next_offer() == Offer("s1", "senior1")


async def test_the_state_survives_a_restart(
    redis_client: aioredis.Redis, redis_key_prefix: str, store: AcdStore, clock: FixedClock
) -> None:
    await sign_in_in_order(store, clock, "a1", "a2")
    await sign_in_in_order(store, clock, "s1", skills=SENIOR)
    await enqueue_in_order(store, clock, "c1", "c2", "c3")
    await store.claim_next_offer()
    await store.offer_missed("c1", "a1")
    agents, queued = await store.agents(), await store.queued()
    client = aioredis.from_url(REDIS_URL)  # a new process: new connection, new store
    try:
        restarted = AcdStore(client, redis_key_prefix, clock=clock)
        assert await restarted.agents() == agents
        assert await restarted.queued() == queued
        assert [await restarted.position(c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
        assert await restarted.claim_next_offer() == Offer("c1", "a2")
    finally:
        await client.aclose()


async def test_positions_are_right_after_dequeue(store: AcdStore, clock: FixedClock) -> None:
    await enqueue_in_order(store, clock, "g1", "g2", "g3", "g4")
    await enqueue_in_order(store, clock, "s1", "s2", queue=Queue.SENIOR)
    assert [await store.position(c) for c in ("g1", "g2", "g3", "g4", "s1", "s2")] == [1, 2, 3, 4, 1, 2]
    await store.dequeue("g2")
    await store.dequeue("s1")
    assert [await store.position(c) for c in ("g1", "g3", "g4", "s2")] == [1, 2, 3, 1]
    with pytest.raises(NotFound):
        await store.position("g2")
    await store.dequeue("g1")
    assert [await store.position(c) for c in ("g3", "g4")] == [1, 2]


async def test_sweep_ends_long_wrap_ups_and_treats_long_ringing_as_missed(
    redis_client: aioredis.Redis, redis_key_prefix: str, clock: FixedClock
) -> None:
    policy = AgentPolicy(wrap_up_limit=timedelta(seconds=60), offer_limit=timedelta(seconds=20))
    store = AcdStore(redis_client, redis_key_prefix, clock=clock, policy=policy)
    await sign_in_in_order(store, clock, "talker", "ringer")
    await enqueue_in_order(store, clock, "c1", "c2")
    await store.claim_next_offer()
    await store.offer_answered("c1", "talker")
    await store.call_ended("talker")
    await store.claim_next_offer()  # c2 rings "ringer" from now on
    clock.advance(timedelta(seconds=19))
    assert await store.sweep() == []
    clock.advance(timedelta(seconds=1))
    [missed] = await store.sweep()
    assert (missed.agent_id, missed.break_reason) == ("ringer", BreakReason.NO_ANSWER)
    assert [c.call_id for c in await store.queued()] == ["c2"]
    clock.advance(timedelta(seconds=40))
    [expired] = await store.sweep()
    assert (expired.agent_id, expired.status, expired.idle_since) == ("talker", AgentStatus.AVAILABLE, clock.now)
    assert await store.sweep() == []


# ------------------------------------------------------------------------ concurrent nodes


@pytest.mark.parametrize(("agents", "calls"), [(30, 40), (40, 30), (50, 50)])
async def test_two_nodes_claiming_at_once_never_double_offer(
    store: AcdStore, other_node: AcdStore, clock: FixedClock, agents: int, calls: int
) -> None:
    await sign_in_in_order(store, clock, *(f"a{i:02}" for i in range(agents)))
    await enqueue_in_order(other_node, clock, *(f"c{i:02}" for i in range(calls)))
    await store.sign_in("senior", SENIOR)
    nodes = (store, other_node)
    # Each node's connections are open before the burst, as a running node's are: the 50 claims
    # at once must race each other, not 50 fresh TCP connects against the store's 0.5 s bound
    # per Redis call (on a busy 2-core machine a cold connect alone can take longer).
    await asyncio.gather(*(node._redis.ping() for node in nodes for _ in range(25)))
    offers = await asyncio.gather(*(nodes[i % 2].claim_next_offer() for i in range(50)))
    made = [o for o in offers if o is not None]
    assert len(made) == min(agents + 1, calls, 50)
    assert len({o.agent_id for o in made}) == len(made)
    assert len({o.call_id for o in made}) == len(made)
    # The FIFO/idle rule holds as a whole: the oldest calls went to the longest-idle agents.
    assert sorted(o.call_id for o in made) == [f"c{i:02}" for i in range(len(made))]
    ringing = {a.agent_id: a.call_id for a in await store.agents() if a.status is AgentStatus.RINGING}
    assert ringing == {o.agent_id: o.call_id for o in made}
    assert len(await store.queued()) == calls - len(made)
    await consistent(store)


async def test_a_caller_hanging_up_during_concurrent_claims_is_never_offered_after(
    store: AcdStore, other_node: AcdStore, clock: FixedClock
) -> None:
    await sign_in_in_order(store, clock, *(f"a{i}" for i in range(10)))
    await enqueue_in_order(store, clock, *(f"c{i}" for i in range(10)))
    results = await asyncio.gather(
        *(store.claim_next_offer() for _ in range(5)),
        *(other_node.dequeue(f"c{i}") for i in range(0, 10, 2)),
        *(other_node.claim_next_offer() for _ in range(5)),
    )
    offers = [r for r in results if isinstance(r, Offer)]
    agents = await store.agents()
    ringing = {a.call_id for a in agents if a.status is AgentStatus.RINGING}
    # Hung-up calls ring nobody, whether they were dequeued before or while being offered.
    assert ringing == {o.call_id for o in offers} - {f"c{i}" for i in range(0, 10, 2)}
    assert sum(a.status is AgentStatus.AVAILABLE for a in agents) == 10 - len(ringing)
    assert {c.call_id for c in await store.queued()} == {f"c{i}" for i in range(1, 10, 2)} - ringing
    await consistent(store)


async def test_concurrent_changes_of_one_agent_apply_one_after_the_other(
    store: AcdStore, other_node: AcdStore, clock: FixedClock
) -> None:
    await store.sign_in("a1")
    await store.enqueue("c1", Queue.GENERAL)
    results = await asyncio.gather(
        store.claim_next_offer(),
        other_node.set_status("a1", Trigger.TAKE_BREAK, reason=BreakReason.MEETING),
        return_exceptions=True,
    )
    state = await store.agent("a1")
    if isinstance(results[0], Offer):  # the offer came first: the break is refused
        assert isinstance(results[1], IllegalTransition)
        assert (state.status, state.call_id) == (AgentStatus.RINGING, "c1")
    else:  # the break came first: nothing was offered
        assert results[0] is None and isinstance(results[1], AgentState)
        assert state.status is AgentStatus.BREAK
        assert [c.call_id for c in await store.queued()] == ["c1"]
    await consistent(store)


# ------------------------------------------------------------------------ events


async def test_every_change_is_published_for_desks_and_wallboards(
    redis_client: aioredis.Redis, redis_key_prefix: str, clock: FixedClock
) -> None:
    bus = RedisEventBus(redis_client, redis_key_prefix)
    store = AcdStore(redis_client, redis_key_prefix, bus=bus, clock=clock)
    listener = aioredis.from_url(REDIS_URL, decode_responses=True)
    pubsub = listener.pubsub()
    await pubsub.subscribe(bus.channel("agents"))
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    try:
        await store.sign_in("a1")
        await store.enqueue("c1", Queue.GENERAL)
        await store.claim_next_offer()
        await store.offer_missed("c1", "a1")
        events: list[dict[str, Any]] = []
        while len(events) < 6:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
            assert message is not None, f"only {len(events)} events arrived: {events}"
            events.append(json.loads(message["data"]))
    finally:
        await pubsub.aclose()
        await listener.aclose()
    assert [(e["type"], e.get("status") or e.get("change")) for e in events] == [
        ("agent.status", "available"), ("queue.changed", "enqueued"),
        ("agent.status", "ringing"), ("queue.changed", "offered"),
        ("agent.status", "break"), ("queue.changed", "requeued"),
    ]
    assert events[2] == {"type": "agent.status", "agent_id": "a1", "status": "ringing",
                         "since": START.isoformat(), "call_id": "c1", "break_reason": None}
    assert events[4]["break_reason"] == "no_answer"
    # Each queue event says how many wait now (every desk shows it): 1, 0 while it rings, 1.
    assert [e["waiting"] for e in events if e["type"] == "queue.changed"] == [1, 0, 1]


async def test_a_failing_event_bus_never_fails_the_distributor(
    redis_client: aioredis.Redis, redis_key_prefix: str, clock: FixedClock
) -> None:
    class BrokenBus(RedisEventBus):
        async def publish(self, topic: str, payload: dict[str, Any]) -> None:
            raise RuntimeError("bus down")

    store = AcdStore(redis_client, redis_key_prefix, bus=BrokenBus(redis_client, redis_key_prefix), clock=clock)
    await store.sign_in("a1")
    await store.enqueue("c1", Queue.GENERAL)
    assert await store.claim_next_offer() == Offer("c1", "a1")


# ------------------------------------------------------------------------ Lua = pure policy

AGENTS = [f"a{i}" for i in range(6)]
CALLS = [f"c{i}" for i in range(8)]
_examples = itertools.count()

skill_sets = st.sampled_from([(Skill.GENERAL,), SENIOR, (Skill.SENIOR,)])
#: A shift under way: agents signed in and callers waiting, some at the same instant.
openings = st.tuples(
    st.lists(st.tuples(st.sampled_from(AGENTS), skill_sets, st.sampled_from([0, 0, 1])),
             unique_by=lambda t: t[0], min_size=1, max_size=6),
    st.lists(st.tuples(st.sampled_from(CALLS), st.sampled_from(list(Queue)), st.sampled_from([0, 0, 1])),
             unique_by=lambda t: t[0], min_size=1, max_size=8),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("sign_in"), st.sampled_from(AGENTS), skill_sets),
        st.tuples(st.just("break"), st.sampled_from(AGENTS)),
        st.tuples(st.just("available"), st.sampled_from(AGENTS)),
        st.tuples(st.just("enqueue"), st.sampled_from(CALLS), st.sampled_from(list(Queue))),
        st.tuples(st.just("claim")),
        st.tuples(st.just("claim")),
        st.tuples(st.just("claim")),
        st.tuples(st.just("miss"), st.integers(0, 5)),
        st.tuples(st.just("claim, miss and come back")),
        st.tuples(st.just("claim, miss and come back")),
        st.tuples(st.just("claim, miss and come back")),
        st.tuples(st.just("answer"), st.integers(0, 5)),
        st.tuples(st.just("end"), st.integers(0, 5)),
        st.tuples(st.just("wrap_up_done"), st.sampled_from(AGENTS)),
        st.tuples(st.just("dequeue"), st.sampled_from(CALLS)),
        st.tuples(st.just("advance"), st.sampled_from([0, 0, 1, 5])),
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(openings, operations)
async def test_the_lua_claim_picks_exactly_what_the_pure_policy_picks(
    redis_client: aioredis.Redis, redis_key_prefix: str,
    opening: tuple[list[tuple[str, tuple[Skill, ...], int]], list[tuple[str, Queue, int]]],
    ops: list[tuple[Any, ...]],
) -> None:
    """Random histories (sign-ins, breaks, calls arriving, offers missed, answered, ended, callers
    hanging up, time standing still so ties happen); before every claim the pure `next_offer` is
    asked on the state the store reads back, and the script must pick the same pair. Each example
    uses its own keys under the test's prefix (the fixture deletes them all afterwards)."""
    clock = FixedClock(START)
    store = AcdStore(redis_client, f"{redis_key_prefix}{next(_examples)}:", clock=clock)

    async def claim_and_compare() -> Offer | None:
        expected = next_offer(await store.queued(), await store.agents(), clock.now)
        actual = await store.claim_next_offer()
        note(f"claim: expected {expected}, got {actual}")
        assert actual == expected
        return actual

    async def ringing(index: int) -> AgentState | None:
        found = [a for a in await store.agents() if a.status is AgentStatus.RINGING]
        return found[index % len(found)] if found else None

    agents, calls = opening
    for agent_id, skills, seconds in agents:
        await store.sign_in(agent_id, skills)
        clock.advance(timedelta(seconds=seconds))
    for call_id, queue, seconds in calls:
        await store.enqueue(call_id, queue)
        clock.advance(timedelta(seconds=seconds))
    for op in ops:
        name = op[0]
        try:
            if name == "sign_in":
                await store.sign_in(op[1], op[2])
            elif name == "break":
                await store.set_status(op[1], Trigger.TAKE_BREAK, reason=BreakReason.REST)
            elif name == "available":
                await store.set_status(op[1], Trigger.GO_AVAILABLE)
            elif name == "enqueue":
                await store.enqueue(op[1], op[2])
            elif name == "claim":
                await claim_and_compare()
            elif name == "claim, miss and come back":  # builds up calls declined by several agents
                offer = await claim_and_compare()
                if offer is not None:
                    await store.offer_missed(offer.call_id, offer.agent_id)
                    await store.set_status(offer.agent_id, Trigger.GO_AVAILABLE)
            elif name in ("miss", "answer"):
                agent = await ringing(op[1])
                if agent is not None and agent.call_id is not None:
                    if name == "miss":
                        await store.offer_missed(agent.call_id, agent.agent_id)
                    else:
                        await store.offer_answered(agent.call_id, agent.agent_id)
            elif name == "end":
                talking = [a for a in await store.agents() if a.status is AgentStatus.ON_CALL]
                if talking:
                    await store.call_ended(talking[op[1] % len(talking)].agent_id)
            elif name == "wrap_up_done":
                await store.set_status(op[1], Trigger.WRAP_UP_DONE)
            elif name == "dequeue":
                await store.dequeue(op[1])
            elif name == "advance":
                clock.advance(timedelta(seconds=op[1]))
        except (IllegalTransition, NotFound, Conflict) as refused:
            note(f"{op}: refused ({refused})")
            continue
        note(f"{op}: done")
    while await claim_and_compare() is not None:
        pass
    await consistent(store)
