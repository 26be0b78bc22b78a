"""What a page offers a person on a ticket (`workflow.offered_commands`) is what `decide` lets
through on role, status and unit: never a button the server refuses for who or where, never a
missing button for something the person may do. Checked against `decide` itself for every
command, every actor of the workflow tests and tickets in each stage of the main path."""

from __future__ import annotations

import pytest

from kernel.errors import IllegalTransition, PermissionDenied
from kernel.roles import Actor, Role
from tests.unit.test_ticket_workflow import AGENT, CALLBACK, COOP, DISPATCHER, LEAD, OTHER, SUPERVISOR, Flow
from tickets import workflow
from tickets.model import Ticket

ACTORS = (AGENT, Actor("sa-1", Role.SENIOR_AGENT), DISPATCHER, CALLBACK, SUPERVISOR, LEAD, COOP, OTHER,
          Actor("au-1", Role.AUDITOR))


def stages() -> dict[str, Ticket]:
    return {"draft": Flow().ticket, "classified": Flow().classify().ticket,
            "dispatched": Flow().classify().dispatch().ticket, "in progress": Flow().signed().ticket}


def gate_passes(ticket: Ticket, command: type[workflow.Command], actor: Actor) -> bool:
    """What `decide` says of role, status and unit (its first checks), for any command."""
    probe = object.__new__(command)  # the gates read only the command's type
    try:
        workflow._check_role(ticket, probe, actor)
        workflow._check_status(ticket, probe, actor)
        workflow._check_unit(ticket, probe, actor)
    except (PermissionDenied, IllegalTransition):
        return False
    return True


@pytest.mark.parametrize("stage", ["draft", "classified", "dispatched", "in progress"])
def test_offered_is_exactly_what_the_gates_let_through(stage: str) -> None:
    ticket = stages()[stage]
    for actor in ACTORS:
        expected = [c for c in workflow.ROLES if c is not workflow.Register and gate_passes(ticket, c, actor)]
        assert workflow.offered_commands(ticket, actor) == expected, (stage, actor)


def test_an_agent_is_offered_no_dispatch_and_a_dispatcher_is() -> None:
    ticket = stages()["classified"]
    assert workflow.Dispatch not in workflow.offered_commands(ticket, AGENT)
    assert workflow.Dispatch in workflow.offered_commands(ticket, DISPATCHER)
    assert workflow.offered_commands(stages()["dispatched"], LEAD)[0] is workflow.Sign
    assert workflow.Sign not in workflow.offered_commands(stages()["dispatched"], COOP)
    assert workflow.offered_commands(stages()["dispatched"], OTHER) == []
