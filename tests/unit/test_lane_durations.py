"""The suite's recorded durations are each test's own work (tests/scheduling.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.scheduling import CPU_USED, DurationRecorder, covered_seconds


def report(nodeid: str, when: str, duration: float, props: list[tuple[str, Any]],
           start: float = 0.0) -> Any:
    return SimpleNamespace(nodeid=nodeid, when=when, duration=duration, user_properties=props,
                           start=start, stop=start + duration)


def test_each_tests_phases_add_up_and_its_cpu_is_kept(tmp_path: Path) -> None:
    recorder = DurationRecorder(tmp_path / "durations.txt")
    for when, seconds in (("setup", 1.0), ("call", 5.0), ("teardown", 0.5)):
        props = [("lane_kind", "speech decoders")] + ([(CPU_USED, 4.25)] if when == "teardown" else [])
        recorder.pytest_runtest_logreport(report("tests/x.py::test_a@cpu-a", when, seconds, props, start=10.0))
    recorder.pytest_sessionfinish()
    assert (tmp_path / "durations.txt").read_text() == "6.50 tests/x.py::test_a\n"
    assert recorder.cpu == {"tests/x.py::test_a": 4.25}
    assert recorder.busy == {"speech decoders": [(10.0, 15.0)]}


def test_busy_time_is_the_union_of_overlapping_spans() -> None:
    assert covered_seconds([(0.0, 10.0), (5.0, 12.0), (20.0, 21.0), (20.5, 20.7)]) == 13.0
    assert covered_seconds([]) == 0.0
