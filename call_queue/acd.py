"""Redis adapter of the automatic call distribution: agent states and waiting calls, shared.

The pure rules live in `call_queue.agent_state` (what an agent may do next) and
`call_queue.queue_policy` (who gets the next call); this module keeps their state in Redis so that
every backend node sees the same agents and the same queue, and a restarted node finds them as it
left them. It must never decide a rule itself: it reads, asks the pure code, and writes.

Two kinds of writes:

* **Claiming an offer** (`claim_next_offer`) picks the pair and marks both sides in ONE Lua
  script (`_CLAIM_LUA`), which runs `queue_policy.next_offer`'s rule from the tables of
  `queue_policy.lua_plan`. Redis runs scripts one at a time, so two nodes claiming at the same
  instant see each other's result: an agent is never offered two calls and a call never rings
  two agents. A WATCH/MULTI loop would have to watch every free agent and the whole queue, and
  would retry under exactly the load when offers matter. The script's rule is checked against
  `next_offer` on random states by `tests/integration/test_acd.py`.
* **Every other agent change** reads the agent (and the call it concerns), applies the pure
  `agent_state.decide`, and writes with a compare-and-set on the agent's `version` (and on the
  call's `offered_to`) in `_WRITE_LUA`. A concurrent change makes the write fail; it is then
  re-read and decided again (a few times, then `Conflict`), so a rule is never applied to a
  stale state. The agent hash, its place in the idle line and the call's place in its queue are
  always changed in the same script, so they never disagree.

Times are the caller's clock (`clock`, UTC), stored as integer microseconds since the epoch:
as sorted-set scores they are exact (< 2**53), so Redis orders calls and agents exactly as the
pure policy does (equal scores fall back to member order, as the policy falls back to ids).

Key layout (under the injected `key_prefix`):
    acd:agents              SET    every agent id ever signed in
    acd:agent:<id>          HASH   agent_id status since skills break_reason idle_since call_id version
    acd:available           ZSET   available agents, score = idle_since (us)
    acd:waiting             ZSET   waiting calls of all queues, score = enqueued_at (us)
    acd:queue:<queue>       ZSET   the same calls per queue (for positions)
    acd:call:<id>           HASH   queue enqueued_at offered_to  (waiting or ringing calls)
    acd:call:<id>:declined  SET    agents who missed or declined the call
The scripts reach agent and call keys by name from the prefix, so they suit one Redis shared by
the nodes (our deployment), not Redis Cluster.

Events: every change publishes `agent.status` on topic "agents" and, when a call moves,
`queue.changed`, through the optional `RedisEventBus`; publishing is best effort and never
raises into the distributor. Redis trouble in the distributor itself raises `Unavailable`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from call_queue.agent_state import (
    DEFAULT_POLICY,
    AgentPolicy,
    AgentState,
    AgentStatus,
    BreakReason,
    Skill,
    Trigger,
    decide,
    offer_overdue,
    wrap_up_expired,
)
from call_queue.queue_policy import Offer, Queue, QueuedCall, lua_plan
from kernel.clock import Clock, utc_now
from kernel.errors import Conflict, IllegalTransition, InvalidInput, NotFound, Unavailable
from kernel.event_bus import RedisEventBus

log = logging.getLogger(__name__)

EVENT_TOPIC = "agents"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
#: Agent and call ids end up in key names: keep them to characters that cannot fake a key.
_ID = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
#: Compare-and-set attempts before a change is reported as a Conflict.
_ATTEMPTS = 8
#: Triggers `set_status` accepts; the others have their own methods (they move calls too).
AGENT_TRIGGERS: frozenset[Trigger] = frozenset(
    {Trigger.GO_AVAILABLE, Trigger.TAKE_BREAK, Trigger.WRAP_UP_DONE, Trigger.WRAP_UP_EXPIRED,
     Trigger.SIGN_OUT}
)
_FIELDS = ("agent_id", "status", "since", "skills", "break_reason", "idle_since", "call_id")

# Pick the next (call, agent) pair with queue_policy.next_offer's rule and mark both sides.
# KEYS: available, waiting. ARGV: key prefix ("<prefix>acd:"), now (us), ringing status, plan.
# Returns false, or {call_id, agent_id, queue, {the agent's fields before the offer, in plan.fields order}}.
_CLAIM_LUA = r"""
local free = redis.call('ZRANGE', KEYS[1], 0, -1)
if #free == 0 then return false end
local p, plan = ARGV[1], cjson.decode(ARGV[4])

