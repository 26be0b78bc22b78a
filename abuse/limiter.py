"""Redis adapter of the anti-abuse policy: atomic sliding windows, measures, audit streams.

`AbusePolicy` (pure) says what to do; this module counts and remembers, shared by every backend
node. Both the ARI call flow and the FastAGI screen (`telephony.fastagi`) call the same
`AbuseScreen.decide`, so a caller meets one policy whichever way the call enters.

Why one Lua script per decision: counting the call, reading the other signals and the standing
measure, choosing the level, writing a new measure and the audit entry happen in one atomic step
on the Redis server. Two nodes screening the same number at the same instant therefore see
distinct counts (1, 2, 3...), and no client-side read-modify-write can interleave: 100
concurrent decisions give exactly as many allows as the thresholds say. The script runs the plan
compiled by `AbusePolicy.lua_plan`; the adapter re-runs `AbusePolicy.evaluate` on the signals the
script returns to build the `Decision` value and counts any disagreement (tests keep it at 0).

Time is Redis server time (`TIME` inside the scripts), never the client clock: nodes with skewed
clocks still share one window.

Fail open: if Redis does not answer within `decision_timeout` (down, restarting, overloaded) the
decision is "allow", logged and counted in `stats`; the line keeps working and decisions resume
as soon as Redis answers again (redis-py reconnects; scripts are re-loaded on NOSCRIPT).

Key layout (all under the injected `key_prefix`; per-caller keys share a `{caller}` hash tag):
    abuse:{c}:calls        ZSET  call events, score = server ms, TTL = longest call window
    abuse:{c}:req:<fp>     ZSET  the same request repeated (fp = request fingerprint)
    abuse:{c}:occupy       ZSET  long calls without new content
    abuse:{c}:harass       ZSET  staff harassment flags (one member per call)
    abuse:{c}:harass_by    ZSET  who flagged (one member per staff member)
    abuse:{c}:restrictions ZSET  earlier restrict/review measures ("decisions already taken")
    abuse:{c}:measure      HASH  the standing measure, PEXPIREAT = its expiry
    abuse:{c}:lifted       STRING server ms of the last lift: older events no longer count
    abuse:{c}:audit        STREAM the caller's history (MAXLEN ~, TTL)
    abuse:measures         ZSET  caller -> measure expiry, for the supervisor list (expires
                                  with its last measure)
    abuse:audit            STREAM every record of every caller (MAXLEN ~; records older than
                                  the callers' history TTL trimmed, and the key expires with it)
Members of the per-caller signal sets are calls (`call:<call id>`), added only if absent: a
signal is one call's, however often that call is screened, heard or marked. Harassment flags
are also weighted by who flagged: the signal is min(calls flagged, people who flagged + 1),
so one person's flags alone reach at most one step below the count a restriction needs when
that count is 3 (the shipped ladder): restricting a citizen takes a second person's word.
The two global keys make the scripts single-instance (not Redis Cluster) scripts; that is the
deployment we run (one Redis shared by the nodes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from abuse.policy import (
    ANONYMOUS,
    AbusePolicy,
    AuditRecord,
    Decision,
    Level,
    Measure,
    Signals,
    caller_key,
    from_ms,
    request_fingerprint,
    to_ms,
)
from kernel.errors import Conflict, InvalidInput, Unavailable
from kernel.metrics import Metrics
from kernel.privacy import mask_phone

log = logging.getLogger(__name__)


def call_member(call_id: str | None, fallback: str) -> str:
    """What a signal's sorted set holds for one call: the call itself, so that one agent
    marking the same call three times, or a call screened again (a FastAGI retry, a replayed
    uniqueid), counts once. Without a call id, each event is its own member."""
    return f"call:{call_id}" if call_id else fallback

_DECIDE_LUA = r"""
local plan = cjson.decode(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, caller = ARGV[1], ARGV[2]
-- The call's own member ('call:<id>'): a call screened or heard again counts once.
local member = ARGV[10]
local has_request, emergency = ARGV[4] == '1', ARGV[5] == '1'
-- '0': the words of a call already counted (heard after the call was screened).
local count_call = ARGV[9] ~= '0'
local w = plan.windows
local lifted = tonumber(redis.call('GET', KEYS[10]) or '0')

-- Sliding window: drop what fell out, optionally add this event, count what is left after
-- max(window start, last lift).
-- ZCOUNT's lower bound: strictly after the window start, or from the lift on (inclusive, so a
-- call in the same millisecond as the lift still counts itself).
local function since(window)
  local floor = now - window
  if lifted > floor then return tostring(lifted) end
  return '(' .. floor
