"""Graduated anti-abuse policy for repeat callers: pure rules, no I/O, no clock.

The regulations (Linyi art. 46, Beijing art. 35) forbid "repeatedly using the hotline without
good reason, deliberately occupying it for a long time, harassing, insulting or threatening
staff", and prescribe *persuasion, education and notice of the legal consequences first*
(劝阻、教育、告知法律后果). A public hotline may therefore never silently drop a citizen. The ladder
is:

    allow -> warn (education prompt, then queued) -> senior_queue (designated senior agents)
          -> restrict (recorded notice, the caller can still leave a message that becomes a ticket)
          -> supervisor_review (as restrict, and a supervisor must look at it)

Every measure expires, an allow-list and emergency keywords (fire, injury, violence...) override
everything, a supervisor can lift or extend a measure with a reason, a caller can appeal, and every
decision yields an `AuditRecord` value.

This module must never touch Redis, a socket or the wall clock: the adapter (`abuse.limiter`)
gathers the `Signals` atomically and passes the server time in. The Redis Lua script mirrors
`AbusePolicy.evaluate` from the plan that `AbusePolicy.lua_plan` compiles, so the rules live here
once; an integration test checks that both agree.
"""

from __future__ import annotations

import enum
import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kernel.errors import InvalidInput, NotFound
from kernel.privacy import mask_phone, normalize_number
from kernel.sound_alike import heard_as

ANONYMOUS = "anonymous"
"""Caller key shared by every withheld/anonymous caller: they are screened as one class."""

POLICY_ACTOR = "policy"
"""`actor` of decisions taken by the rules rather than by a person."""

_WITHHELD = frozenset(
    {"", "anonymous", "unknown", "restricted", "private", "withheld", "unavailable", "<unknown>",
     "asterisk", "none", "null"}
)


class Level(enum.StrEnum):
    """Rungs of the ladder, weakest first. The value is what dialplans and the API see."""

    ALLOW = "allow"
    WARN = "warn"
    SENIOR_QUEUE = "senior_queue"
    RESTRICT = "restrict"
    SUPERVISOR_REVIEW = "supervisor_review"

    @property
    def rank(self) -> int:
        return _LEVELS.index(self)

    @classmethod
    def from_rank(cls, rank: int) -> Level:
        return _LEVELS[rank]

    @property
    def is_measure(self) -> bool:
        """Levels that persist as a measure (with an expiry) beyond the single call."""
        return self.rank >= Level.SENIOR_QUEUE.rank


_LEVELS: tuple[Level, ...] = tuple(Level)


class Signal(enum.StrEnum):
    """Counted signals per caller key. The order is the wire order of the Lua script."""

    CALLS_SHORT = "calls_short"
    CALLS_MEDIUM = "calls_medium"
    CALLS_LONG = "calls_long"
    REPEATS = "repeats"
    """The same request (by fingerprint) within the repeat window. The window stands in for
    "while its ticket is open": the screen does not read the ticket store (see limiter)."""
    LONG_OCCUPATIONS = "long_occupations"
    HARASSMENT_FLAGS = "harassment_flags"


CALL_SIGNALS = (Signal.CALLS_SHORT, Signal.CALLS_MEDIUM, Signal.CALLS_LONG)


class AuditEvent(enum.StrEnum):
    DECISION = "decision"
    HARASSMENT_FLAG = "harassment_flag"
    LONG_OCCUPATION = "long_occupation"
    LIFT = "lift"
    EXTEND = "extend"
    APPEAL = "appeal"


# --------------------------------------------------------------------------- caller identity


def caller_key(number: str | None) -> str:
    """Normalise a caller id to the key the policy counts under.

    Withheld numbers all map to `ANONYMOUS` (one class with its own, looser thresholds). Numbers
    keep digits only, so "+86 138-0013-8000" and "8613800138000" count together; a leading
    international prefix 0086/+86 is dropped so a mobile is counted once however it arrives.
    """
    raw = (number or "").strip().strip('"').lower()
    if raw in _WITHHELD:
        return ANONYMOUS
    return normalize_number(raw) or ANONYMOUS



