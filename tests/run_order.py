"""Runs the longest tests first, so the parallel workers finish together.

Why: with pytest-xdist the suite's wall time is set by whichever worker finishes last. Sent in
collection order, a one-minute test collected near the end starts when the others are nearly
done and the run waits for it alone. Sorted longest first (`tests/durations.txt`, measured) and
handed out one or two at a time (`--dist load --maxschedchunk 1`, as scripts/test does), the
work is spread like a greedy longest-processing-time schedule.

`--record-durations PATH` writes each test's measured time (set-up + call + tear-down, in
seconds, longest first) to PATH at the end of a run: `scripts/test --record-durations
tests/durations.txt` refreshes the list. A test missing from the list counts as quick, so a
stale list only costs time, never a test.
Registered for every test through `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DURATIONS_FILE = Path(__file__).resolve().parent / "durations.txt"


def read_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    """nodeid -> seconds from lines `seconds nodeid`; no file means nothing is known."""
    durations: dict[str, float] = {}
    if not path.exists():
        return durations
    for line in path.read_text(encoding="utf-8").splitlines():
        seconds, _, nodeid = line.strip().partition(" ")
        if nodeid and not line.startswith("#"):
            durations[nodeid] = float(seconds)
    return durations


class DurationRecorder:
    """Adds up each test's phases as the reports arrive (on the xdist controller: every
    worker's) and writes them at the end of the session."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.measured: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.measured[report.nodeid] = self.measured.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        ranked = sorted(self.measured.items(), key=lambda kv: (-kv[1], kv[0]))
        self.target.write_text("".join(f"{seconds:.2f} {nodeid}\n" for nodeid, seconds in ranked),
                               encoding="utf-8")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-durations", metavar="PATH", default=None, type=Path,
                     help="write each test's measured seconds to PATH, longest first")


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("--record-durations")
    if target is not None and not hasattr(config, "workerinput"):  # the controller only
        config.pluginmanager.register(DurationRecorder(target), "duration-recorder")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    known = read_durations()
    items.sort(key=lambda item: -known.get(item.nodeid, 0.0))  # stable: ties keep pytest's order
