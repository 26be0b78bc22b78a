"""How the suite's tests share the machine's two cores when pytest-xdist runs them in parallel.

Why: most tests wait on real calls and use little CPU, so several run side by side (scripts/test
starts 5 workers). Two kinds must not be mixed freely:

- **live ASR calls** (`live_asr_call`): real calls transcribed live, whose assertions need the
  words while the call is up (or soon after). Starved of CPU, the product does what it should
  (it falls behind, then sheds the stream to post-call transcription) and the test fails.
- **CPU-bound tests** (`cpu_bound`): hypothesis searches and in-process Vosk decodes fed as fast
  as they go, whose assertions never depend on time.

Each kind runs in lanes of its own (xdist groups, `--dist loadgroup`): the live ASR calls one
after the other in one lane, the CPU-bound tests in two. The lanes take turns through a
reader-writer lock shared by the workers: a live ASR call waits until no CPU-bound test runs and
holds the CPU-bound lanes' speech decoders back until it is done (it has priority: a turnstile
stops new decoding tests while it waits); the lanes' other tests, one thread of pure Python each,
go first and run meanwhile. CPU-bound tests also run at nice 10, so what they take is the CPU that the
calls of the other workers leave. Everything else is handed out one test at a time, longest first.

Tried and given up (stop 30): decoders beside the live calls at nice 19. The live lane and the
decoders no longer added up (pytest 927 -> 780 s), but a live call's transcript then came late
(a completion timeout in `test_live_transcription_call`, 2 of 3 full runs): decoding beside
decoding slows it whatever the nice level (both stream large models through the same caches).

Lanes are balanced by measured length (`tests/durations.txt`; `--record-durations PATH` writes a
new list, longest first, at the end of a run: `scripts/test --record-durations
tests/durations.txt`). A test missing from the list counts as quick, so a stale list only costs
time, never a test.

A test is classified by its markers, or by the fixtures it uses: a test with the `asterisk`
sandbox and a Vosk model (`asr_language`, `asr_model`) is a live ASR call; a Vosk model or
speech without Asterisk, or a hypothesis test, is CPU-bound.
Registered for every test through `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import fcntl
import os
import resource
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path

import pytest

DURATIONS_FILE = Path(__file__).resolve().parent / "durations.txt"
LIVE_LANE = "live-asr-calls"
CPU_LANES = ("cpu-a", "cpu-b")
CPU_BOUND_NICE = 10
_MODEL_FIXTURES = frozenset({"asr_language", "asr_model", "speech_renderer"})


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


def without_lane(nodeid: str) -> str:
    """The test's own id: `--dist loadgroup` appends `@<group>` to the ids of grouped tests."""
    for lane in (LIVE_LANE, *CPU_LANES):
        nodeid = nodeid.removesuffix(f"@{lane}")
    return nodeid


