"""Who may hear a call's recording and see its caller's number (recordings.access)."""

from __future__ import annotations

import pytest

from kernel.roles import Role
from recordings.access import may_hear, may_see_number


def test_supervisors_hear_every_call() -> None:
    assert may_hear("supervisor", "sup1", "a7").allowed
    assert may_hear("supervisor", "sup1", None).allowed


def test_an_agent_hears_only_the_calls_they_took_part_in() -> None:
    assert may_hear("agent", "a7", "a7").allowed
    assert not may_hear("agent", "a8", "a7").allowed
    assert not may_hear("agent", "a7", None).allowed  # nobody answered: nobody's own call


@pytest.mark.parametrize("role", [Role.UNIT, Role.SYSTEM, Role.KB_ADMIN, Role.AUDITOR])
def test_units_machines_and_auditors_never_hear_recordings(role: Role) -> None:
    decision = may_hear(role.value, "x", "x")
    assert not decision.allowed and "never" in decision.reason


def test_a_confidential_callers_number_is_for_supervisors_only() -> None:
    assert may_see_number("agent", "a7", "a7", confidential=False)
    assert not may_see_number("agent", "a7", "a7", confidential=True)
    assert may_see_number("supervisor", "s", None, confidential=True)
    assert not may_see_number("agent", "a8", "a7", confidential=False)