end
local function slide(key, window, add)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if add then
    redis.call('ZADD', key, 'NX', now, member)
    redis.call('PEXPIRE', key, window)
  end
  return redis.call('ZCOUNT', key, since(window), '+inf')
end

local longest = math.max(w[1], w[2], w[3])
slide(KEYS[1], longest, count_call)
local s = {}
s[1] = redis.call('ZCOUNT', KEYS[1], since(w[1]), '+inf')
s[2] = redis.call('ZCOUNT', KEYS[1], since(w[2]), '+inf')
s[3] = redis.call('ZCOUNT', KEYS[1], since(w[3]), '+inf')
if has_request then s[4] = slide(KEYS[2], w[4], true) else s[4] = 0 end
s[5] = slide(KEYS[3], w[5], false)
s[6] = math.min(slide(KEYS[4], w[6], false), slide(KEYS[11], w[6], false) + 1)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - w[7])
s[7] = redis.call('ZCARD', KEYS[5])

local m = redis.call('HMGET', KEYS[6], 'level', 'reason', 'created_at', 'expires_at',
                     'decided_by', 'decision_id', 'appealed')
local standing = 0
local m_expires = nil
if m[1] and tonumber(m[4]) > now then
  for i, name in ipairs(plan.levels) do if name == m[1] then standing = i - 1 end end
  m_expires = m[4]
else
  m = {}
end

local level, reasons, new_measure = 0, {}, 0
if emergency then
  reasons = {'emergency'}
elseif plan.allow_listed then
  reasons = {'allow_list'}
else
  local computed, fired = 0, {}
  for _, r in ipairs(plan.rules) do
    if s[r[1]] >= r[2] then
      if r[3] > computed then computed = r[3]; fired = {r[4]}
      elseif r[3] == computed then table.insert(fired, r[4]) end
    end
  end
  if computed >= 3 and plan.escalate > 0 and s[7] >= plan.escalate then
    computed = 4
    table.insert(fired, plan.escalate_reason)
  end
  if computed > plan.cap then
    computed = plan.cap
    table.insert(fired, 'anonymous_cap')
  end
  if computed >= 2 and computed > standing then
    local expires = now + plan.durations[computed + 1]
    redis.call('DEL', KEYS[6])
    redis.call('HSET', KEYS[6], 'level', plan.levels[computed + 1], 'reason', table.concat(fired, ','),
               'created_at', now, 'expires_at', expires, 'decided_by', 'policy',
               'decision_id', id, 'appealed', '0')
    redis.call('PEXPIREAT', KEYS[6], expires)
    redis.call('ZADD', KEYS[7], expires, caller)
    -- The list of callers under a measure lives as long as its last measure, not forever.
    redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
    redis.call('PEXPIREAT', KEYS[7], redis.call('ZRANGE', KEYS[7], -1, -1, 'WITHSCORES')[2])
    if computed >= 3 then
      redis.call('ZADD', KEYS[5], now, id)
      redis.call('PEXPIRE', KEYS[5], w[7])
    end
    level, reasons, new_measure, m_expires = computed, fired, 1, tostring(expires)
  elseif m_expires and standing >= computed then
    level = standing
    reasons = fired
    table.insert(reasons, 'active_measure:' .. plan.levels[standing + 1])
  else
    level, reasons = computed, fired
  end
end

