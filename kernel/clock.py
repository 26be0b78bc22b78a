"""Time: one clock type for code that must be testable at a chosen instant, and the hotline's
time zone. Stored times are UTC; working days and deadlines are counted in Asia/Shanghai.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

#: Where the hotline's working days are counted (regulations are local law).
HOTLINE_TZ = ZoneInfo("Asia/Shanghai")

#: Anything that tells the current time, timezone-aware. Production passes `utc_now`.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def hotline_time(moment: datetime) -> str:
    """`moment` as people at the hotline read it, in words stored for them (a flag's reason):
    local time to the minute, "2026-12-08 08:41", not an ISO string in UTC."""
    return moment.astimezone(HOTLINE_TZ).strftime("%Y-%m-%d %H:%M")


class FixedClock:
    """A clock that stands still until moved: for tests and for replaying history."""

    def __init__(self, now: datetime, *, step: timedelta = timedelta(0)) -> None:
        if now.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware time")
        self.now = now
        #: Added after each reading, for code that must see time pass between two readings.
        self.step = step

    def __call__(self) -> datetime:
        if self.step:
            self.now += self.step
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
