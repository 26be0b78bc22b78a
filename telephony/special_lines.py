"""Special lines (专线): other numbers the hotline answers, each with its own service hours.

A city often folds older hotlines (城管 12319, 供热专线...) into 12345 but keeps their numbers;
a line that is staffed only part of the day must still take every call. Outside its hours the
caller hears the greeting and a closed-line notice, then leaves a message, which becomes a
ticket with a callback task (the same path as the queue's overflow message). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

HOTLINE_TZ = ZoneInfo("Asia/Shanghai")


class SpecialLine(Protocol):
    @property
    def number(self) -> str: ...

    @property
    def service_hours(self) -> str: ...


def parse_hours(hours: str) -> tuple[time, time | None]:
    """`HH:MM-HH:MM` -> (start, end); end None for 24:00. ValueError when malformed."""
    start, end = hours.split("-")
    return time.fromisoformat(start), None if end == "24:00" else time.fromisoformat(end)


def in_service(hours: str, at: datetime) -> bool:
    """Whether `at` (timezone-aware) falls in `hours`, Beijing time; `22:00-06:00` spans
    midnight."""
    start, end = parse_hours(hours)
    local = at.astimezone(HOTLINE_TZ).time()
    if end is None:
        return local >= start
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def closed_line(lines: Iterable[SpecialLine], dialled: str, at: datetime) -> SpecialLine | None:
    """The special line `dialled` when it is outside its service hours at `at`, else None."""
    for line in lines:
        if line.number == dialled and not in_service(line.service_hours, at):
            return line
    return None
