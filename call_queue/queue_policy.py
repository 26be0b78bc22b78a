"""Who gets the next call: the queue policy of the automatic call distribution, pure (sans-I/O).

Callers wait in one of two queues: `general`, and `senior` (callers the anti-abuse screen routes
to experienced staff, `abuse.policy`). The rules, in order:

1. **Longest waiting call first**, across both queues: calls are served in order of
   `enqueued_at` (ties by `call_id`, so every node orders them alike). A call that no free agent
   may take (a senior call and no senior agent free) does not hold up the calls behind it.
2. **Who may take it** (`REQUIRED_SKILLS`): senior calls only agents with the `senior` skill;
   general calls any agent. Never an agent who already missed or declined that call
   (`declined_by`): the caller would hear the same unanswered ringing again.
3. **Longest idle agent** among those (`AgentState.idle_since`, ties by `agent_id`), with one
   preference (`RESERVED_SKILLS`): while a senior call waits, a general call goes to an agent
   without the senior skill if one is free, so the few senior agents are not used up on general
   callers while a senior caller waits. It is only a preference: if only senior agents are
   free, they take the general call (the older call is still served first), so no agent stays
   idle while a call they may take is waiting.

`position` answers "您前面还有N位" (N = position - 1) within the caller's own queue, and
`overflowed` lists callers who have waited longer than the centre allows: they are offered to
leave a message (which becomes a ticket) rather than wait on.

The Redis adapter (`call_queue.acd`) runs the same rule inside one Lua script from the tables
`lua_plan` exports, so the rule lives here once; an integration test compares both on random
states. This module must never read a clock, Redis or a socket.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from call_queue.agent_state import AgentState, AgentStatus, Skill
from kernel.errors import InvalidInput, NotFound


class Queue(enum.StrEnum):
    GENERAL = "general"
    SENIOR = "senior"


#: Skills an agent needs to be offered a call of each queue.
REQUIRED_SKILLS: dict[Queue, frozenset[Skill]] = {
    Queue.GENERAL: frozenset(),
    Queue.SENIOR: frozenset({Skill.SENIOR}),
}

#: While a call of the queue waits, agents with the skill are offered other calls last.
RESERVED_SKILLS: dict[Queue, Skill] = {Queue.SENIOR: Skill.SENIOR}


@dataclass(frozen=True)
class QueuedCall:
    """A caller waiting for an agent."""

    call_id: str
    queue: Queue
    enqueued_at: datetime
    #: Agents who missed or declined this call: it is never offered to them again.
    declined_by: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.call_id:
            raise InvalidInput("call_id must not be empty")
        if self.enqueued_at.tzinfo is None:
            raise InvalidInput("enqueued_at must be timezone-aware", call_id=self.call_id)


@dataclass(frozen=True)
class Offer:
    call_id: str
    agent_id: str


def queue_order(call: QueuedCall) -> tuple[datetime, str]:
    """Sort key of waiting calls: first come, first served; ties by call id."""
    return call.enqueued_at, call.call_id


def idle_order(agent: AgentState) -> tuple[datetime, str]:
    """Sort key of free agents: idle the longest first; ties by agent id."""
    assert agent.idle_since is not None  # an available agent always has one
    return agent.idle_since, agent.agent_id


def may_take(agent: AgentState, call: QueuedCall) -> bool:
    """The agent is free, has the skills the call's queue needs and has not missed this call."""
    return (
        agent.status is AgentStatus.AVAILABLE
        and REQUIRED_SKILLS[call.queue] <= agent.skills
        and agent.agent_id not in call.declined_by
    )


def next_offer(
    calls: Iterable[QueuedCall], agents: Iterable[AgentState], now: datetime
) -> Offer | None:
    """The next (call, agent) pair to ring, or None when no waiting call has a free agent.

    `calls` are the calls waiting (not those already ringing an agent); `agents` may include
    agents in any status. `now` is only checked to be timezone-aware: the choice depends on
    order, not on how long anyone has waited.
    """
    if now.tzinfo is None:
        raise InvalidInput("naive datetime given to the queue policy")
    waiting = sorted(calls, key=queue_order)
    free = sorted((a for a in agents if a.status is AgentStatus.AVAILABLE), key=idle_order)
    if not waiting or not free:
        return None
    queues_waiting = {call.queue for call in waiting}
    for call in waiting:
        held = {
            skill for queue, skill in RESERVED_SKILLS.items()
            if queue != call.queue and queue in queues_waiting
        }
        eligible = [a for a in free if may_take(a, call)]
        if eligible:
            # Stable sort: within each preference class the idle order is kept.
            chosen = min(eligible, key=lambda a: bool(held & a.skills))
            return Offer(call_id=call.call_id, agent_id=chosen.agent_id)
    return None


def position(calls: Iterable[QueuedCall], call_id: str) -> int:
    """1-based place of the call among the waiting calls of its own queue."""
    waiting = list(calls)
    mine = next((c for c in waiting if c.call_id == call_id), None)
    if mine is None:
        raise NotFound("call is not waiting in a queue", call_id=call_id)
    key = queue_order(mine)
    return 1 + sum(1 for c in waiting if c.queue == mine.queue and queue_order(c) < key)


def overflowed(calls: Iterable[QueuedCall], now: datetime, max_wait: timedelta) -> list[str]:
    """Calls that have waited longer than `max_wait`, longest first: offer them a message."""
    if now.tzinfo is None:
        raise InvalidInput("naive datetime given to the queue policy")
    return [c.call_id for c in sorted(calls, key=queue_order) if now - c.enqueued_at > max_wait]


def lua_plan() -> dict[str, Any]:
    """The skill tables as plain data for the Redis script that claims offers (JSON-encoded)."""
    return {
        "required": {q.value: sorted(s.value for s in skills) for q, skills in REQUIRED_SKILLS.items()},
        "reserved": {q.value: s.value for q, s in RESERVED_SKILLS.items()},
    }
