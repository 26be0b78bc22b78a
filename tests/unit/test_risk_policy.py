"""When a hotspot warrants a risk warning (risk_warning.policy). Pure."""

from __future__ import annotations

from datetime import timedelta

from risk_warning.policy import Thresholds, expected_per_window, warrants_warning


def test_a_hotspot_warns_only_above_both_the_floor_and_its_own_baseline() -> None:
    t = Thresholds(window=timedelta(minutes=30), min_count=6, ratio=4.0, baseline=timedelta(days=28))
    assert not warrants_warning(5, 0, t)  # a quiet street's fifth call: not yet
    assert warrants_warning(6, 0, t)
    busy = int(3 * t.windows_in_baseline)  # a street with 3 such calls every half hour
    assert expected_per_window(busy, t) == 3
    assert not warrants_warning(11, busy, t) and warrants_warning(12, busy, t)