-- Skills are read only when a rule needs them, once per agent.
local skills = {}
local function skills_of(i)
  if not skills[i] then
    local set = {}
    for s in string.gmatch(redis.call('HGET', p .. 'agent:' .. free[i], 'skills') or '', '[^,]+') do
      set[s] = true
    end
    skills[i] = set
  end
  return skills[i]
end
local function skilled(i, required)
  for _, s in ipairs(required) do if not skills_of(i)[s] then return false end end
  return true
end
-- Whether any free agent has the skills a queue needs: calls of a queue nobody free can take
-- are passed over without reading their decliners.
local servable = {}
local function can_serve(queue, required)
  if servable[queue] == nil then
    servable[queue] = false
    for i = 1, #free do
      if skilled(i, required) then servable[queue] = true; break end
    end
  end
  return servable[queue]
end
local queues_waiting = {}
for queue, _ in pairs(plan.reserved) do
  if redis.call('ZCARD', p .. 'queue:' .. queue) > 0 then queues_waiting[queue] = true end
end

-- Calls are read in pages, oldest first: most claims are settled by the first call.
local page, start = 32, 0
while true do
  local waiting = redis.call('ZRANGE', KEYS[2], start, start + page - 1)
  if #waiting == 0 then return false end
  start = start + page
  for _, call in ipairs(waiting) do
    local queue = redis.call('HGET', p .. 'call:' .. call, 'queue')
    local required = plan.required[queue] or {}
    if can_serve(queue, required) then
      local declined = {}
      for _, a in ipairs(redis.call('SMEMBERS', p .. 'call:' .. call .. ':declined')) do declined[a] = true end
      local held = {}
      for q, skill in pairs(plan.reserved) do
        if q ~= queue and queues_waiting[q] then table.insert(held, skill) end
      end
      local chosen, fallback = nil, nil
      for i, agent in ipairs(free) do
        if not declined[agent] and skilled(i, required) then
          local is_held = false
          for _, s in ipairs(held) do if skills_of(i)[s] then is_held = true end end
          if not is_held then chosen = agent; break end
          if not fallback then fallback = agent end
        end
      end
      chosen = chosen or fallback
      if chosen then
        local key = p .. 'agent:' .. chosen
        local before = redis.call('HMGET', key, unpack(plan.fields))
        redis.call('HSET', key, 'status', ARGV[3], 'since', ARGV[2], 'call_id', call, 'break_reason', '')
        redis.call('HINCRBY', key, 'version', 1)
        redis.call('ZREM', KEYS[1], chosen)
        redis.call('ZREM', KEYS[2], call)
        redis.call('ZREM', p .. 'queue:' .. queue, call)
        redis.call('HSET', p .. 'call:' .. call, 'offered_to', chosen)
        return {call, chosen, queue, before}
      end
    end
  end
end
"""

# Compare-and-set of one agent, and of the call the change concerns.
# KEYS: agent hash, agents set, available, call hash, declined set, waiting, call's queue.
# ARGV: agent id, expected version, fields (JSON list), available score or '', call op
#       ('' | 'requeue' | 'delete'), call id.
# Returns 1 written, 0 the agent changed meanwhile, -1 the call changed meanwhile.
_WRITE_LUA = r"""
if (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[2] then return 0 end
local op, call = ARGV[5], ARGV[6]
if op ~= '' and redis.call('HGET', KEYS[4], 'offered_to') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[3])))
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
if op == 'requeue' then
  local score = redis.call('HGET', KEYS[4], 'enqueued_at')
  redis.call('HSET', KEYS[4], 'offered_to', '')
  redis.call('SADD', KEYS[5], ARGV[1])
  redis.call('ZADD', KEYS[6], score, call)
  redis.call('ZADD', KEYS[7], score, call)