local signals = table.concat(s, ',')
local fields = {'event', 'decision', 'caller', caller, 'at', now, 'actor', 'policy',
                'decision_id', id, 'level', plan.levels[level + 1],
                'reasons', table.concat(reasons, ','), 'measure_expires_at', m_expires or '',
                'signals', signals, 'note', ''}
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[7], '*', unpack(fields))
redis.call('PEXPIRE', KEYS[8], ARGV[8])
redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[6], '*', unpack(fields))
redis.call('XTRIM', KEYS[9], 'MINID', '~', string.format('%d', now - tonumber(ARGV[8])))
redis.call('PEXPIRE', KEYS[9], ARGV[8])
return {level, table.concat(reasons, ','), signals, now, new_measure,
        m[1] or '', m[2] or '', m[3] or '', m[4] or '', m[5] or '', m[6] or '', m[7] or ''}
"""

# An event that feeds a signal (harassment flag, long occupation) plus its audit record.
_EVENT_LUA = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], 'NX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window)
if KEYS[4] then
  -- Who raised the signal: their latest flag keeps them counted for the window.
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
  redis.call('ZADD', KEYS[4], now, ARGV[7])
  redis.call('PEXPIRE', KEYS[4], window)
end
local fields = cjson.decode(ARGV[6])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(fields))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
redis.call('XTRIM', KEYS[3], 'MINID', '~', string.format('%d', now - tonumber(ARGV[5])))
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return now
"""

# A person acting on a standing measure. Compare-and-set on the measure's decision_id: if the
# measure changed since the supervisor looked (new measure, expiry), nothing is written.
_MUTATE_LUA = r"""
local current = redis.call('HGET', KEYS[1], 'decision_id')
if current ~= ARGV[2] then return 0 end
local mode = ARGV[1]
if mode == 'lift' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('SET', KEYS[5], now, 'PX', ARGV[5])
elseif mode == 'extend' then
  redis.call('HSET', KEYS[1], 'expires_at', ARGV[5], 'decided_by', ARGV[6])
  redis.call('PEXPIREAT', KEYS[1], ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
  redis.call('PEXPIREAT', KEYS[2], redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2])
elseif mode == 'appeal' then
  redis.call('HSET', KEYS[1], 'appealed', '1')
end
local fields = cjson.decode(ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', unpack(fields))
redis.call('PEXPIRE', KEYS[3], ARGV[9])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', unpack(fields))
redis.call('PEXPIRE', KEYS[4], ARGV[9])
return 1
"""

_MEASURE_FIELDS = ("level", "reason", "created_at", "expires_at", "decided_by", "decision_id", "appealed")


@dataclass
class ScreenStats:
    """Counters a metrics endpoint can export. Plain ints: one event loop per process."""

    decisions: int = 0
    fail_open: int = 0
    divergences: int = 0


def _flatten(fields: Mapping[str, str]) -> str:
    return json.dumps([item for pair in fields.items() for item in pair], ensure_ascii=False)


def _measure_from(caller: str, values: Mapping[str, str]) -> Measure | None:
    if not values or not values.get("level"):
        return None
    return Measure(
        caller=caller,
        level=Level(values["level"]),
        reason=values.get("reason", ""),
        created_at=from_ms(int(values["created_at"])),
        expires_at=from_ms(int(values["expires_at"])),
        decided_by=values.get("decided_by", ""),
        decision_id=values.get("decision_id", ""),
        appealed=values.get("appealed") == "1",
    )


