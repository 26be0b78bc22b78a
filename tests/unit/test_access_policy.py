"""The one data-access policy (kernel.access_policy): who reads which citizen's data, how numbers
show, what the audit keeps."""

from __future__ import annotations

import pytest

from kernel.access_policy import (
    READ_KIND,
    READS,
    AccessKind,
    Read,
    Reader,
    Related,
    Scope,
    Subject,
    audit_number,
    audit_view_number,
    decide,
    hidden_from,
    roles_for,
    scope_of,
    shows_number,
    visible_related,
)
from kernel.roles import HOTLINE_STAFF

SUPERVISOR = Reader("sup1", "supervisor")
AGENT = Reader("a7", "agent")
HOUSING = Reader("zhang", "unit", "city-housing")
AUDITOR = Reader("aud", "auditor")
MINE = Subject(people=frozenset({"a7"}))
OTHERS = Subject(people=frozenset({"a8"}))


def test_every_read_has_a_row_in_the_table_and_an_audit_kind() -> None:
    assert set(READS) == set(Read) == set(READ_KIND)


@pytest.mark.parametrize("read", [Read.CALL, Read.RECORDING, Read.TICKET])
def test_an_agent_reads_their_own_calls_and_tickets_only(read: Read) -> None:
    assert decide(AGENT, read, MINE).allowed
    refused = decide(AGENT, read, OTHERS)
    assert not refused.allowed and "no part" in refused.reason
    assert decide(SUPERVISOR, read, OTHERS).allowed


def test_a_unit_reads_its_own_tickets_never_another_units() -> None:
    assert decide(HOUSING, Read.TICKET, Subject(units=frozenset({"city-housing"}))).allowed
    assert not decide(HOUSING, Read.TICKET, Subject(units=frozenset({"city-water"}))).allowed
    for read in (Read.CALL, Read.RECORDING, Read.LIVE_TRANSCRIPT, Read.CALLER_HISTORY, Read.AUDIT):
        assert not decide(HOUSING, read, MINE).allowed, read


def test_a_confidential_number_is_masked_in_every_view_and_only_supervisors_reveal_it() -> None:
    secret = Subject(people=frozenset({"a7"}), units=frozenset({"city-housing"}), confidential=True)
    for reader in (SUPERVISOR, AGENT, HOUSING, AUDITOR):
        assert not shows_number(reader, Read.TICKET, secret)
    assert roles_for(Read.CONFIDENTIAL_NUMBER) == {"supervisor"}
    assert decide(SUPERVISOR, Read.CONFIDENTIAL_NUMBER, secret).kind is AccessKind.CONFIDENTIAL_IDENTITY
    assert not decide(AGENT, Read.CONFIDENTIAL_NUMBER, secret).allowed


def test_a_number_is_shown_only_to_who_may_read_the_record() -> None:
    assert shows_number(AGENT, Read.CALL, MINE)
    assert not shows_number(AGENT, Read.CALL, OTHERS)
    assert shows_number(HOUSING, Read.TICKET, Subject(units=frozenset({"city-housing"})))


def test_the_repeated_flag_shows_a_unit_only_its_own_related_tickets() -> None:
    related = [Related("T1", Subject(units=frozenset({"city-housing"}), confidential=True)),
               Related("T2", Subject(units=frozenset({"city-water"}), confidential=True)),
               Related("T3", Subject(units=frozenset({"city-water"})))]
    assert visible_related(HOUSING, related) == ("T1",)
    assert visible_related(SUPERVISOR, related) == ("T1", "T2", "T3")


def test_auditors_read_only_the_audit_and_see_numbers_masked() -> None:
    # ... and, on a citizen's own request, export that citizen's data (PIPL 第四十五条, audited).
    assert [read for read in Read if decide(AUDITOR, read).allowed] == [Read.AUDIT, Read.CITIZEN_EXPORT]
    assert audit_view_number(AUDITOR, "13812345678") == "138****5678"
    assert audit_view_number(SUPERVISOR, "13812345678") == "13812345678"


def test_the_audit_never_stores_a_confidential_number_in_full() -> None:
    assert audit_number("13812345678", confidential=True) == "138****5678"
    assert audit_number("13812345678", confidential=False) == "13812345678"
    assert audit_number(None, confidential=True) is None


def test_the_live_floor_is_the_supervisors_an_agent_sees_their_own_calls() -> None:
    assert roles_for(Read.LIVE_TRANSCRIPT, [Scope.ANY]) == {"supervisor"}
    assert decide(AGENT, Read.LIVE_TRANSCRIPT, MINE).allowed
    assert not decide(AGENT, Read.LIVE_TRANSCRIPT, Subject()).allowed
    assert not decide(Reader("d", "dispatcher"), Read.LIVE_TRANSCRIPT, MINE).allowed


def test_unknown_roles_and_the_administrator_read_nothing() -> None:
    for reader in (Reader("x", "superuser"), Reader("root", "admin"), Reader("job", "system")):
        assert not any(decide(reader, read, MINE).allowed for read in Read), reader


def test_caller_history_is_for_the_hotline_staff_on_the_line() -> None:
    assert roles_for(Read.CALLER_HISTORY) == {role.value for role in HOTLINE_STAFF}


@pytest.mark.parametrize("role", sorted(HOTLINE_STAFF))
def test_a_complaint_about_staff_is_absent_for_the_person_concerned_whatever_their_role(role: str) -> None:
    """投诉热线工作人员: the person concerned never reads it, even having taken part in it; it
    looks absent (404); everyone else of the hotline reads it as any ticket."""
    subject = Subject(people=frozenset({"a-9", "a-1"}), concerned=frozenset({"a-9"}))
    concerned, colleague = Reader("a-9", role), Reader("a-1", role)
    for read in (Read.TICKET, Read.CALLER_HISTORY, Read.CALL, Read.RECORDING):
        refused = decide(concerned, read, subject)
        if scope_of(read, role) is not None:
            assert not refused.allowed and refused.absent, (read, role)
            assert decide(colleague, read, subject).allowed, (read, role)
    assert hidden_from(concerned, subject) and not hidden_from(colleague, subject)
    assert visible_related(concerned, [Related("T1", subject)]) == ()