def request_fingerprint(text: str | None) -> str | None:
    """A short stable id for "the same request", insensitive to spacing, case and punctuation."""
    if not text:
        return None
    normalised = unicodedata.normalize("NFKC", text).lower()
    normalised = "".join(ch for ch in normalised if ch.isalnum())
    if not normalised:
        return None
    return hashlib.sha1(normalised.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- values


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidInput("naive datetime: times must be timezone-aware", value=str(moment))
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Signals:
    """What the adapter counted for one caller key at decision time (this call included)."""

    calls_short: int = 0
    calls_medium: int = 0
    calls_long: int = 0
    repeats: int = 0
    long_occupations: int = 0
    #: Calls flagged by staff, weighted by who flagged: min(calls, people + 1) (`abuse/limiter.py`).
    harassment_flags: int = 0
    prior_restrictions: int = 0

    def value(self, signal: Signal) -> int:
        return int(getattr(self, signal.value))

    def to_wire(self) -> str:
        """Comma-separated, fixed order: the same text the Lua script writes to the audit stream."""
        values = [self.value(s) for s in Signal] + [self.prior_restrictions]
        return ",".join(str(v) for v in values)

    @classmethod
    def from_wire(cls, text: str) -> Signals:
        parts = [int(p) for p in text.split(",")] if text else []
        names = [s.value for s in Signal] + ["prior_restrictions"]
        return cls(**dict(zip(names, parts, strict=False)))

    def as_dict(self) -> dict[str, int]:
        return {s.value: self.value(s) for s in Signal} | {
            "prior_restrictions": self.prior_restrictions
        }


@dataclass(frozen=True)
class Measure:
    """A standing measure on a caller key. It always has an expiry: nothing is forever."""

    caller: str
    level: Level
    reason: str
    created_at: datetime
    expires_at: datetime
    decided_by: str
    decision_id: str
    appealed: bool = False

    def is_active(self, now: datetime) -> bool:
        return self.expires_at > now


@dataclass(frozen=True)
class Rule:
    """"When `signal` reaches `at_least`, the call is at least `level`"."""

    signal: Signal
    at_least: int
    level: Level

    @property
    def name(self) -> str:
        return f"{self.signal.value}>={self.at_least}"


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit trail. `to_fields` is the exact Redis stream entry."""

    event: AuditEvent
    caller: str
    at: datetime
    actor: str
    decision_id: str
    level: Level | None = None
    reasons: tuple[str, ...] = ()
    measure_expires_at: datetime | None = None
    signals: Signals | None = None
    note: str = ""

    def to_fields(self) -> dict[str, str]:
        return {
            "event": self.event.value,
            "caller": self.caller,
            "at": str(to_ms(self.at)),
            "actor": self.actor,
            "decision_id": self.decision_id,
            "level": self.level.value if self.level else "",
            "reasons": ",".join(self.reasons),
            "measure_expires_at": str(to_ms(self.measure_expires_at)) if self.measure_expires_at else "",
            "signals": self.signals.to_wire() if self.signals else "",
            "note": self.note,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> AuditRecord:
        expires = fields.get("measure_expires_at", "")
        signals = fields.get("signals", "")
        level = fields.get("level", "")
        reasons = fields.get("reasons", "")
        return cls(
            event=AuditEvent(fields["event"]),
            caller=fields["caller"],
            at=from_ms(int(fields["at"])),
            actor=fields.get("actor", ""),
            decision_id=fields.get("decision_id", ""),
            level=Level(level) if level else None,
            reasons=tuple(reasons.split(",")) if reasons else (),
            measure_expires_at=from_ms(int(expires)) if expires else None,
            signals=Signals.from_wire(signals) if signals else None,
            note=fields.get("note", ""),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event.value,
            "caller": self.caller,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "decision_id": self.decision_id,
            "level": self.level.value if self.level else None,
            "reasons": list(self.reasons),
            "measure_expires_at": self.measure_expires_at.isoformat() if self.measure_expires_at else None,
            "signals": self.signals.as_dict() if self.signals else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class Decision:
    """The screen's answer for one call, and what the call flow must do with it."""

    decision_id: str
    caller: str
    level: Level
    reasons: tuple[str, ...]
    at: datetime
    signals: Signals
    measure: Measure | None
    """The measure standing after this decision (new or pre-existing), if any."""
    new_measure: bool
    prompt: str | None
    audit: AuditRecord
    fail_open: bool = False

    @property
    def routes_to_senior_queue(self) -> bool:
        return self.level == Level.SENIOR_QUEUE

    @property
    def offers_message(self) -> bool:
        """Restricted callers hear the notice and may still leave a message that becomes a ticket."""
        return self.level.rank >= Level.RESTRICT.rank

    @property
    def queues_normally(self) -> bool:
        return self.level.rank <= Level.WARN.rank


@dataclass(frozen=True)
class Windows:
    short: timedelta
    medium: timedelta
    long: timedelta
    repeat: timedelta
    occupation: timedelta
    harassment: timedelta
    restriction_memory: timedelta

    def for_signal(self, signal: Signal) -> timedelta:
        return {
            Signal.CALLS_SHORT: self.short,
            Signal.CALLS_MEDIUM: self.medium,
            Signal.CALLS_LONG: self.long,
            Signal.REPEATS: self.repeat,
            Signal.LONG_OCCUPATIONS: self.occupation,
            Signal.HARASSMENT_FLAGS: self.harassment,
        }[signal]


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


# --------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class AbusePolicy:
    """The configured ladder. Build it with `abuse.policy_file.load_abuse_policy`."""

    windows: Windows
    rules: tuple[Rule, ...]
    escalate_after_restrictions: int | None
    measure_durations: Mapping[Level, timedelta]
    max_measure: timedelta
    long_call: timedelta
    anonymous_scale: int
    anonymous_max_level: Level
    allow_list: frozenset[str] = frozenset()
    emergency_keywords: tuple[str, ...] = ()
    prompts: Mapping[Level, str] = field(default_factory=dict)

    # -- inputs --------------------------------------------------------------

    def rules_for(self, caller: str) -> tuple[Rule, ...]:
        """Anonymous callers share one key, so their call-count thresholds are scaled up."""
        if caller != ANONYMOUS or self.anonymous_scale == 1:
            return self.rules
        return tuple(
            replace(r, at_least=r.at_least * self.anonymous_scale) if r.signal in CALL_SIGNALS else r
            for r in self.rules
        )

    def is_allow_listed(self, caller: str) -> bool:
        return caller in self.allow_list

    def is_emergency(self, text: str | None) -> bool:
        """Emergency words override every measure: a threatened life is never screened out.

        The words are the caller's as the recogniser wrote them: with spaces between words
        ("燃气 泄漏"), and sometimes as other words of the same sound (没气味 for 煤气味), which
        count too (kernel/sound_alike.py: three syllables or more nearly alike, two the very
        same sounds and tones).
        """
        if not text:
            return False
        folded = "".join(unicodedata.normalize("NFKC", text).casefold().split())
        if any(k in folded for k in self.emergency_keywords):
            return True
        return heard_as(folded, self.emergency_keywords) is not None

    def is_long_occupation(self, duration: timedelta, *, new_content: bool) -> bool:
        """A long call counts against the caller only when it brought nothing new."""
        return duration >= self.long_call and not new_content

    # -- the decision ---------------------------------------------------------

    def evaluate(
        self,
        caller: str,
        signals: Signals,
        *,
        active_measure: Measure | None,
        emergency: bool,
        decision_id: str,
        now: datetime,
    ) -> Decision:
        """Decide one call. `tickets/limiter.py`'s Lua script implements the same steps."""
        measure = active_measure if active_measure and active_measure.is_active(now) else None
        new_measure: Measure | None = None
        if emergency:
            level, reasons = Level.ALLOW, ["emergency"]
        elif self.is_allow_listed(caller):
            level, reasons = Level.ALLOW, ["allow_list"]
        else:
            computed, fired = Level.ALLOW, []
            for rule in self.rules_for(caller):
                if signals.value(rule.signal) >= rule.at_least:
                    if rule.level.rank > computed.rank:
                        computed, fired = rule.level, [rule.name]
                    elif rule.level == computed:
                        fired.append(rule.name)
            if (
                computed.rank >= Level.RESTRICT.rank
                and self.escalate_after_restrictions is not None
                and signals.prior_restrictions >= self.escalate_after_restrictions
            ):
                computed = Level.SUPERVISOR_REVIEW
                fired.append(f"prior_restrictions>={self.escalate_after_restrictions}")
            if caller == ANONYMOUS and computed.rank > self.anonymous_max_level.rank:
                computed = self.anonymous_max_level
                fired.append("anonymous_cap")
            standing = measure.level.rank if measure else 0
            if computed.is_measure and computed.rank > standing:
                new_measure = Measure(
                    caller=caller,
                    level=computed,
                    reason=",".join(fired),
                    created_at=now,
                    expires_at=now + self.measure_durations[computed],
                    decided_by=POLICY_ACTOR,
                    decision_id=decision_id,
                )
                level, reasons = computed, fired
            elif measure is not None and standing >= computed.rank:
                level, reasons = measure.level, [*fired, f"active_measure:{measure.level.value}"]
            else:
                level, reasons = computed, fired
        after = new_measure or measure
        audit = AuditRecord(
            event=AuditEvent.DECISION,
            caller=caller,
            at=now,
            actor=POLICY_ACTOR,
            decision_id=decision_id,
            level=level,
            reasons=tuple(reasons),
            measure_expires_at=after.expires_at if after else None,
            signals=signals,
        )
        return Decision(
            decision_id=decision_id,
            caller=caller,
            level=level,
            reasons=tuple(reasons),
            at=now,
            signals=signals,
            measure=after,
            new_measure=new_measure is not None,
            prompt=self.prompts.get(level),
            audit=audit,
        )

    def fail_open(self, caller: str, *, decision_id: str, now: datetime, cause: str) -> Decision:
        """When the counters cannot be reached the line keeps working: allow, and say why."""
        signals = Signals()
        audit = AuditRecord(
            event=AuditEvent.DECISION, caller=caller, at=now, actor=POLICY_ACTOR,
            decision_id=decision_id, level=Level.ALLOW, reasons=("fail_open",), signals=signals,
            note=cause,
        )
        return Decision(
            decision_id=decision_id, caller=caller, level=Level.ALLOW, reasons=("fail_open",),
            at=now, signals=signals, measure=None, new_measure=False,
            prompt=self.prompts.get(Level.ALLOW), audit=audit, fail_open=True,
        )

    # -- people acting on measures -------------------------------------------

    def lift(
        self, measure: Measure | None, *, caller: str, actor: str, reason: str, now: datetime
    ) -> AuditRecord:
        """A supervisor ends a measure early. A reason is mandatory: it is what an appeal reads."""
        actor, reason = _required(actor, "actor"), _required(reason, "reason")
        if measure is None or not measure.is_active(now):
            raise NotFound("no active measure for this caller", caller=mask_phone(caller))
        return AuditRecord(
            event=AuditEvent.LIFT, caller=caller, at=now, actor=actor,
            decision_id=measure.decision_id, level=measure.level, note=reason,
        )

    def extend(
        self,
        measure: Measure | None,
        *,
        caller: str,
        actor: str,
        by: timedelta,
        reason: str,
        now: datetime,
    ) -> tuple[Measure, AuditRecord]:
        """Extend a standing measure, never beyond `max_measure` from now: measures always expire."""
        actor, reason = _required(actor, "actor"), _required(reason, "reason")
        if by <= timedelta(0):
            raise InvalidInput("extension must be positive", seconds=by.total_seconds())
        if measure is None or not measure.is_active(now):
            raise NotFound("no active measure for this caller", caller=mask_phone(caller))
        expires = min(measure.expires_at + by, now + self.max_measure)
        extended = replace(measure, expires_at=expires, decided_by=actor)
        record = AuditRecord(
            event=AuditEvent.EXTEND, caller=caller, at=now, actor=actor,
            decision_id=measure.decision_id, level=measure.level, measure_expires_at=expires,
            note=reason,
        )
        return extended, record

    def appeal(
        self, measure: Measure | None, *, caller: str, statement: str, received_by: str, now: datetime
    ) -> tuple[Measure, AuditRecord]:
        """The caller contests a measure; it is marked for a supervisor, who lifts it or keeps it."""
        statement = _required(statement, "statement")
        received_by = _required(received_by, "received_by")
        if measure is None or not measure.is_active(now):
            raise NotFound("no active measure to appeal", caller=mask_phone(caller))
        appealed = replace(measure, appealed=True)
        record = AuditRecord(
            event=AuditEvent.APPEAL, caller=caller, at=now, actor=received_by,
            decision_id=measure.decision_id, level=measure.level,
            measure_expires_at=measure.expires_at, note=statement,
        )
        return appealed, record

    def harassment_flag(
        self, *, caller: str, actor: str, call_id: str, note: str, now: datetime
    ) -> AuditRecord:
        """An agent marks a call as harassing/insulting/threatening (骚扰、侮辱、威胁)."""
        return AuditRecord(
            event=AuditEvent.HARASSMENT_FLAG, caller=caller, at=now, actor=_required(actor, "actor"),
            decision_id=_required(call_id, "call_id"), note=note.strip(),
        )

    def long_occupation(
        self, *, caller: str, call_id: str, duration: timedelta, now: datetime
    ) -> AuditRecord:
        return AuditRecord(
            event=AuditEvent.LONG_OCCUPATION, caller=caller, at=now, actor=POLICY_ACTOR,
            decision_id=call_id, note=f"{round(duration.total_seconds())}s without new content",
        )

    # -- the plan the Lua script executes -------------------------------------

    def lua_plan(self, caller: str) -> dict[str, Any]:
        """The rules for `caller` as plain data for the atomic Redis script (JSON-encoded).

        Levels travel as ranks; rule names are computed here so the script writes exactly the
        reasons `evaluate` would produce.
        """
        return {
            "windows": [_ms(self.windows.for_signal(s)) for s in Signal]
            + [_ms(self.windows.restriction_memory)],
            "rules": [
                [list(Signal).index(r.signal) + 1, r.at_least, r.level.rank, r.name]
                for r in self.rules_for(caller)
            ],
            "escalate": self.escalate_after_restrictions or 0,
            "escalate_reason": f"prior_restrictions>={self.escalate_after_restrictions}",
            "cap": self.anonymous_max_level.rank if caller == ANONYMOUS else len(_LEVELS) - 1,
            "durations": [
                _ms(self.measure_durations[lvl]) if lvl.is_measure else 0 for lvl in _LEVELS
            ],
            "levels": [lvl.value for lvl in _LEVELS],
            "allow_listed": self.is_allow_listed(caller),
        }


def _required(value: str, name: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{name} is required", field=name)
    return value
