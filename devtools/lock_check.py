"""Checks that requirements.lock pins everything pyproject.toml asks for, at allowed versions.

Why: the venv is installed from the lock alone (`scripts/ensure-venv`), so a dependency added to
pyproject.toml but never locked would silently be missing, and a range tightened past the pinned
version would silently be ignored. Both must fail loudly, with the fix named.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


@dataclass(frozen=True)
class Disagreement:
    requirement: str
    problem: str

    def __str__(self) -> str:
        return f"{self.requirement}: {self.problem}"


def locked_versions(lock_text: str) -> dict[str, Version]:
    """Name -> pinned version of every `name==version` line of a pip-compile lock."""
    pins: dict[str, Version] = {}
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


def wanted_requirements(pyproject: dict[str, object], extras: tuple[str, ...] = ("test",)) -> list[Requirement]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    wanted = [Requirement(spec) for spec in project.get("dependencies", [])]
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        wanted += [Requirement(spec) for spec in optional.get(extra, [])]
    return wanted


def disagreements(wanted: list[Requirement], pins: dict[str, Version]) -> list[Disagreement]:
    found: list[Disagreement] = []
    for requirement in wanted:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            found.append(Disagreement(str(requirement), "not in requirements.lock"))
        elif not requirement.specifier.contains(pinned, prereleases=True):
            found.append(Disagreement(str(requirement), f"requirements.lock pins {pinned}"))
    return found


def main() -> int:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = locked_versions((ROOT / "requirements.lock").read_text())
    problems = disagreements(wanted_requirements(pyproject), pins)
    for problem in problems:
        print(f"lock_check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
