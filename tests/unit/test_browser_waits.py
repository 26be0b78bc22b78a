"""Browser tests wait through `tests.browser_harness.wait_for`, never Playwright's
`wait_for_function`: that one evals its predicate string inside the page, which the pages'
Content-Security-Policy (no 'unsafe-eval': kernel/security_headers.py) refuses now and then,
depending on when Playwright evaluates it: a test that fails at random."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_no_browser_test_waits_with_wait_for_function() -> None:
    here = Path(__file__).resolve()
    offenders = [str(path.relative_to(TESTS)) for path in TESTS.rglob("*.py")
                 if path != here and ".wait_for_function(" in path.read_text(encoding="utf-8")]
    assert offenders == []
