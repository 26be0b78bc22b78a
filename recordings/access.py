"""Who may hear what: the one rule for a call's recording and transcript, and for its number.

Supervisors (班长/质检) hear every call; an agent hears only the calls they took part in
(`calls.agent_id`), which is what reviewing one's own work needs; units never hear the hotline's
recordings (they get the ticket, which is what the regulations give them); automated jobs and
knowledge-base editors have no reason to. A caller's number is shown in full to someone who may
hear the call, except a confidential (保密) caller's, which only supervisors see.
Pure: no I/O, so the rule is tested on its own and read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.roles import AGENTS, Role

#: Roles that may hear any call.
HEAR_ALL: frozenset[str] = frozenset({Role.SUPERVISOR.value})
#: Roles that may hear the calls they took part in.
HEAR_OWN: frozenset[str] = frozenset(
    role.value for role in AGENTS | {Role.DISPATCHER, Role.CALLBACK_AGENT})
#: Roles that may list calls (with masked numbers where they may not hear the call).
LIST_CALLS: frozenset[str] = HEAR_ALL | HEAR_OWN


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


def may_hear(role: str, user: str, call_agent_id: str | None) -> Decision:
    """Whether `user` in `role` may hear the recording and read the transcript of a call
    answered by `call_agent_id` (None: nobody answered it)."""
    if role in HEAR_ALL:
        return Decision(True, "supervisor")
    if role in HEAR_OWN:
        if call_agent_id is not None and call_agent_id == user:
            return Decision(True, "took part in the call")
        return Decision(False, "not on this call")
    return Decision(False, f"role {role} never hears the hotline's recordings")


def may_see_number(role: str, user: str, call_agent_id: str | None, *, confidential: bool) -> bool:
    """Whether the caller's full number may be shown; otherwise it is masked."""
    if confidential:
        return role in HEAR_ALL
    return may_hear(role, user, call_agent_id).allowed