def is_live_asr_call(item: pytest.Item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return (item.get_closest_marker("live_asr_call") is not None
            or ("asterisk" in fixtures and bool(fixtures & _MODEL_FIXTURES)))


def decodes_speech(item: pytest.Item) -> bool:
    """A CPU-bound test that decodes speech in-process (threads, child processes, the memory of
    a model): it takes turns with the live ASR calls. Other CPU-bound tests (one thread of pure
    Python at nice 10) run beside them."""
    return bool(set(getattr(item, "fixturenames", ())) & _MODEL_FIXTURES) or \
        item.get_closest_marker("decodes_speech") is not None


def is_cpu_bound(item: pytest.Item) -> bool:
    if item.get_closest_marker("cpu_bound") is not None:
        return True
    if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
        return True
    fixtures = set(getattr(item, "fixturenames", ()))
    return "asterisk" not in fixtures and bool(fixtures & _MODEL_FIXTURES)


LANE_WAIT = "lane_wait_seconds"  # a user property: the time a test's set-up waited for its turn
CPU_USED = "cpu_seconds"  # a user property: CPU the test's process (and children it waited for) used


class DurationRecorder:
    """Adds up each test's phases as the reports arrive (on the xdist controller: every
    worker's) and writes them at the end of the session.

    What is recorded is the test's own work: the time its set-up spent waiting for a lane's
    turn (`LANE_WAIT`) is taken out, since it depends on what else ran and would make the lanes'
    balance chase its own shadow. The run's critical path is printed too: the live ASR calls
    and the speech decoders never run together, so their summed busy time bounds the run."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.measured: dict[str, float] = {}
        self.kinds: dict[str, str] = {}
        self.busy: dict[str, list[tuple[float, float]]] = {}
        self.cpu: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = without_lane(report.nodeid)
        waited = sum(float(value) for name, value in report.user_properties
                     if name == LANE_WAIT and report.when == "setup")  # where it waited
        self.measured[nodeid] = self.measured.get(nodeid, 0.0) + max(0.0, report.duration - waited)
        properties = dict(report.user_properties)
        if report.when == "teardown" and CPU_USED in properties:
            self.cpu[nodeid] = float(properties[CPU_USED])
        kind = properties.get("lane_kind")
        if kind is not None and report.when == "call":
            self.busy.setdefault(str(kind), []).append((report.start, report.stop))

    def pytest_sessionfinish(self) -> None:
        ranked = sorted(self.measured.items(), key=lambda kv: (-kv[1], kv[0]))
        self.target.write_text("".join(f"{seconds:.2f} {nodeid}\n" for nodeid, seconds in ranked),
                               encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for kind, spans in sorted(self.busy.items()):
            terminalreporter.write_line(
                f"lanes: {kind} busy {covered_seconds(spans):.0f} s over {len(spans)} tests")
        if self.cpu:
            terminalreporter.write_line(
                f"CPU of the test processes and the children they waited for: {sum(self.cpu.values()):.0f} s; "
                "most:")
            for nodeid, seconds in sorted(self.cpu.items(), key=lambda kv: -kv[1])[:15]:
                terminalreporter.write_line(f"  {seconds:6.1f} s  {nodeid}")


def covered_seconds(spans: list[tuple[float, float]]) -> float:
    """The length of the union of [start, stop) spans."""
    total, reach = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > reach:
            total += stop - max(start, reach)
            reach = stop
    return total


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-durations", metavar="PATH", default=None, type=Path,
                     help="write each test's measured seconds to PATH, longest first")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live_asr_call: a real call transcribed live (one lane, full priority)")
    config.addinivalue_line("markers", "cpu_bound: CPU work whose assertions never depend on time (nice 10)")
    config.addinivalue_line("markers", "decodes_speech: a CPU-bound test that takes turns with live ASR calls")
    target = config.getoption("--record-durations")
    if target is not None and not hasattr(config, "workerinput"):  # the controller only
        config.pluginmanager.register(DurationRecorder(target), "duration-recorder")


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the lanes' xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    known = read_durations()

    def length(item: pytest.Item) -> float:
        return known.get(item.nodeid, 0.1)  # unknown: quick, but it still counts in a lane

    items.sort(key=lambda item: -length(item))  # stable: ties keep pytest's order
    live: list[pytest.Item] = []
    cpu: dict[str, list[pytest.Item]] = {lane: [] for lane in CPU_LANES}
    rest: list[pytest.Item] = []
    for item in items:
        if is_live_asr_call(item):
            live.append(item)
            item.add_marker(pytest.mark.xdist_group(LIVE_LANE))
        elif is_cpu_bound(item):
            # Longest first into the lane with the least work so far (greedy LPT).
            lane = min(CPU_LANES, key=lambda name: sum(map(length, cpu[name])))
            cpu[lane].append(item)
            item.add_marker(pytest.mark.xdist_group(lane))
        else:
            rest.append(item)
    # In a CPU lane the tests that never wait for a turn go first: they run while the live lane
    # holds the speech decoders back. The lanes are long work units: they go out first, then
    # single tests, longest first.
    for lane in CPU_LANES:
        cpu[lane].sort(key=decodes_speech)
    items[:] = [*live, *cpu[CPU_LANES[0]], *cpu[CPU_LANES[1]], *rest]


def _lane_lock_dir(config: pytest.Config) -> Path:
    """A directory all workers of this run share (and no other run does)."""
    run = getattr(config, "workerinput", {}).get("testrunuid", f"solo-{os.getpid()}")
    path = Path(tempfile.gettempdir()) / f"hotline-test-lanes-{run}"
    path.mkdir(exist_ok=True)
    return path


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, mode)  # released when the file closes
        yield


@contextmanager
def _live_turn(config: pytest.Config) -> Iterator[None]:
    """Exclusive: no CPU-bound test runs meanwhile. The turnstile, held while waiting, keeps new
    CPU-bound tests from slipping in ahead (a writer-priority reader-writer lock)."""
    locks = _lane_lock_dir(config)
    with _flock(locks / "turnstile", fcntl.LOCK_EX), _flock(locks / "cpu", fcntl.LOCK_EX):
        yield


@contextmanager
def _cpu_turn(config: pytest.Config) -> Iterator[None]:
    """Shared with other CPU-bound tests; waits while a live ASR call runs or waits."""
    locks = _lane_lock_dir(config)
    with _flock(locks / "turnstile", fcntl.LOCK_SH):
        pass
    with _flock(locks / "cpu", fcntl.LOCK_SH):
        yield


@contextmanager
def _waited(node: pytest.Item, turn: AbstractContextManager[None]) -> Iterator[None]:
    """Enter `turn`, noting on the test how long that took (see `DurationRecorder`)."""
    asked = time.monotonic()
    with turn:
        node.user_properties.append((LANE_WAIT, time.monotonic() - asked))
        yield


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.fixture(autouse=True)
def _cpu_used(request: pytest.FixtureRequest) -> Iterator[None]:
    """What the test cost the machine, for `--record-durations`' summary: the suite is bound by
    two cores, so CPU, not wall time, is what a faster suite has to take away."""
    before = _cpu_seconds()
    yield
    request.node.user_properties.append((CPU_USED, _cpu_seconds() - before))


@pytest.fixture(autouse=True)
def _lanes_take_turns(request: pytest.FixtureRequest) -> Iterator[None]:
    """Live ASR calls run alone among the lanes; CPU-bound tests (every thread of the worker
    meanwhile, and every process they start) run at nice 10, and speech decoders never beside
    a live ASR call."""
    node, config = request.node, request.config
    if is_live_asr_call(node):
        node.user_properties.append(("lane_kind", "live ASR calls"))
        with _waited(node, _live_turn(config)):
            yield
        return
    if not is_cpu_bound(node):
        yield
        return
    if decodes_speech(node):
        node.user_properties.append(("lane_kind", "speech decoders"))
    with _waited(node, _cpu_turn(config)) if decodes_speech(node) else nullcontext():
        before = _thread_nices()
        own = before.get(threading.get_native_id(), 0)
        for tid, value in before.items():
            _set_nice(tid, max(value, CPU_BOUND_NICE))
        try:
            yield
        finally:
            # Raising priority back needs root; otherwise it stays lower. Threads the test
            # started go back to the level the test's own thread had.
            for tid in _thread_nices():
                _set_nice(tid, before.get(tid, own))


def _thread_nices() -> dict[int, int]:
    """Every thread of this process and its nice. Linux nices threads one by one, and the work
    of a test often runs on threads started before it (the event loop's executor, ASR worker
    pools): niced alone, the test's own thread would leave them at full priority."""
    nices: dict[int, int] = {}
    for name in os.listdir("/proc/self/task"):
        with suppress(OSError):  # a thread that ended meanwhile
            nices[int(name)] = os.getpriority(os.PRIO_PROCESS, int(name))
    return nices


def _set_nice(tid: int, value: int) -> None:
    with suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, value)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker with `--dist loadgroup`, each lane's tests must carry their lane in
    their id (xdist appends it); if this pytest and pytest-xdist disagree on how (pytest 9.2
    and xdist 3.8 do), the lanes would silently mix: fail loudly instead."""
    config = session.config
    if not hasattr(config, "workerinput") or not config.getvalue("loadgroup"):
        return
    for item in session.items:
        if any(True for _ in item.iter_markers("xdist_group")) and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"pytest-xdist's loadgroup did not mark {item.nodeid}: this pytest/pytest-xdist pair "
                "does not keep the lanes of tests/scheduling.py apart (see requirements.lock)")
