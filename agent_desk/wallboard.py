"""The wallboard's figures, folded from events: a pure state machine (no I/O, no clock).

Fed what happens (an agent's state changed, the queue changed, a call finished, a line of a
call was transcribed) and asked `figures(now)`, it gives what the supervisors' wallboard and
`/metrics` show. The service around it (`wallboard_feed.py`) seeds it once from the ACD and the
database, then only applies events, so nothing is recomputed by a cron job and every node shows
the same figures. Folding is idempotent per call, so an event seen twice (seed and live) counts
once.

Definitions (today is the Asia/Shanghai day in which the call started):
- service level (GB/T 33358, 15 秒接通率): calls answered by an agent within 15 s of joining the
  queue, over the calls that joined the queue and either were answered or hung up waiting;
- abandoned (放弃): joined the queue, hung up before any agent answered, left no message;
- handle time: the call's length less the caller's wait in the queue (wrap-up not counted);
- transcription coverage: answered calls with at least one final transcript line (of the
  finished ones: a call still going may not have spoken yet).

A call counts as answered from the moment an agent answers it (the ACD's `answered` event
carries its wait), not from when it ends: a supervisor watching the 15 s answer rate during a
rush sees the calls being answered now. The seed reads finished calls only, so a call answered
before this board started counts from when it ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
SERVICE_LEVEL_SECONDS = 15.0
#: Agent states shown on the board (offline agents are not counted).
SHOWN_STATES = ("available", "ringing", "on_call", "after_call_work", "break")


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL_ZONE).date()


def day_start(day: date) -> datetime:
    """The first instant of a local day (for database queries)."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_ZONE)


@dataclass(frozen=True, slots=True)
class FinishedCall:
    """What the board needs of a finished call (the `call.recorded` event, or a `calls` row)."""

    call_id: str
    started_at: datetime
    ended_at: datetime
    agent_id: str | None
    queue_seconds: float | None
    is_message: bool

    @property
    def answered(self) -> bool:
        return self.agent_id is not None

    @property
    def queued(self) -> bool:
        return self.queue_seconds is not None

    @property
    def abandoned(self) -> bool:
        return self.queued and not self.answered and not self.is_message

    @property
    def handle_seconds(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds() - (self.queue_seconds or 0.0))

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> FinishedCall:
        queue_seconds = event.get("queue_seconds")
        return cls(call_id=str(event["call_id"]), started_at=datetime.fromisoformat(str(event["started_at"])),
                   ended_at=datetime.fromisoformat(str(event["ended_at"])),
                   agent_id=str(event["agent_id"]) if event.get("agent_id") else None,
                   queue_seconds=float(queue_seconds) if queue_seconds is not None else None,
                   is_message=bool(event.get("is_message")))


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    """A call an agent answered that has not finished yet (the ACD's `answered` event)."""

    call_id: str
    answered_at: datetime
    waited_seconds: float | None


@dataclass
class Wallboard:
    day: date
    agents: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, datetime] = field(default_factory=dict)
    finished: dict[str, FinishedCall] = field(default_factory=dict)
    answering: dict[str, AnsweredCall] = field(default_factory=dict)
    transcribed: set[str] = field(default_factory=set)

    def roll(self, now: datetime) -> None:
        """A new local day starts today's counters again (the queue and agents stay)."""
        today = local_day(now)
        if today != self.day:
            self.day = today
            self.finished.clear()
            self.answering.clear()
            self.transcribed.clear()

    def agent_status(self, agent_id: str, status: str) -> None:
        self.agents[agent_id] = status

    def queue(self, waiting: dict[str, datetime]) -> None:
        """The queue as it is now (the ACD's own view, read when it changes)."""
        self.waiting = dict(waiting)

    def call_answered(self, call: AnsweredCall) -> None:
        if call.call_id not in self.finished and local_day(call.answered_at) == self.day:
            self.answering[call.call_id] = call

    def call_finished(self, call: FinishedCall) -> None:
        self.answering.pop(call.call_id, None)
        if local_day(call.started_at) == self.day:
            self.finished[call.call_id] = call

    def line_transcribed(self, call_id: str) -> None:
        self.transcribed.add(call_id)

    def figures(self, now: datetime) -> dict[str, Any]:
        calls = list(self.finished.values())
        answered = [c for c in calls if c.answered]
        going = list(self.answering.values())
        within = ([c for c in answered if c.queue_seconds is not None and c.queue_seconds <= SERVICE_LEVEL_SECONDS]
                  + [c for c in going if c.waited_seconds is not None and c.waited_seconds <= SERVICE_LEVEL_SECONDS])
        abandoned = [c for c in calls if c.abandoned]
        offered = len([c for c in calls if c.queued and (c.answered or c.abandoned)]) + len(going)
        states = Counter(self.agents.values())
        oldest = min(self.waiting.values(), default=None)
        covered = [c for c in answered if c.call_id in self.transcribed]
        return {
            "day": self.day.isoformat(),
            "calls_waiting": len(self.waiting),
            "oldest_waiting_since": oldest.isoformat() if oldest else None,
            "longest_wait_seconds": round(max(0.0, (now - oldest).total_seconds()), 1) if oldest else 0.0,
            "agents": {state: states.get(state, 0) for state in SHOWN_STATES},
            "calls_today": len(calls) + len(going),
            "answered_today": len(answered) + len(going),
            "answered_within_15s_today": len(within),
            "service_level": round(len(within) / offered, 4) if offered else None,
            "abandoned_today": len(abandoned),
            "messages_today": sum(1 for c in calls if c.is_message),
            "average_handle_seconds": (round(sum(c.handle_seconds for c in answered) / len(answered), 1)
                                       if answered else None),
            "transcription_coverage": round(len(covered) / len(answered), 4) if answered else None,
        }


def prometheus_text(figures: dict[str, Any]) -> str:
    """The same figures in the Prometheus text format (`GET /metrics`)."""
    lines: list[str] = []
    described: set[str] = set()

    def gauge(name: str, help_text: str, value: float | None, labels: str = "") -> None:
        if name not in described:
            described.add(name)
            lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
        if value is not None:
            lines.append(f"{name}{labels} {value}")

    gauge("hotline_calls_waiting", "Callers waiting for an agent now.", figures["calls_waiting"])
    gauge("hotline_longest_wait_seconds", "The longest current wait.", figures["longest_wait_seconds"])
    for state, count in figures["agents"].items():
        gauge("hotline_agents", "Signed-in agents by state.", count, f'{{state="{state}"}}')
    gauge("hotline_calls_today", "Calls finished today (Asia/Shanghai).", figures["calls_today"])
    gauge("hotline_answered_today", "Calls answered by an agent today.", figures["answered_today"])
    gauge("hotline_answered_within_15s_today", "Calls answered within 15 s of queueing today.",
          figures["answered_within_15s_today"])
    gauge("hotline_service_level", "Answered within 15 s over answered or abandoned today (GB/T 33358).",
          figures["service_level"])
    gauge("hotline_abandoned_today", "Callers who hung up while waiting today.", figures["abandoned_today"])
    gauge("hotline_average_handle_seconds", "Average handle time of today's answered calls.",
          figures["average_handle_seconds"])
    gauge("hotline_transcription_coverage", "Share of today's answered calls with a live transcript.",
          figures["transcription_coverage"])
    return "\n".join(lines) + "\n"
