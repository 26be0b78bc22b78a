"""No caller's number, name or words in any log line: checked on every test's logs, per test.

Why: logs travel further than the database (shipped, kept, read by operators), so the product
masks numbers and must never write what a caller said or who they are (kernel/log.py,
kernel/privacy.py). A test that drives a code path that leaks fails in its own teardown, naming
the logger and the line, so the leak is found where it was made.

What is scanned:
- every record the product would write emitted in the test's process (its own loggers', and
  those of the libraries it runs on at the levels `hotline run` leaves them; each pytest-xdist
  worker has its own handler), formatted by the product's formatter (`kernel.log.JsonFormatter`,
  what `hotline run` writes): masking done there counts, a value it passes through does not;
- the log files of backend processes the test started (`watch_file`: `tests/asterisk_harness.py`'s
  `BridgeProcess` registers its log), from where they stood when the test began watching;
- Asterisk's own log (`messages.log`, config/asterisk/logger.conf) of the sandbox a test started
  (the `asterisk` fixture registers it): what the shipped logging writes of a call.

What counts as personal data:
- any unmasked mainland mobile number (`138****5678` is fine), with or without +86 or separators;
- the callers' names the tests use (`CALLER_NAMES`, and the generated `诉求人NNNNN`);
- any run of `WINDOW` characters of a sentence the tests' callers say (tests/speech_set.py,
  tests/data/intake_*.yaml) within one piece of a line's text (spaces ignored, punctuation
  ending a piece): what Vosk heard is close to what was
  said, and a log line quoting part of it is as much a leak as one quoting all of it.

Cheap on purpose (the suite is tight on 2 cores): one compiled regex per line, and a set lookup
per window of the line's Chinese text, never a loop over the sentences. Registered for every test
through `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import yaml

#: The product's top-level packages (pyproject's import-linter root packages): their loggers.
PRODUCT_PACKAGES = frozenset({
    "hotline", "kernel", "telephony", "call_queue", "outbound", "asr", "agent_desk", "tickets", "abuse",
    "knowledge", "supervision", "recordings", "accounts", "workbenches", "public_lookup", "unit_push",
    "risk_warning", "migrations",
})
#: Libraries the backend runs on, whose records `hotline run` writes too.
LIBRARIES = frozenset({"aiohttp", "asyncio", "sqlalchemy", "redis", "websockets", "alembic", "vosk"})
#: Callers' names the tests give (staff names are not callers' and are not listed).
CALLER_NAMES = ("张三", "李四", "王五", "李娜", "张丽", "赵先生", "王女士", "李先生", "张三丰")
#: Characters of a said sentence that make a leak: long enough that no product text (prompts,
#: unit and place names of the catalogue) matches by chance.
WINDOW = 7

_MOBILE = re.compile(r"(?<![0-9A-Fa-f])(?:\+?86[- ]?|0086)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![0-9A-Fa-f])")
_NAMES = re.compile("|".join([*map(re.escape, CALLER_NAMES), r"诉求人\d{5}"]))
_NOT_TEXT = re.compile(r"[\s\W_a-zA-Z0-9]+")
_PIECE = re.compile(r"[^\w\s]|_")
_DATA = Path(__file__).resolve().parent / "data"


def said_sentences() -> list[str]:
    """What the tests' callers say: the speech set and the labelled intake requests."""
    from tests.speech_set import spoken_texts

    texts = list(spoken_texts())
    for path in sorted(_DATA.glob("intake_*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        texts.extend(str(entry["text"]) for entry in data.get("requests", []) if entry.get("text"))
    return texts


@cache
def said_windows() -> frozenset[str]:
    windows: set[str] = set()
    for sentence in said_sentences():
        text = _NOT_TEXT.sub("", sentence)
        windows.update(text[i:i + WINDOW] for i in range(len(text) - WINDOW + 1))
    return frozenset(windows)


def leaks(line: str) -> list[str]:
    """What in `line` is personal data, quoted (empty when nothing is)."""
    found = [f"number {m.group(0)!r}" for m in _MOBILE.finditer(line)]
    found += [f"name {m.group(0)!r}" for m in _NAMES.finditer(line)]
    # Words are read within a piece of text: spaces (Vosk's between words) are dropped, while
    # punctuation and JSON's quotes end a piece, so fields side by side (a place, a category)
    # never make a sentence together.
    for piece in _PIECE.split(line):
        text = _NOT_TEXT.sub("", piece)
        if len(text) < WINDOW:
            continue
        windows = said_windows()
        for i in range(len(text) - WINDOW + 1):
            if text[i:i + WINDOW] in windows:
                found.append(f"words {text[max(0, i - 4):i + WINDOW + 4]!r}")
                break
    return found


@dataclass
class _Scan:
    violations: list[str] = field(default_factory=list)
    files: dict[Path, int] = field(default_factory=dict)

    def check(self, where: str, line: str) -> None:
        found = leaks(line)
        if found:
            self.violations.append(f"{where}: {', '.join(found)}\n    {line[:400]}")


_current: _Scan | None = None


def watch_file(path: Path) -> None:
    """Scan `path` (a backend process's log) at the end of the running test, from its size now."""
    if _current is not None and path not in _current.files:
        try:
            _current.files[path] = path.stat().st_size
        except OSError:
            _current.files[path] = 0


def scan_file_now(path: Path) -> None:
    """Scan a watched file before it is deleted (a sandbox removes its log with its instance);
    what it holds is reported with the test's other findings at its teardown."""
    if _current is not None and path in _current.files:
        _scan_files(_Scan(files={path: _current.files.pop(path)}), into=_current)


def written_by_the_product(record: logging.LogRecord) -> bool:
    """Whether `hotline run` would write the record: its own loggers', and those of the
    libraries it runs on (an aiohttp handler's error, an asyncio task's), at the levels
    `kernel.log.configure_logging` leaves them (not the tests' own, nor the dev tooling's)."""
    from kernel.log import QUIET_LOGGERS

    top = record.name.partition(".")[0]
    if top in PRODUCT_PACKAGES:
        return True
    if top not in LIBRARIES:
        return False
    return record.levelno >= logging.WARNING or not any(
        record.name == quiet or record.name.startswith(f"{quiet}.") for quiet in QUIET_LOGGERS)


class _ProductRecords(logging.Handler):
    """Every record of the product's loggers, formatted as `hotline run` writes it."""

    def __init__(self) -> None:
        from kernel.log import JsonFormatter

        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        if _current is None or not written_by_the_product(record):
            return
        try:
            line = self.format(record)
        except Exception as exc:  # a record the product's formatter cannot write is a bug too
            line = f"unformattable record {record.name}: {exc!r}"
        _current.check(f"log {record.name}:{record.lineno}", line)


def _scan_files(scan: _Scan, into: _Scan | None = None) -> None:
    into = into or scan
    for path, start in scan.files.items():
        try:
            with path.open("rb") as file:
                file.seek(start)
                data = file.read()
        except OSError:
            continue
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            into.check(f"{path.name} (line {number} since the test began)", line)


_HANDLER: _ProductRecords | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _HANDLER
    _HANDLER = _ProductRecords()
    logging.getLogger().addHandler(_HANDLER)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _HANDLER is not None:
        logging.getLogger().removeHandler(_HANDLER)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global _current
    _current = _Scan()
    try:
        return (yield)
    finally:
        _current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    scan = _current
    if call.when != "teardown" or scan is None:
        return report
    _scan_files(scan)
    if scan.violations and report.passed:
        report.outcome = "failed"
        shown = "\n".join(scan.violations[:20])
        report.longrepr = (f"personal data in {len(scan.violations)} log line(s) of this test "
                           f"(tests/log_scan.py):\n{shown}")
    return report
