"""Deadlines in working days (工作日), on the Chinese official calendar with its 调休.

A working day is a Monday-to-Friday that is not a public holiday, or a Saturday/Sunday the
State Council declared a make-up working day (e.g. 2026-10-10, a Saturday). Weekday rules
alone are wrong around every long holiday, so the calendar knows only the years it was given
(`config/calendar/<year>.yaml`) and raises `CalendarYearMissing` for any other year rather
than guess.

Conventions (the same as Chinese law on periods: the starting day is not counted):

* a deadline of N working days, counted from an instant, is the **end** of the Nth working
  day after that instant's Beijing date;
* a deadline is returned as an aware UTC instant: the Beijing midnight that ends the due
  day, so a ticket is overdue exactly when `now >= deadline`;
* urgent utility requests may instead have a deadline in clock hours (24/7 services,
  临沂条例第二十八条), which no calendar affects.

Everything here is pure except `load_calendar`, which reads the YAML files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from kernel.clock import HOTLINE_TZ
from kernel.errors import ConfigError, InvalidInput

log = logging.getLogger(__name__)

DEFAULT_CALENDAR_DIR = Path(__file__).resolve().parent.parent / "config" / "calendar"

_SATURDAY = 5


class CalendarYearMissing(ConfigError):
    """The holiday schedule of `year` is not loaded; add `config/calendar/<year>.yaml`."""

    def __init__(self, year: int) -> None:
        super().__init__(
            f"calendar/{year}.yaml",
            f"no holiday schedule for {year}; working days cannot be computed for that year",
        )
        self.year = year


@dataclass(frozen=True)
class WorkingCalendar:
    """Which dates are working days, for the years it knows."""

    years: frozenset[int]
    days_off: frozenset[date]
    makeup_workdays: frozenset[date]
    #: Years known only from the law's fixed rest days, before the State Council's notice.
    provisional_years: frozenset[int] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day.year not in self.years:
            raise CalendarYearMissing(day.year)
        if day in self.makeup_workdays:
            return True
        if day in self.days_off:
            return False
        return day.weekday() < _SATURDAY

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`th working day after `start` (`start` itself is not counted)."""
        if count < 1:
            raise InvalidInput("a deadline needs at least one working day", count=count)
        day = start
        remaining = count
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many working days `end` is after `start`."""
        if end <= start:
            return 0
        return sum(
            1 for offset in range(1, (end - start).days + 1)
            if self.is_working_day(start + timedelta(days=offset))
        )


@dataclass(frozen=True)
class Term:
    """A handling period: N working days, or H clock hours for 24/7 urgent services."""

    working_days: int | None = None
    hours: int | None = None

    def __post_init__(self) -> None:
        if (self.working_days is None) == (self.hours is None):
            raise InvalidInput("a term is either working days or hours", term=repr(self))
        if (self.working_days or self.hours or 0) < 1:
            raise InvalidInput("a term must be positive", term=repr(self))


def local_date(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise InvalidInput("naive datetime given to the deadline calendar")
    return moment.astimezone(HOTLINE_TZ).date()


def end_of_local_day(day: date) -> datetime:
    """The Beijing midnight that ends `day`, as a UTC instant."""
    return datetime.combine(day + timedelta(days=1), time(0), HOTLINE_TZ).astimezone(UTC)


def working_day_deadline(start: datetime, working_days: int, calendar: WorkingCalendar) -> datetime:
    return end_of_local_day(calendar.add_working_days(local_date(start), working_days))


def due(start: datetime, term: Term, calendar: WorkingCalendar) -> datetime:
    """The deadline (UTC instant, exclusive) of `term` counted from `start`."""
    if term.hours is not None:
        if start.tzinfo is None:
            raise InvalidInput("naive datetime given to the deadline calendar")
        return (start + timedelta(hours=term.hours)).astimezone(UTC)
    assert term.working_days is not None
    return working_day_deadline(start, term.working_days, calendar)


def working_days_overdue(deadline: datetime, now: datetime, calendar: WorkingCalendar) -> int:
    """How many working days have begun since the deadline passed (0 if not overdue)."""
    if now < deadline:
        return 0
    last_due_day = local_date(deadline - timedelta(microseconds=1))
    return max(1, calendar.working_days_between(last_due_day, local_date(now)))


# --------------------------------------------------------------------------------------------
# Building a calendar from the YAML documents


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        raise ConfigError(where, f"expected a date, got a date-time {value!r}")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(where, f"not a date: {value!r}") from exc


def calendar_from_documents(documents: Iterable[Mapping[str, Any]]) -> WorkingCalendar:
    """Validate and merge year documents (as in `config/calendar/*.yaml`) into a calendar."""
    years: set[int] = set()
    provisional: set[int] = set()
    days_off: set[date] = set()
    makeup: set[date] = set()
    for doc in documents:
        year = doc.get("year")
        if not isinstance(year, int):
            raise ConfigError("calendar.year", f"missing or not an integer: {year!r}")
        if year in years:
            raise ConfigError(f"calendar/{year}", "year given twice")
        years.add(year)
        if doc.get("provisional", False) is True:
            provisional.add(year)
        for i, holiday in enumerate(doc.get("holidays") or ()):
            where = f"calendar/{year}.holidays[{i}]"
            span = holiday.get("days_off") or {}
            first = _as_date(span.get("from"), f"{where}.days_off.from")
            last = _as_date(span.get("to"), f"{where}.days_off.to")
            if last < first or abs(first.year - year) > 1 or (last - first).days > 15:
                raise ConfigError(f"{where}.days_off", f"implausible range {first}..{last}")
            days_off.update(first + timedelta(days=d) for d in range((last - first).days + 1))
            for j, raw in enumerate(holiday.get("makeup_workdays") or ()):
                day = _as_date(raw, f"{where}.makeup_workdays[{j}]")
                if day.weekday() < _SATURDAY:
                    raise ConfigError(
                        f"{where}.makeup_workdays[{j}]", f"{day} is a weekday already"
                    )
                makeup.add(day)
    clash = days_off & makeup
    if clash:
        raise ConfigError("calendar", f"dates both off and working: {sorted(clash)}")
    return WorkingCalendar(frozenset(years), frozenset(days_off), frozenset(makeup),
                           frozenset(provisional))


def load_calendar(directory: Path = DEFAULT_CALENDAR_DIR) -> WorkingCalendar:
    """Read every `<year>.yaml` in `directory` (I/O at the edge; call once at start-up)."""
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ConfigError(str(directory), "no calendar files")
    documents = []
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        if (not path.stem.isdigit() or not isinstance(doc, Mapping)
                or doc.get("year") != int(path.stem)):
            raise ConfigError(str(path), "file name must match its `year`")
        documents.append(doc)
    calendar = calendar_from_documents(documents)
    for year in sorted(calendar.provisional_years):
        log.warning("holiday schedule is provisional: statutory days only, no 调休; replace it "
                    "with the State Council's notice", extra={"year": year,
                                                              "file": str(directory / f"{year}.yaml")})
    return calendar