elseif op == 'delete' then
  redis.call('DEL', KEYS[4], KEYS[5])
  redis.call('ZREM', KEYS[6], call)
  redis.call('ZREM', KEYS[7], call)
end
return 1
"""

# KEYS: call hash, waiting, queue. ARGV: call id, queue, enqueued_at (us).
_ENQUEUE_LUA = r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'queue', ARGV[2], 'enqueued_at', ARGV[3], 'offered_to', '')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

# Remove a call that is waiting (not ringing an agent).
# KEYS: call hash, declined set, waiting, queue. ARGV: call id.
# Returns 1 removed, 0 the call is ringing an agent, -1 no such call.
_DROP_WAITING_LUA = r"""
local offered = redis.call('HGET', KEYS[1], 'offered_to')
if not offered then return -1 end
if offered ~= '' then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
"""

# Waiting calls in queue order with their queue and decliners, as one consistent snapshot.
# KEYS: waiting. ARGV: key prefix.
_SNAPSHOT_LUA = r"""
local out = {}
for _, call in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local c = redis.call('HMGET', ARGV[1] .. 'call:' .. call, 'queue', 'enqueued_at')
  local declined = redis.call('SMEMBERS', ARGV[1] .. 'call:' .. call .. ':declined')
  table.insert(out, {call, c[1] or '', c[2] or '0', declined})
