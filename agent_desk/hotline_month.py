"""The hotline's own monthly figures, hour by hour (Beijing time): calls offered to the queue,
answered within 15 s (GB/T 33358 15 秒接通率) and abandoned. Pure: no I/O.

The same rules as the wallboard's day (`agent_desk.wallboard.FinishedCall`): a call is offered
once it joined the queue and was answered or abandoned; a left message is neither. The monthly
disclosure of the units (`tickets/stats.py`) says how the units did; this says how quickly the
hotline answered, and at which hours callers gave up waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agent_desk.wallboard import LOCAL_ZONE, SERVICE_LEVEL_SECONDS, FinishedCall


@dataclass
class HourFigures:
    hour: int
    offered: int = 0
    answered: int = 0
    within_15s: int = 0
    abandoned: int = 0

    def add(self, call: FinishedCall) -> None:
        if not call.queued or not (call.answered or call.abandoned):
            return
        self.offered += 1
        if call.answered:
            self.answered += 1
            if call.queue_seconds is not None and call.queue_seconds <= SERVICE_LEVEL_SECONDS:
                self.within_15s += 1
        else:
            self.abandoned += 1

    def as_json(self) -> dict[str, Any]:
        return {"hour": self.hour, "offered": self.offered, "answered": self.answered,
                "within_15s": self.within_15s, "abandoned": self.abandoned,
                "service_level": _rate(self.within_15s, self.offered),
                "abandon_rate": _rate(self.abandoned, self.offered)}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def hotline_month(calls: Iterable[FinishedCall]) -> dict[str, Any]:
    """The month's totals and its 24 hours (the hour the caller rang, Beijing time)."""
    hours = [HourFigures(hour) for hour in range(24)]
    for call in calls:
        hours[call.started_at.astimezone(LOCAL_ZONE).hour].add(call)
    total = HourFigures(-1)
    for figures in hours:
        total.offered += figures.offered
        total.answered += figures.answered
        total.within_15s += figures.within_15s
        total.abandoned += figures.abandoned
    totals = total.as_json()
    del totals["hour"]
    return {"totals": totals, "hours": [h.as_json() for h in hours]}
