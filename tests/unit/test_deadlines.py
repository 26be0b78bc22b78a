"""Working-day deadlines on the official calendar, 调休 included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.clock import HOTLINE_TZ
from kernel.errors import ConfigError, InvalidInput
from tickets.deadlines import (
    CalendarYearMissing,
    Term,
    WorkingCalendar,
    calendar_from_documents,
    due,
    end_of_local_day,
    load_calendar,
    working_day_deadline,
    working_days_overdue,
)

CALENDAR = load_calendar()


@pytest.fixture
def calendar() -> WorkingCalendar:
    return CALENDAR


def beijing(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HOTLINE_TZ)


# The official 2026 schedule, day by day.
OFF_2026 = [
    "2026-01-01", "2026-01-02", "2026-01-03",
    *(f"2026-02-{d}" for d in range(15, 24)),
    "2026-04-04", "2026-04-05", "2026-04-06",
    *(f"2026-05-0{d}" for d in range(1, 6)),
    "2026-06-19", "2026-06-20", "2026-06-21",
    "2026-09-25", "2026-09-26", "2026-09-27",
    *(f"2026-10-0{d}" for d in range(1, 8)),
]
MAKEUP_2026 = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20",
               "2026-10-10"]


@pytest.mark.parametrize("day", OFF_2026)
def test_2026_public_holidays_are_not_working_days(calendar: WorkingCalendar, day: str) -> None:
    assert not calendar.is_working_day(date.fromisoformat(day))


@pytest.mark.parametrize("day", MAKEUP_2026)
def test_2026_makeup_weekends_are_working_days(calendar: WorkingCalendar, day: str) -> None:
    assert date.fromisoformat(day).weekday() >= 5
    assert calendar.is_working_day(date.fromisoformat(day))


def test_ordinary_weekend_and_weekday(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(date(2026, 11, 28))  # Saturday
    assert calendar.is_working_day(date(2026, 11, 27))  # Friday


def test_makeup_saturday_counts_as_a_working_day(calendar: WorkingCalendar) -> None:
    # Friday 2026-05-08 + 1 working day = Saturday 2026-05-09 (调休上班), not Monday the 11th.
    assert calendar.add_working_days(date(2026, 5, 8), 1) == date(2026, 5, 9)
    deadline = working_day_deadline(beijing(2026, 5, 8, 16, 30), 1, calendar)
    assert deadline == end_of_local_day(date(2026, 5, 9))
    assert deadline == datetime(2026, 5, 9, 16, 0, tzinfo=UTC)  # Beijing midnight = 16:00 UTC


def test_national_day_week_is_skipped(calendar: WorkingCalendar) -> None:
    # Dispatched Wednesday 2026-09-30: Oct 1-7 are off, Oct 8 (Thu), 9 (Fri), 10 (Sat, 调休).
    start = beijing(2026, 9, 30, 10, 0)
    assert working_day_deadline(start, 1, calendar) == end_of_local_day(date(2026, 10, 8))
    assert working_day_deadline(start, 3, calendar) == end_of_local_day(date(2026, 10, 10))
    assert working_day_deadline(start, 5, calendar) == end_of_local_day(date(2026, 10, 13))


def test_sunday_before_national_day_is_working(calendar: WorkingCalendar) -> None:
    # Saturday 2026-09-19 + 1 working day = Sunday 2026-09-20 (调休上班).
    assert calendar.add_working_days(date(2026, 9, 19), 1) == date(2026, 9, 20)


def test_spring_festival(calendar: WorkingCalendar) -> None:
    # Friday 2026-02-13: Sat 14 is worked, then 15-23 off, Tue 24 is next.
    assert calendar.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert calendar.add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_late_evening_utc_is_already_next_day_in_beijing(calendar: WorkingCalendar) -> None:
    # 2026-05-07 17:00 UTC is Friday 2026-05-08 01:00 in Beijing.
    start = datetime(2026, 5, 7, 17, 0, tzinfo=UTC)
    assert working_day_deadline(start, 1, calendar) == end_of_local_day(date(2026, 5, 9))


def test_2025_schedule(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(date(2025, 10, 8))
    assert calendar.is_working_day(date(2025, 10, 11))  # Saturday, 调休
    assert calendar.is_working_day(date(2025, 4, 27))  # Sunday, 调休
    # Dispatched 2025-12-30: Dec 31, then Jan 1 2026 off, Jan 2 off, Jan 3 off, Jan 4 worked.
    assert calendar.add_working_days(date(2025, 12, 30), 2) == date(2026, 1, 4)


def test_unknown_year_is_a_clear_config_error(calendar: WorkingCalendar) -> None:
    with pytest.raises(CalendarYearMissing) as info:
        calendar.is_working_day(date(2028, 3, 1))
    assert info.value.year == 2028
    assert isinstance(info.value, ConfigError)
    assert "2028" in str(info.value)
    with pytest.raises(CalendarYearMissing):  # a deadline running into 2028
        calendar.add_working_days(date(2027, 12, 28), 10)


def test_2027_is_provisional_until_the_notice_but_deadlines_run_into_it(
    calendar: WorkingCalendar,
) -> None:
    """Tickets dispatched in December 2026 get deadlines in January 2027 (15 working days)."""
    assert calendar.provisional_years == frozenset({2027})
    assert 2026 not in calendar.provisional_years
    # Mon 2026-12-21 + 15 working days: Jan 1 2027 (Friday, 元旦) is skipped.
    assert calendar.add_working_days(date(2026, 12, 21), 15) == date(2027, 1, 12)
    # Statutory days and their weekday make-ups (补假) are off; ordinary weekdays work.
    for day in ("2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-05-03",
                "2027-10-04", "2027-10-05", "2027-09-15"):
        assert not calendar.is_working_day(date.fromisoformat(day)), day
    assert calendar.is_working_day(date(2027, 2, 11)) and calendar.is_working_day(date(2027, 5, 5))


def test_hours_term_ignores_the_calendar(calendar: WorkingCalendar) -> None:
    start = beijing(2026, 10, 1, 9, 0)  # National Day
    assert due(start, Term(hours=24), calendar) == start + timedelta(hours=24)


def test_term_is_days_or_hours() -> None:
    with pytest.raises(InvalidInput):
        Term(working_days=3, hours=2)
    with pytest.raises(InvalidInput):
        Term(working_days=0)


def test_overdue_working_days(calendar: WorkingCalendar) -> None:
    deadline = end_of_local_day(date(2026, 9, 30))
    assert working_days_overdue(deadline, deadline - timedelta(seconds=1), calendar) == 0
    assert working_days_overdue(deadline, beijing(2026, 10, 5, 12, 0), calendar) == 1
    assert working_days_overdue(deadline, beijing(2026, 10, 9, 12, 0), calendar) == 2


def test_naive_datetime_is_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(InvalidInput):
        working_day_deadline(datetime(2026, 5, 8, 9), 1, calendar)


def test_makeup_day_on_a_weekday_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        calendar_from_documents([{"year": 2026, "holidays": [
            {"name": "x", "days_off": {"from": "2026-01-01", "to": "2026-01-01"},
             "makeup_workdays": ["2026-01-05"]}]}])


def test_file_name_must_match_year(tmp_path: Path) -> None:
    (tmp_path / "2030.yaml").write_text("year: 2031\nholidays: []\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_calendar(tmp_path)


@settings(max_examples=200, deadline=None)
@given(day=st.dates(date(2026, 1, 1), date(2026, 11, 30)), count=st.integers(1, 15))
def test_deadline_is_a_working_day_with_exactly_count_working_days(day: date, count: int) -> None:
    calendar = CALENDAR
    due_day = calendar.add_working_days(day, count)
    assert calendar.is_working_day(due_day)
    assert calendar.working_days_between(day, due_day) == count
    assert calendar.working_days_between(day, due_day - timedelta(days=1)) == count - 1