end
return out
"""

# KEYS: call hash. ARGV: key prefix, call id. Returns false, or {queue, rank or -1, offered_to}.
_POSITION_LUA = r"""
local c = redis.call('HMGET', KEYS[1], 'queue', 'offered_to')
if not c[1] then return false end
local rank = redis.call('ZRANK', ARGV[1] .. 'queue:' .. c[1], ARGV[2])
return {c[1], rank or -1, c[2] or ''}
"""


def to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidInput("naive datetime: ACD times must be timezone-aware", value=str(moment))
    return (moment - _EPOCH) // _US


def from_us(value: int | str | bytes) -> datetime:
    return _EPOCH + int(value) * _US


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_id(value: str, name: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(f"{name} must be 1-128 letters, digits or . _ @ + -", field=name, value=value)
    return value


def _agent_fields(state: AgentState) -> list[str]:
    values = {
        "agent_id": state.agent_id,
        "status": state.status.value,
        "since": str(to_us(state.since)),
        "skills": ",".join(sorted(s.value for s in state.skills)),
        "break_reason": state.break_reason.value if state.break_reason else "",
        "idle_since": str(to_us(state.idle_since)) if state.idle_since else "",
        "call_id": state.call_id or "",
    }
    return [item for name in _FIELDS for item in (name, values[name])]


def _agent_from(values: Mapping[str, str]) -> AgentState:
    return AgentState(
        agent_id=values["agent_id"],
        status=AgentStatus(values["status"]),
        since=from_us(values["since"]),
        skills=frozenset(Skill(s) for s in values.get("skills", "").split(",") if s),
        break_reason=BreakReason(values["break_reason"]) if values.get("break_reason") else None,
        idle_since=from_us(values["idle_since"]) if values.get("idle_since") else None,
        call_id=values.get("call_id") or None,
    )


def _decode_map(values: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in values.items()}


class AcdStore:
    """Agents and waiting calls of the distributor, in one Redis shared by every node.

    `redis` may decode responses or not. `clock` tells the time of changes whose caller gives
    none; `policy` holds the wrap-up and ringing limits `sweep` enforces.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        key_prefix: str,
        *,
        bus: RedisEventBus | None = None,
        clock: Clock = utc_now,
        policy: AgentPolicy = DEFAULT_POLICY,
        timeout: float = 0.5,
        pause: float = 5.0,
    ) -> None:
        self._redis = redis
        self._p = f"{key_prefix}acd:"
        self._bus = bus
        self._clock = clock
        self.policy = policy
        self.timeout = timeout
        self.pause = pause
        self._skip_until = 0.0
        self._plan = json.dumps(lua_plan() | {"fields": _FIELDS})
        self._claim = redis.register_script(_CLAIM_LUA)
        self._write = redis.register_script(_WRITE_LUA)
        self._enqueue = redis.register_script(_ENQUEUE_LUA)
        self._drop_waiting = redis.register_script(_DROP_WAITING_LUA)
        self._snapshot = redis.register_script(_SNAPSHOT_LUA)
        self._position = redis.register_script(_POSITION_LUA)

    # -- keys -------------------------------------------------------------------

    def _agent_key(self, agent_id: str) -> str:
        return f"{self._p}agent:{agent_id}"

    def _call_key(self, call_id: str) -> str:
        return f"{self._p}call:{call_id}"

    def _queue_key(self, queue: str) -> str:
        return f"{self._p}queue:{queue}"

    # -- agents -----------------------------------------------------------------

    async def sign_in(
        self, agent_id: str, skills: Iterable[Skill | str] = (Skill.GENERAL,)
    ) -> AgentState:
        """Start a shift: the agent becomes available, at the end of the idle line."""
        _check_id(agent_id, "agent_id")
        given = [str(s) for s in skills]
        try:
            wanted = frozenset(Skill(s) for s in given)
        except ValueError as exc:
            raise InvalidInput("unknown skill", agent_id=agent_id, skills=given) from exc
        state, _ = await self._change(agent_id, Trigger.SIGN_IN, skills=wanted)
        return state

    async def set_status(
        self, agent_id: str, trigger: Trigger, *, reason: BreakReason | None = None
    ) -> AgentState:
        """An agent's own change: go available, take a break, finish wrap-up, sign out."""
        _check_id(agent_id, "agent_id")
        if trigger not in AGENT_TRIGGERS:
            raise InvalidInput(
                f"{trigger} moves a call too: use sign_in, claim_next_offer, offer_answered, "
                "offer_missed or call_ended", agent_id=agent_id, trigger=str(trigger),
            )
        state, _ = await self._change(agent_id, trigger, reason=reason)
        return state

    async def agent(self, agent_id: str) -> AgentState:
        _check_id(agent_id, "agent_id")
        state, _ = await self._read_agent(agent_id)
        if state is None:
            raise NotFound("no such agent", agent_id=agent_id)
        return state

    async def agents(self) -> list[AgentState]:
        """Every agent ever signed in (offline ones too), by id."""
        ids = sorted(_text(m) for m in await self._call(self._redis.smembers, f"{self._p}agents"))
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.hgetall(self._agent_key(agent_id))
            rows = await self._call(pipe.execute)
        return [_agent_from(_decode_map(row)) for row in rows if row]

    # -- calls ------------------------------------------------------------------

    async def enqueue(
        self, call_id: str, queue: Queue | str, *, enqueued_at: datetime | None = None
    ) -> QueuedCall:
        """A caller starts waiting (at `enqueued_at`, default now). Conflict if already known."""
        _check_id(call_id, "call_id")
        try:
            queue = Queue(queue)
        except ValueError as exc:
            raise InvalidInput("unknown queue", call_id=call_id, queue=str(queue)) from exc
        call = QueuedCall(call_id=call_id, queue=queue, enqueued_at=enqueued_at or self._clock())
        score = str(to_us(call.enqueued_at))
        added = await self._call(
            self._enqueue,
            keys=[self._call_key(call_id), f"{self._p}waiting", self._queue_key(queue)],
            args=[call_id, queue.value, score],
        )
        if int(added) != 1:
            raise Conflict("call is already queued or ringing an agent", call_id=call_id)
        await self._publish_queue("enqueued", call_id, queue)
        return call

    async def dequeue(self, call_id: str) -> None:
        """The caller left the queue (hung up, or leaves a message instead of waiting).

        A call that is ringing an agent is withdrawn from the agent, who is available again
        with their place in the idle line kept.
        """
        _check_id(call_id, "call_id")
        for _ in range(_ATTEMPTS):
            queue, offered_to = await self._read_call(call_id)
            if queue is None:
                raise NotFound("call is not queued", call_id=call_id)
            if offered_to:
                try:
                    await self._change(offered_to, Trigger.CALL_ENDED, call_id=call_id, call_op="delete")
                except IllegalTransition:
                    continue  # the offer was answered or missed meanwhile: look again
                await self._publish_queue("dequeued", call_id, queue, agent_id=offered_to)
                return
            removed = await self._call(
                self._drop_waiting,
                keys=[self._call_key(call_id), f"{self._call_key(call_id)}:declined",
                      f"{self._p}waiting", self._queue_key(queue)],
                args=[call_id],
            )
            if int(removed) == 1:
                await self._publish_queue("dequeued", call_id, queue)
                return
            if int(removed) == -1:
                raise NotFound("call is not queued", call_id=call_id)
        raise Conflict("call kept changing while being dequeued", call_id=call_id)

    async def queued(self) -> list[QueuedCall]:
        """The waiting calls of all queues, first come first (calls ringing an agent excluded)."""
        rows = await self._call(self._snapshot, keys=[f"{self._p}waiting"], args=[self._p])
        return [
            QueuedCall(
                call_id=_text(call_id), queue=Queue(_text(queue)), enqueued_at=from_us(_text(enqueued)),
                declined_by=frozenset(_text(a) for a in declined),
            )
            for call_id, queue, enqueued, declined in rows
        ]

    async def position(self, call_id: str) -> int:
        """1-based place among the waiting calls of the call's queue ("您前面还有N位": N = this - 1).

        NotFound when the call is not waiting: unknown, answered, or ringing an agent.
        """
        _check_id(call_id, "call_id")
        found = await self._call(self._position, keys=[self._call_key(call_id)], args=[self._p, call_id])
        if not found:
            raise NotFound("call is not queued", call_id=call_id)
        queue, rank, offered_to = _text(found[0]), int(found[1]), _text(found[2])
        if rank < 0:
            raise NotFound("call is ringing an agent, not waiting", call_id=call_id, queue=queue,
                           offered_to=offered_to)
        return rank + 1

    # -- offers -----------------------------------------------------------------

    async def claim_next_offer(self, now: datetime | None = None) -> Offer | None:
        """Atomically pick the next (call, agent) pair and mark the agent ringing with the call.

        The call leaves its queue (it keeps its `enqueued_at` in case the offer is missed).
        Safe to call from any number of nodes at once; None when nothing can be offered.
        """
        moment = now or self._clock()
        found = await self._call(
            self._claim,
            keys=[f"{self._p}available", f"{self._p}waiting"],
            args=[self._p, str(to_us(moment)), AgentStatus.RINGING.value, self._plan],
        )
        if not found:
            return None
        call_id, agent_id, queue = _text(found[0]), _text(found[1]), _text(found[2])
        before = _agent_from(dict(zip(_FIELDS, (_text(v) for v in found[3]), strict=True)))
        after = decide(before, Trigger.OFFER, moment, call_id=call_id, policy=self.policy)
        log.info("call offered", extra={"call_id": call_id, "agent": agent_id, "queue": queue})
        await self._publish_agent(after)
        await self._publish_queue("offered", call_id, queue, agent_id=agent_id)
        return Offer(call_id=call_id, agent_id=agent_id)

    async def offer_answered(self, call_id: str, agent_id: str, *,
                             waited_seconds: float | None = None) -> AgentState:
        """The agent picked up: on_call; the call is no longer the distributor's.

        `waited_seconds` (queue to answer) goes out with the `answered` event, so the wallboard
        counts the call as answered, within 15 s or not, when it is answered, not when it ends."""
        _check_id(call_id, "call_id")
        _check_id(agent_id, "agent_id")
        state, queue = await self._change(agent_id, Trigger.ANSWER, call_id=call_id, call_op="delete")
        await self._publish_queue("answered", call_id, queue, agent_id=agent_id,
                                  waited_seconds=waited_seconds)
        return state

    async def offer_missed(self, call_id: str, agent_id: str, *, declined: bool = False) -> AgentState:
        """The offer rang out (or was declined): the call goes back to its place in its queue,
        is never offered to this agent again, and the agent goes on break(no_answer)."""
        _check_id(call_id, "call_id")
        _check_id(agent_id, "agent_id")
        return await self._miss(call_id, agent_id, declined=declined, now=None)

    async def call_ended(self, agent_id: str) -> AgentState:
        """The agent's call ended: wrap-up (after_call_work). If the desk was still ringing, the
        caller hung up first: the offer is withdrawn and the agent is available again."""
        _check_id(agent_id, "agent_id")
        state = await self.agent(agent_id)
        if state.status is AgentStatus.RINGING:
            new, queue = await self._change(agent_id, Trigger.CALL_ENDED, call_id=state.call_id,
                                            call_op="delete")
            await self._publish_queue("dequeued", state.call_id or "", queue, agent_id=agent_id)
            return new
        new, _ = await self._change(agent_id, Trigger.CALL_ENDED)
        return new

    async def sweep(self, now: datetime | None = None) -> list[AgentState]:
        """Apply the centre's limits: wrap-ups past `wrap_up_limit` end, offers ringing past
        `offer_limit` count as missed (the node that rang may have died). Run it periodically;
        running it on several nodes is harmless, as a change already made no longer applies.
        Returns the agents it changed."""
        moment = now or self._clock()
        changed: list[AgentState] = []
        for state in await self.agents():
            try:
                if wrap_up_expired(state, moment, self.policy):
                    new, _ = await self._change(state.agent_id, Trigger.WRAP_UP_EXPIRED, now=moment)
                    changed.append(new)
                elif offer_overdue(state, moment, self.policy) and state.call_id is not None:
                    changed.append(await self._miss(state.call_id, state.agent_id, declined=False,
                                                    now=moment))
            except (IllegalTransition, NotFound):
                continue  # the agent moved on meanwhile: nothing left to enforce
        return changed

    async def _miss(self, call_id: str, agent_id: str, *, declined: bool, now: datetime | None) -> AgentState:
        trigger = Trigger.OFFER_DECLINED if declined else Trigger.OFFER_TIMEOUT
        state, queue = await self._change(agent_id, trigger, call_id=call_id, call_op="requeue", now=now)
        await self._publish_queue("requeued", call_id, queue, agent_id=agent_id)
        return state

    # -- the read-decide-write loop ----------------------------------------------

    async def _change(
        self,
        agent_id: str,
        trigger: Trigger,
        *,
        reason: BreakReason | None = None,
        call_id: str | None = None,
        call_op: str = "",
        skills: frozenset[Skill] | None = None,
        now: datetime | None = None,
    ) -> tuple[AgentState, str]:
        """Read the agent, apply `decide`, write with compare-and-set; repeat on a race.

        `call_op` moves the agent's call in the same write: "requeue" (back to its place,
        declined by the agent) or "delete" (answered or abandoned); the call must be ringing
        this agent. Returns the new state and the call's queue ("" without a call_op).
        """
        for _ in range(_ATTEMPTS):
            moment = now or self._clock()
            state, version = await self._read_agent(agent_id)
            if state is None:
                if trigger is not Trigger.SIGN_IN:
                    raise NotFound("no such agent", agent_id=agent_id)
                state = AgentState.signed_out(agent_id, moment)
            if skills is not None and state.status is AgentStatus.OFFLINE:
                state = replace(state, skills=skills)
            new = decide(state, trigger, moment, reason=reason, call_id=call_id, policy=self.policy)
            op, queue, target = call_op, "", call_id or ""
            if op:
                found, offered_to = await self._read_call(target)
                if found is None and state.call_id == target:
                    op = ""  # the call record is already gone: only the agent is left to move
                elif found is None:
                    raise NotFound("call is not queued", call_id=target, agent_id=agent_id)
                elif offered_to != agent_id:
                    raise IllegalTransition(
                        "call is not ringing this agent", rule="not_offered_to_agent",
                        call_id=target, agent_id=agent_id, offered_to=offered_to or None,
                    )
                queue = found or ""
            available = str(to_us(new.idle_since)) if new.takes_calls and new.idle_since else ""
            call_key = self._call_key(target or "-")
            written = await self._call(
                self._write,
                keys=[self._agent_key(agent_id), f"{self._p}agents", f"{self._p}available",
                      call_key, f"{call_key}:declined", f"{self._p}waiting",
                      self._queue_key(queue or "-")],
                args=[agent_id, str(version), json.dumps(_agent_fields(new)), available, op, target],
            )
            if int(written) == 1:
                log.info("agent status", extra={"agent": agent_id, "status": new.status.value,
                                                "trigger": trigger.value, "call_id": new.call_id})
                await self._publish_agent(new)
                return new, queue
        raise Conflict("agent kept changing; reload and retry", agent_id=agent_id, trigger=str(trigger))

    async def _read_agent(self, agent_id: str) -> tuple[AgentState | None, int]:
        values = _decode_map(await self._call(self._redis.hgetall, self._agent_key(agent_id)))
        if not values:
            return None, 0
        return _agent_from(values), int(values.get("version", "0"))

    async def _read_call(self, call_id: str) -> tuple[str | None, str]:
        """(queue, agent it rings or "") of a known call, (None, "") of an unknown one."""
        queue, offered_to = await self._call(
            self._redis.hmget, self._call_key(call_id), ["queue", "offered_to"]
        )
        if queue is None:
            return None, ""
        return _text(queue), _text(offered_to or "")

    @property
    def paused(self) -> bool:
        """Redis failed a call lately: the store answers Unavailable at once for a while."""
        return time.monotonic() < self._skip_until

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One bounded Redis call. After a failure, calls fail at once for `pause` seconds: a
        dead Redis costs the call path one short wait, not one per operation."""
        if self.paused:
            raise Unavailable("Redis is unavailable for call distribution",
                              cause="not asked: it failed within the last seconds")
        try:
            async with asyncio.timeout(self.timeout):
                return await fn(*args, **kwargs)
        except (TimeoutError, RedisError, OSError) as exc:
            self._skip_until = time.monotonic() + self.pause
            raise Unavailable("Redis is unavailable for call distribution",
                              cause=str(exc) or type(exc).__name__) from exc

    # -- events -------------------------------------------------------------------

    async def _publish_agent(self, state: AgentState) -> None:
        await self._publish({
            "type": "agent.status",
            "agent_id": state.agent_id,
            "status": state.status.value,
            "since": state.since.isoformat(),
            "call_id": state.call_id,
            "break_reason": state.break_reason.value if state.break_reason else None,
        })

    async def _publish_queue(self, change: str, call_id: str, queue: str, *, agent_id: str | None = None,
                             waited_seconds: float | None = None) -> None:
        payload: dict[str, Any] = {"type": "queue.changed", "change": change, "call_id": call_id,
                                   "queue": queue, "agent_id": agent_id}
        if waited_seconds is not None:
            payload["waited_seconds"] = round(waited_seconds, 3)
        if self._bus is not None and not self.paused:
            # How many wait now, all queues: every desk shows it (one ZCARD per change).
            with suppress(Exception):
                async with asyncio.timeout(self.timeout):
                    payload["waiting"] = int(await self._redis.zcard(f"{self._p}waiting"))
        await self._publish(payload)

    async def _publish(self, payload: dict[str, Any]) -> None:
        """Best effort: the state is already written; a lost event must not undo or fail it."""
        if self._bus is None or self.paused:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self._bus.publish(EVENT_TOPIC, payload)
        except Exception as exc:  # noqa: BLE001 - best effort by contract, whatever went wrong
            log.warning("ACD event not published", extra={"type": payload["type"], "error": str(exc)})
