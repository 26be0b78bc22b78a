"""requirements.lock must pin what pyproject.toml asks for (devtools/lock_check.py)."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement

from devtools.lock_check import ROOT, disagreements, locked_versions, wanted_requirements

LOCK = """\
aiohttp==3.14.5 \\
    --hash=sha256:0133
    # via hotline12345 (pyproject.toml)
Redis==8.2.0 \\
    --hash=sha256:abcd
"""


def test_pins_are_read_with_normalised_names() -> None:
    pins = locked_versions(LOCK)
    assert {name: str(v) for name, v in pins.items()} == {"aiohttp": "3.14.5", "redis": "8.2.0"}


def test_a_missing_package_and_a_pin_outside_the_range_are_both_named() -> None:
    wanted = [Requirement("aiohttp>=3.9"), Requirement("redis<8"), Requirement("vosk>=0.3.45")]
    found = {d.requirement: d.problem for d in disagreements(wanted, locked_versions(LOCK))}
    assert found == {"redis<8": "requirements.lock pins 8.2.0", "vosk>=0.3.45": "not in requirements.lock"}


def test_a_requirement_for_another_platform_is_not_asked_of_the_lock() -> None:
    assert disagreements([Requirement('pywin32>=300; sys_platform == "win32"')], {}) == []


def test_the_committed_lock_satisfies_the_committed_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = locked_versions((ROOT / "requirements.lock").read_text())
    assert disagreements(wanted_requirements(pyproject), pins) == []