class AbuseScreen:
    """Screens callers against the policy, shared by all nodes through one Redis.

    `redis` must be created with `decode_responses=False` or `True` (both work); it should
    have short socket timeouts, but `decision_timeout` bounds `decide` regardless.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        policy: AbusePolicy,
        *,
        key_prefix: str = "hotline:",
        decision_timeout: float = 0.25,
        audit_maxlen: int = 100_000,
        caller_history_maxlen: int = 1_000,
        caller_history_ttl: timedelta = timedelta(days=400),
        metrics: Metrics | None = None,
    ) -> None:
        self._redis = redis
        self.policy = policy
        self._prefix = key_prefix
        self.decision_timeout = decision_timeout
        self._audit_maxlen = audit_maxlen
        self._caller_maxlen = caller_history_maxlen
        self._caller_ttl_ms = round(caller_history_ttl.total_seconds() * 1000)
        self._decide = redis.register_script(_DECIDE_LUA)
        self._event = redis.register_script(_EVENT_LUA)
        self._mutate = redis.register_script(_MUTATE_LUA)
        self.stats = ScreenStats()
        self._decisions = (metrics if metrics is not None else Metrics()).counter(
            "hotline_screen_decisions_total",
            "Anti-abuse screen decisions by level; outcome fail_open when Redis did not answer.",
            ("level", "outcome"))
        self._plans: dict[tuple[bool, bool], str] = {}

    # -- keys -------------------------------------------------------------------

    def _key(self, caller: str, name: str) -> str:
        return f"{self._prefix}abuse:{{{caller}}}:{name}"

    @property
    def _measures_key(self) -> str:
        return f"{self._prefix}abuse:measures"

    @property
    def _audit_key(self) -> str:
        return f"{self._prefix}abuse:audit"

    def _lift_ttl_ms(self) -> int:
        w = self.policy.windows
        longest = max(w.long, w.repeat, w.occupation, w.harassment)
        return round(longest.total_seconds() * 1000)

    # -- the decision ----------------------------------------------------------

    def _plan_json(self, caller: str) -> str:
        """The plan only differs for anonymous and allow-listed callers: encode it once per kind."""
        kind = (caller == ANONYMOUS, self.policy.is_allow_listed(caller))
        plan = self._plans.get(kind)
        if plan is None:
            plan = self._plans[kind] = json.dumps(self.policy.lua_plan(caller), ensure_ascii=False)
        return plan

    async def decide(
        self,
        caller_number: str | None,
        *,
        request_text: str | None = None,
        now: datetime | None = None,
        call_id: str | None = None,
        count_call: bool = True,
    ) -> Decision:
        """Screen one call. Never raises for Redis trouble: it fails open to "allow".

        `count_call=False` screens what a call already counted said (`hear_request`): its
        request counts towards the repeat signal, the call itself is not counted twice.

        `now` is only used to time-stamp a fail-open decision (when Redis, whose clock is
        authoritative, cannot be asked); otherwise the server time decides.
        """
        caller = caller_key(caller_number)
        decision_id = uuid.uuid4().hex
        emergency = self.policy.is_emergency(request_text)
        fingerprint = request_fingerprint(request_text)
        keys = [
            self._key(caller, "calls"),
            self._key(caller, f"req:{fingerprint or '-'}"),
            self._key(caller, "occupy"),
            self._key(caller, "harass"),
            self._key(caller, "restrictions"),
            self._key(caller, "measure"),
            self._measures_key,
            self._key(caller, "audit"),
            self._audit_key,
            self._key(caller, "lifted"),
            self._key(caller, "harass_by"),
        ]
        args = [
            decision_id,
            caller,
            self._plan_json(caller),
            "1" if fingerprint else "0",
            "1" if emergency else "0",
            self._audit_maxlen,
            self._caller_maxlen,
            self._caller_ttl_ms,
            "1" if count_call else "0",
            call_member(call_id, decision_id),
        ]
        self.stats.decisions += 1
        try:
            async with asyncio.timeout(self.decision_timeout):
                raw = await self._decide(keys=keys, args=args)
        except (TimeoutError, RedisError, OSError) as exc:
            self.stats.fail_open += 1
            cause = f"{type(exc).__name__}: {exc}"[:200]
            log.warning(
                "abuse screen failed open",
                extra={"caller": mask_phone(caller), "call_id": call_id,
                       "decision_id": decision_id, "cause": cause,
                       "fail_open_total": self.stats.fail_open},
            )
            moment = now or datetime.now(UTC)
            failed_open = self.policy.fail_open(caller, decision_id=decision_id, now=moment, cause=cause)
            self._decisions.labels(failed_open.level.value, "fail_open").inc()
            return failed_open
        decision = self._decision_from_script(caller, decision_id, emergency, raw, call_id)
        self._decisions.labels(decision.level.value, "decided").inc()
        return decision

    def _decision_from_script(
        self, caller: str, decision_id: str, emergency: bool, raw: list[Any], call_id: str | None
    ) -> Decision:
        text = [v.decode() if isinstance(v, bytes) else v for v in raw]
        lua_level = Level.from_rank(int(text[0]))
        lua_reasons = tuple(text[1].split(",")) if text[1] else ()
        signals = Signals.from_wire(text[2])
        server_now = from_ms(int(text[3]))
        before = _measure_from(caller, dict(zip(_MEASURE_FIELDS, text[5:12], strict=True)))
        decision = self.policy.evaluate(
            caller, signals, active_measure=before, emergency=emergency,
            decision_id=decision_id, now=server_now,
        )
        if decision.level != lua_level or decision.reasons != lua_reasons:
            # The stored state follows the script; report rather than hide the disagreement.
            self.stats.divergences += 1
            log.error(
                "abuse policy and Lua script disagree",
                extra={"caller": mask_phone(caller), "decision_id": decision_id,
                       "python_level": decision.level.value, "lua_level": lua_level.value,
                       "python_reasons": decision.reasons, "lua_reasons": lua_reasons},
            )
            decision = replace(
                decision, level=lua_level, reasons=lua_reasons,
                prompt=self.policy.prompts.get(lua_level),
                audit=replace(decision.audit, level=lua_level, reasons=lua_reasons),
            )
        log.info(
            "abuse screen decision",
            extra={"caller": mask_phone(caller), "call_id": call_id, "decision_id": decision_id,
                   "level": decision.level.value, "reasons": ",".join(decision.reasons)},
        )
        return decision

    # -- signals fed by agents and the call flow ------------------------------

    async def hear_request(self, caller_number: str, request_text: str, *, call_id: str) -> Decision:
        """What a screened caller said, once transcribed: the same request repeated while it is
        handled feeds the repeat signal (and may bring a measure for the caller's next calls);
        emergency words are recognised and audited (the emergency override). The call itself
        was counted when it was screened and is not counted again."""
        return await self.decide(caller_number, request_text=request_text, call_id=call_id,
                                 count_call=False)

    async def flag_harassment(
        self, caller_number: str, *, agent: str, call_id: str, note: str = ""
    ) -> AuditRecord:
        """An agent marks a call as harassing/insulting/threatening staff."""
        caller = caller_key(caller_number)
        now = await self._server_now()
        record = self.policy.harassment_flag(
            caller=caller, actor=agent, call_id=call_id, note=note, now=now
        )
        await self._record_event(caller, "harass", self.policy.windows.harassment, record, call_id,
                                 source=agent)
        return record

    async def record_call_end(
        self, caller_number: str, *, call_id: str, duration: timedelta, new_content: bool
    ) -> AuditRecord | None:
        """Called at hang-up: a long call that brought nothing new counts as long occupation."""
        if not self.policy.is_long_occupation(duration, new_content=new_content):
            return None
        caller = caller_key(caller_number)
        now = await self._server_now()
        record = self.policy.long_occupation(caller=caller, call_id=call_id, duration=duration, now=now)
        await self._record_event(caller, "occupy", self.policy.windows.occupation, record, call_id)
        return record

    async def _record_event(
        self, caller: str, name: str, window: timedelta, record: AuditRecord, call_id: str, *,
        source: str | None = None,
    ) -> None:
        """Add one call's event to a signal; `source`: who raised it (kept in `<name>_by`)."""
        keys = [self._key(caller, name), self._key(caller, "audit"), self._audit_key]
        if source is not None:
            keys.append(self._key(caller, f"{name}_by"))
        await self._call(
            self._event,
            keys=keys,
            args=[
                call_member(call_id, uuid.uuid4().hex),
                round(window.total_seconds() * 1000),
                self._audit_maxlen,
                self._caller_maxlen,
                self._caller_ttl_ms,
                _flatten(record.to_fields()),
                *([f"by:{source}"] if source is not None else []),
            ],
        )

    # -- supervisor actions ----------------------------------------------------

    async def measure(self, caller_number: str) -> Measure | None:
        caller = caller_key(caller_number)
        values = await self._call(self._redis.hgetall, self._key(caller, "measure"))
        measure = _measure_from(caller, _decode_map(values))
        now = await self._server_now()
        return measure if measure and measure.is_active(now) else None

    async def lift(self, caller_number: str, *, supervisor: str, reason: str) -> AuditRecord:
        """End a measure early; events before the lift stop counting against the caller."""
        caller = caller_key(caller_number)
        current, now = await self._measure_and_now(caller)
        record = self.policy.lift(current, caller=caller, actor=supervisor, reason=reason, now=now)
        assert current is not None
        await self._apply("lift", caller, current, record, expires_ms="", decided_by="")
        return record

    async def extend(
        self, caller_number: str, *, supervisor: str, by: timedelta, reason: str
    ) -> Measure:
        caller = caller_key(caller_number)
        current, now = await self._measure_and_now(caller)
        extended, record = self.policy.extend(
            current, caller=caller, actor=supervisor, by=by, reason=reason, now=now
        )
        assert current is not None
        await self._apply(
            "extend", caller, current, record,
            expires_ms=str(to_ms(extended.expires_at)), decided_by=extended.decided_by,
        )
        return extended

    async def appeal(self, caller_number: str, *, statement: str, received_by: str) -> Measure:
        """Record the caller's appeal; the measure is flagged for a supervisor to decide."""
        caller = caller_key(caller_number)
        current, now = await self._measure_and_now(caller)
        appealed, record = self.policy.appeal(
            current, caller=caller, statement=statement, received_by=received_by, now=now
        )
        assert current is not None
        await self._apply("appeal", caller, current, record, expires_ms="", decided_by="")
        return appealed

    async def list_restricted(self) -> list[Measure]:
        """Standing measures (senior queue, restriction, review), soonest expiry first."""
        now_ms = to_ms(await self._server_now())
        await self._call(self._redis.zremrangebyscore, self._measures_key, "-inf", now_ms)
        members = await self._call(self._redis.zrange, self._measures_key, 0, -1)
        callers = [m.decode() if isinstance(m, bytes) else m for m in members]
        if not callers:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for caller in callers:
                pipe.hgetall(self._key(caller, "measure"))
            rows = await self._call(pipe.execute)
        measures = [_measure_from(c, _decode_map(r)) for c, r in zip(callers, rows, strict=True)]
        return [m for m in measures if m is not None and to_ms(m.expires_at) > now_ms]

    async def history(self, caller_number: str, *, limit: int = 100) -> list[AuditRecord]:
        """The caller's audit trail, newest first."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", limit=limit)
        caller = caller_key(caller_number)
        entries = await self._call(
            self._redis.xrevrange, self._key(caller, "audit"), "+", "-", count=limit
        )
        return [AuditRecord.from_fields(_decode_map(fields)) for _, fields in entries]

    # -- helpers ---------------------------------------------------------------

    async def _measure_and_now(self, caller: str) -> tuple[Measure | None, datetime]:
        values = await self._call(self._redis.hgetall, self._key(caller, "measure"))
        now = await self._server_now()
        return _measure_from(caller, _decode_map(values)), now

    async def _apply(
        self, mode: str, caller: str, current: Measure, record: AuditRecord, *,
        expires_ms: str, decided_by: str,
    ) -> None:
        applied = await self._call(
            self._mutate,
            keys=[self._key(caller, "measure"), self._measures_key, self._key(caller, "audit"),
                  self._audit_key, self._key(caller, "lifted")],
            args=[mode, current.decision_id, caller, _flatten(record.to_fields()),
                  expires_ms if mode == "extend" else str(self._lift_ttl_ms()), decided_by,
                  self._audit_maxlen, self._caller_maxlen, self._caller_ttl_ms],
        )
        if int(applied) != 1:
            raise Conflict(
                "the measure changed meanwhile; reload and retry",
                caller=mask_phone(caller), decision_id=current.decision_id,
            )
        log.info(
            "abuse measure %s", mode,
            extra={"caller": mask_phone(caller), "decision_id": current.decision_id,
                   "actor": record.actor},
        )

    async def _server_now(self) -> datetime:
        seconds, micros = await self._call(self._redis.time)
        return from_ms(int(seconds) * 1000 + int(micros) // 1000)

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Supervisor and agent actions do not fail open: they report Redis trouble as Unavailable."""
        try:
            async with asyncio.timeout(max(self.decision_timeout, 2.0)):
                return await fn(*args, **kwargs)
        except (TimeoutError, RedisError, OSError) as exc:
            raise Unavailable("Redis is unavailable for the abuse screen", cause=str(exc)) from exc


def _decode_map(values: Mapping[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in values.items()
    }

