"""Every test module has a basename of its own: the test folders are not packages to pytest's
rootdir-relative import, so two `test_x.py` in different folders make collection fail
("import file mismatch") for whichever loads second, and only on a full run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_no_two_test_modules_share_a_basename() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
