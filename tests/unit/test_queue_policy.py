"""Who gets the next call: examples of each rule, then properties on random queues and desks.

The properties run the policy the way the distributor does (offer, mark the agent ringing and
take the call out of the queue, ask again) and check every offer against the rules stated in
`call_queue/queue_policy.py`'s docstring, computed here by brute force.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from call_queue.agent_state import AgentState, AgentStatus, BreakReason, Skill, Trigger, decide
from call_queue.queue_policy import (
    Offer,
    Queue,
    QueuedCall,
    lua_plan,
    next_offer,
    overflowed,
    position,
)
from kernel.errors import InvalidInput, NotFound

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
G, SR = Queue.GENERAL, Queue.SENIOR
GENERAL = frozenset({Skill.GENERAL})
SENIOR = frozenset({Skill.GENERAL, Skill.SENIOR})


def agent(agent_id: str, idle_minutes_ago: float, skills: frozenset[Skill] = GENERAL,
          status: AgentStatus = AgentStatus.AVAILABLE) -> AgentState:
    idle = NOW - timedelta(minutes=idle_minutes_ago)
    state = AgentState(agent_id=agent_id, status=AgentStatus.AVAILABLE, since=idle, skills=skills,
                       idle_since=idle)
    if status is AgentStatus.RINGING:
        state = decide(state, Trigger.OFFER, NOW, call_id="elsewhere")
    elif status is AgentStatus.BREAK:
        state = decide(state, Trigger.TAKE_BREAK, NOW, reason=BreakReason.MEAL)
    elif status is AgentStatus.OFFLINE:
        state = decide(state, Trigger.SIGN_OUT, NOW)
    return state


def call(call_id: str, waited_minutes: float, queue: Queue = G, declined_by: tuple[str, ...] = ()) -> QueuedCall:
    return QueuedCall(call_id=call_id, queue=queue, enqueued_at=NOW - timedelta(minutes=waited_minutes),
                      declined_by=frozenset(declined_by))


# ------------------------------------------------------------------------ next_offer


def test_nothing_is_offered_without_calls_or_free_agents() -> None:
    assert next_offer([], [agent("a", 1)], NOW) is None
    assert next_offer([call("c", 1)], [], NOW) is None
    busy = [agent("a", 1, status=AgentStatus.RINGING), agent("b", 2, status=AgentStatus.BREAK),
            agent("c", 3, status=AgentStatus.OFFLINE)]
    assert next_offer([call("c1", 1)], busy, NOW) is None


def test_the_call_waiting_longest_is_served_first_across_queues() -> None:
    calls = [call("g-new", 1), call("s-old", 5, SR), call("g-mid", 3)]
    assert next_offer(calls, [agent("a", 1, SENIOR)], NOW) == Offer("s-old", "a")


def test_the_agent_idle_longest_gets_the_call() -> None:
    agents = [agent("recent", 1), agent("longest", 9), agent("middle", 4)]
    assert next_offer([call("c", 1)], agents, NOW) == Offer("c", "longest")


def test_ties_are_broken_by_id_so_every_node_agrees() -> None:
    agents = [agent("b", 5), agent("a", 5)]
    calls = [call("c2", 2), call("c1", 2)]
    assert next_offer(calls, agents, NOW) == Offer("c1", "a")


def test_senior_calls_go_only_to_senior_agents() -> None:
    calls = [call("s", 5, SR)]
    assert next_offer(calls, [agent("junior", 9)], NOW) is None
    assert next_offer(calls, [agent("junior", 9), agent("senior", 1, SENIOR)], NOW) == Offer("s", "senior")


def test_a_senior_call_nobody_can_take_does_not_hold_up_general_calls() -> None:
    calls = [call("s", 9, SR), call("g", 1)]
    assert next_offer(calls, [agent("junior", 1)], NOW) == Offer("g", "junior")


def test_a_call_is_never_offered_again_to_an_agent_who_missed_it() -> None:
    calls = [call("c", 5, declined_by=("longest",))]
    agents = [agent("longest", 9), agent("other", 1)]
    assert next_offer(calls, agents, NOW) == Offer("c", "other")
    assert next_offer(calls, [agent("longest", 9)], NOW) is None


def test_a_call_declined_by_every_free_agent_lets_the_next_call_through() -> None:
    calls = [call("old", 9, declined_by=("a",)), call("new", 1)]
    assert next_offer(calls, [agent("a", 5)], NOW) == Offer("new", "a")


def test_while_a_senior_call_waits_general_calls_prefer_agents_without_the_senior_skill() -> None:
    calls = [call("g", 9), call("s", 1, SR)]
    agents = [agent("senior", 9, SENIOR), agent("junior", 1)]
    assert next_offer(calls, agents, NOW) == Offer("g", "junior")


def test_without_a_senior_call_waiting_a_senior_agent_idle_longest_takes_a_general_call() -> None:
    agents = [agent("senior", 9, SENIOR), agent("junior", 1)]
    assert next_offer([call("g", 9)], agents, NOW) == Offer("g", "senior")


def test_the_preference_never_leaves_a_general_call_waiting_beside_a_free_senior_agent() -> None:
    calls = [call("g", 9), call("s", 1, SR, declined_by=("senior",))]
    assert next_offer(calls, [agent("senior", 9, SENIOR)], NOW) == Offer("g", "senior")


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput):
        next_offer([], [], NOW.replace(tzinfo=None))
    with pytest.raises(InvalidInput):
        overflowed([], NOW.replace(tzinfo=None), timedelta(minutes=1))
    with pytest.raises(InvalidInput):
        QueuedCall("c", G, NOW.replace(tzinfo=None))
    with pytest.raises(InvalidInput):
        QueuedCall("", G, NOW)


def test_the_plan_for_the_redis_script_carries_the_skill_tables() -> None:
    assert lua_plan() == {"required": {"general": [], "senior": ["senior"]}, "reserved": {"senior": "senior"}}


# ------------------------------------------------------------------------ position, overflow


def test_position_counts_only_calls_of_the_same_queue_ahead() -> None:
    calls = [call("g1", 9), call("s1", 8, SR), call("g2", 7), call("s2", 6, SR), call("g3", 5)]
    assert [position(calls, c) for c in ("g1", "g2", "g3", "s1", "s2")] == [1, 2, 3, 1, 2]


def test_position_of_calls_enqueued_at_the_same_instant_follows_the_call_id() -> None:
    calls = [call("b", 5), call("a", 5)]
    assert (position(calls, "a"), position(calls, "b")) == (1, 2)


def test_position_of_a_call_not_waiting_is_not_found() -> None:
    with pytest.raises(NotFound):
        position([call("g1", 1)], "nope")


def test_overflow_lists_calls_that_waited_longer_than_the_limit_longest_first() -> None:
    calls = [call("fresh", 1), call("exactly", 3), call("long", 4, SR), call("longest", 10)]
    assert overflowed(calls, NOW, timedelta(minutes=3)) == ["longest", "long"]


# ------------------------------------------------------------------------ properties

Desk = tuple[list[QueuedCall], list[AgentState]]
#: An offer with the waiting calls and agents the policy saw when it made it.
Step = tuple[Offer, list[QueuedCall], list[AgentState]]

agent_ids = [f"a{i}" for i in range(8)]
call_ids = [f"c{i}" for i in range(10)]


@st.composite
def desks(draw: st.DrawFn) -> Desk:
    """Random waiting calls and agents; minutes drawn from a small range so ties happen."""
    agents = [
        agent(agent_id, draw(st.integers(0, 5)),
              draw(st.sampled_from([GENERAL, SENIOR, frozenset({Skill.SENIOR})])),
              draw(st.sampled_from([AgentStatus.AVAILABLE] * 3 + [AgentStatus.BREAK, AgentStatus.RINGING])))
        for agent_id in draw(st.lists(st.sampled_from(agent_ids), unique=True, max_size=8))
    ]
    calls = [
        call(call_id, draw(st.integers(0, 5)), draw(st.sampled_from([G, SR])),
             tuple(draw(st.lists(st.sampled_from(agent_ids), max_size=4))))
        for call_id in draw(st.lists(st.sampled_from(call_ids), unique=True, max_size=10))
    ]
    return calls, agents


def eligible(a: AgentState, c: QueuedCall) -> bool:
    """Written from the rules, not from the module: free, skilled enough, did not miss it."""
    if a.status is not AgentStatus.AVAILABLE or a.agent_id in c.declined_by:
        return False
    return c.queue is G or Skill.SENIOR in a.skills


def dispatch(calls: list[QueuedCall], agents: list[AgentState]) -> list[Step]:
    """Ask for offers until none is left, as the distributor does; each with the state it saw."""
    offers: list[Step] = []
    while (offer := next_offer(calls, agents, NOW)) is not None:
        offers.append((offer, calls, agents))
        calls = [c for c in calls if c.call_id != offer.call_id]
        agents = [decide(a, Trigger.OFFER, NOW, call_id=offer.call_id) if a.agent_id == offer.agent_id else a
                  for a in agents]
        assert len(offers) <= len(call_ids)
    return offers


@given(desks())
def test_no_agent_is_offered_two_calls_and_no_call_two_agents(desk: Desk) -> None:
    offers = [o for o, _, _ in dispatch(*desk)]
    assert len({o.agent_id for o in offers}) == len(offers)
    assert len({o.call_id for o in offers}) == len(offers)


@given(desks())
def test_every_offer_follows_the_rules(desk: Desk) -> None:
    for offer, calls, agents in dispatch(*desk):
        by_id = {c.call_id: c for c in calls}
        offered = by_id[offer.call_id]
        chosen = next(a for a in agents if a.agent_id == offer.agent_id)
        # Free, skilled, never someone who missed this call.
        assert eligible(chosen, offered)
        assert offer.agent_id not in offered.declined_by
        # Oldest call first (FIFO within a queue and across queues): no older call could be served.
        for older in calls:
            if (older.enqueued_at, older.call_id) < (offered.enqueued_at, offered.call_id):
                assert not any(eligible(a, older) for a in agents)
        # Longest idle wins, within the preference class of the chosen agent...
        senior_waiting = any(c.queue is SR for c in calls)
        held = {a.agent_id for a in agents
                if offered.queue is G and senior_waiting and Skill.SENIOR in a.skills}
        candidates = [a for a in agents if eligible(a, offered)]
        assert all((chosen.idle_since, chosen.agent_id) <= (a.idle_since, a.agent_id)  # type: ignore[operator]
                   for a in candidates if (a.agent_id in held) == (chosen.agent_id in held))
        # ...and the held-back class only when nobody else may take the call.
        if chosen.agent_id in held:
            assert all(a.agent_id in held for a in candidates)


@given(desks())
def test_no_call_waits_while_an_agent_who_may_take_it_is_free(desk: Desk) -> None:
    calls, agents = desk
    for offer, _, _ in dispatch(calls, agents):
        calls = [c for c in calls if c.call_id != offer.call_id]
        agents = [decide(a, Trigger.OFFER, NOW, call_id=offer.call_id) if a.agent_id == offer.agent_id else a
                  for a in agents]
    assert not any(eligible(a, c) for c in calls for a in agents)


@given(desks(), st.randoms(use_true_random=False))
def test_the_offer_does_not_depend_on_the_order_of_the_inputs(
    desk: Desk, rnd: random.Random
) -> None:
    calls, agents = desk
    shuffled_calls, shuffled_agents = list(calls), list(agents)
    rnd.shuffle(shuffled_calls)
    rnd.shuffle(shuffled_agents)
    assert next_offer(shuffled_calls, shuffled_agents, NOW) == next_offer(calls, agents, NOW)


@given(desks())
def test_positions_in_each_queue_are_one_to_n_in_arrival_order(desk: Desk) -> None:
    calls, _ = desk
    for queue in Queue:
        mine = sorted((c for c in calls if c.queue is queue), key=lambda c: (c.enqueued_at, c.call_id))
        assert [position(calls, c.call_id) for c in mine] == list(range(1, len(mine) + 1))
