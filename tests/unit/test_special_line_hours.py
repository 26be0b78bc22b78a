"""Service hours of special lines (专线), Beijing time, including windows across midnight."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from telephony.special_lines import closed_line, in_service

# 2026-12-01 01:00 UTC is 09:00 in Beijing.
NINE_AM = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
ELEVEN_PM = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("hours", "at", "open_"), [
    ("08:30-17:30", NINE_AM, True),
    ("08:30-17:30", ELEVEN_PM, False),
    ("22:00-06:00", ELEVEN_PM, True),
    ("22:00-06:00", NINE_AM, False),
    ("00:00-24:00", ELEVEN_PM, True),
    ("09:00-10:00", NINE_AM, True),
    ("08:00-09:00", NINE_AM, False),
])
def test_service_hours_are_read_in_beijing_time(hours: str, at: datetime, open_: bool) -> None:
    assert in_service(hours, at) is open_


def test_only_the_dialled_special_line_can_be_closed() -> None:
    lines = [SimpleNamespace(number="12319", service_hours="08:30-17:30")]
    assert closed_line(lines, "12319", ELEVEN_PM) is lines[0]
    assert closed_line(lines, "12319", NINE_AM) is None
    assert closed_line(lines, "12345", ELEVEN_PM) is None
