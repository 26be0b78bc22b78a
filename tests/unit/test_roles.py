"""The roles of issue 22's accounts: a senior agent may do everything an agent may, in every rule
table that names agents; the administrator reads no citizen's data."""

from __future__ import annotations

from agent_desk.desk import DESK_ROLES
from agent_desk.live_feed import LIVE_FEED_ROLES
from kernel.access_policy import READS, Read, Reader, Subject, decide
from kernel.roles import ACCOUNT_ADMINS, AGENTS, EVIDENCE_UPLOADERS, HOTLINE_STAFF, Role
from knowledge import api as knowledge_api
from recordings.api import LIST_CALLS
from recordings.audit_api import AUDIT_READERS
from tickets import workflow


def may_hear(role: str, user: str, answered_by: str | None) -> bool:
    subject = Subject(people=frozenset({answered_by} if answered_by else ()))
    return decide(Reader(user, role), Read.RECORDING, subject).allowed


def test_a_senior_agent_may_run_every_ticket_command_an_agent_may() -> None:
    for command, roles in workflow.ROLES.items():
        assert (Role.AGENT in roles) == (Role.SENIOR_AGENT in roles), command.__name__


def test_a_senior_agent_has_the_desk_the_live_feed_and_the_agents_groups() -> None:
    assert {Role.AGENT, Role.SENIOR_AGENT} == AGENTS
    for group in (DESK_ROLES, LIVE_FEED_ROLES, HOTLINE_STAFF, EVIDENCE_UPLOADERS):
        assert group >= AGENTS
    assert {Role.AGENT.value, Role.SENIOR_AGENT.value} <= LIST_CALLS


def test_a_senior_agent_reads_exactly_what_an_agent_reads() -> None:
    for answered_by in ("a7", "a8", None):
        assert may_hear("senior_agent", "a7", answered_by) == may_hear("agent", "a7", answered_by)
    for read, scopes in READS.items():
        assert scopes.get(Role.SENIOR_AGENT) == scopes.get(Role.AGENT), read


def test_a_senior_agent_reads_the_knowledge_base_as_an_agent() -> None:
    assert knowledge_api._KB_ROLES["senior_agent"] is knowledge_api._KB_ROLES["agent"]


def test_the_administrator_manages_accounts_and_reads_no_citizens_data() -> None:
    assert {Role.ADMIN} == ACCOUNT_ADMINS
    assert Role.ADMIN not in HOTLINE_STAFF | EVIDENCE_UPLOADERS | AUDIT_READERS
    assert not any(Role.ADMIN in roles for roles in workflow.ROLES.values())
    assert Role.ADMIN.value not in LIST_CALLS
    assert not may_hear("admin", "root", "root")
    assert not any(Role.ADMIN in scopes for scopes in READS.values())
    assert "admin" not in knowledge_api._KB_ROLES
