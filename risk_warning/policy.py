"""When a hotspot warrants a warning (风险预警, 临沂条例第四十一条; 第三十六条、第四十条: the
hotline analyses its data for clusters and warns those concerned in time). Pure: no I/O.

A hotspot is an area (a street or town, or a district when the ticket names no street) times a
topic (the dispatch catalogue's matter the request is about: 城市供水, 燃气...). It warrants a
warning when, within the sliding `window` ending at a ticket's intake, it has at least
`min_count` tickets AND at least `ratio` times what its own baseline predicts for a window (the
tickets of the `baseline` before the window, spread evenly). The first condition keeps a quiet
street from warning at its second call; the second keeps a street that always calls about water
(a big estate with old pipes) from warning every day. One warning per hotspot per window: once
warned, the hotspot is quiet until a window has passed since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Hotspot:
    district: str | None
    street: str | None
    topic: str
    #: The units concerned: the unit handling the topic, the district's government.
    units: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.district or ''}|{self.street or ''}|{self.topic}"

    @property
    def area(self) -> str:
        return f"{self.district or ''}{self.street or ''}"


@dataclass(frozen=True)
class Thresholds:
    window: timedelta = timedelta(minutes=30)
    min_count: int = 6
    ratio: float = 4.0
    baseline: timedelta = timedelta(days=28)

    @property
    def windows_in_baseline(self) -> float:
        return max(1.0, (self.baseline - self.window) / self.window)


def expected_per_window(baseline_count: int, thresholds: Thresholds) -> float:
    """What the baseline predicts for one window."""
    return baseline_count / thresholds.windows_in_baseline


def warrants_warning(count: int, baseline_count: int, thresholds: Thresholds) -> bool:
    return count >= thresholds.min_count and count >= thresholds.ratio * expected_per_window(
        baseline_count, thresholds)


def quiet_since(at: datetime, thresholds: Thresholds) -> datetime:
    """A warning raised after this instant silences the hotspot at `at` (one per window)."""
    return at - thresholds.window
