"""The suite's recorded durations are each test's own work (tests/scheduling.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.scheduling import LANE_WAIT, DurationRecorder, covered_seconds


def report(nodeid: str, when: str, duration: float, props: list[tuple[str, Any]],
           start: float = 0.0) -> Any:
    return SimpleNamespace(nodeid=nodeid, when=when, duration=duration, user_properties=props,
                           start=start, stop=start + duration)


def test_the_wait_for_a_lane_turn_is_not_counted_as_the_tests_length(tmp_path: Path) -> None:
    recorder = DurationRecorder(tmp_path / "durations.txt")
    props = [("lane_kind", "speech decoders"), (LANE_WAIT, 40.0)]
    for when, seconds in (("setup", 41.0), ("call", 5.0), ("teardown", 0.5)):
        recorder.pytest_runtest_logreport(report("tests/x.py::test_a@cpu-a", when, seconds, props))
    recorder.pytest_sessionfinish()
    assert (tmp_path / "durations.txt").read_text() == "6.50 tests/x.py::test_a\n"


def test_busy_time_is_the_union_of_overlapping_spans() -> None:
    assert covered_seconds([(0.0, 10.0), (5.0, 12.0), (20.0, 21.0), (20.5, 20.7)]) == 13.0
    assert covered_seconds([]) == 0.0
