"""Agent states of the automatic call distribution (ACD), as a pure state machine (sans-I/O).

A 12345 hotline answers with people around the clock (GB/T 33358 政府热线服务规范: 7x24 human
service), so the distributor must know at every instant which agent can take the next call and
for how long each has waited for one. An agent is in exactly one status:

    offline --sign_in--> available --offer--> ringing --answer--> on_call --call_ended-->
    after_call_work --wrap_up_done / wrap_up_expired--> available

and `break` (with a reason: rest, meal, training, meeting, or no_answer) beside them. Which
trigger may move which status is one table (`TRANSITIONS`); `decide(state, trigger, now)` checks
it and returns the new state, raising `IllegalTransition` (with agent, status and trigger as
context) for anything else.

Two rules carry most of the weight:

* An offer that is not answered (rings out or is declined) sends the agent to
  `break(no_answer)`, never back to `available`: a desk that does not answer must not be rung
  again at once with the next caller, who would wait through the same silence. The agent comes
  back with `go_available`, at the end of the idle line.
* `idle_since` is when the agent last became available (signed in, came back from a break,
  finished wrap-up). The distributor gives the next call to the agent idle the longest, so this
  is the fairness clock. A call withdrawn while ringing (the caller hung up) is not the agent's
  doing and keeps their place in line.

Wrap-up (话后处理: completing the ticket after the call) has a limit set by the centre
(`AgentPolicy.wrap_up_limit`); past it `wrap_up_expired` makes the agent available again, so
wrap-up cannot hide an agent from waiting callers.

This module must never read a clock, Redis, a socket or a file: the adapter (`call_queue.acd`)
reads the state, passes the time in and stores what `decide` returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from kernel.errors import IllegalTransition, InvalidInput


class AgentStatus(enum.StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    """Offered a call (`call_id`); the desk rings until answer, timeout or decline."""
    ON_CALL = "on_call"
    AFTER_CALL_WORK = "after_call_work"
    """Wrap-up of the call in `call_id` (writing its ticket), within `AgentPolicy.wrap_up_limit`."""
    BREAK = "break"
    """Signed in but not taking calls; `break_reason` says why."""


class BreakReason(enum.StrEnum):
    REST = "rest"
    MEAL = "meal"
    TRAINING = "training"
    MEETING = "meeting"
    NO_ANSWER = "no_answer"
    """Set by the system when an offer was not answered; an agent cannot choose it."""


class Trigger(enum.StrEnum):
    SIGN_IN = "sign_in"
    GO_AVAILABLE = "go_available"
    TAKE_BREAK = "take_break"
    OFFER = "offer"
    ANSWER = "answer"
    OFFER_TIMEOUT = "offer_timeout"
    OFFER_DECLINED = "offer_declined"
    CALL_ENDED = "call_ended"
    WRAP_UP_DONE = "wrap_up_done"
    WRAP_UP_EXPIRED = "wrap_up_expired"
    SIGN_OUT = "sign_out"


class Skill(enum.StrEnum):
    """What an agent may be offered. Every agent takes general calls; `senior` agents also take
    the senior queue (callers the anti-abuse screen routes to experienced staff)."""

    GENERAL = "general"
    SENIOR = "senior"


S = AgentStatus
T = Trigger

#: (status, trigger) -> next status. Anything not listed is an illegal transition.
TRANSITIONS: dict[tuple[AgentStatus, Trigger], AgentStatus] = {
    (S.OFFLINE, T.SIGN_IN): S.AVAILABLE,
    (S.BREAK, T.GO_AVAILABLE): S.AVAILABLE,
    (S.AVAILABLE, T.TAKE_BREAK): S.BREAK,
    # Asked for during wrap-up: the agent goes on break instead of back into the line.
    (S.AFTER_CALL_WORK, T.TAKE_BREAK): S.BREAK,
    # Changing the reason of a break (meeting -> meal, or after a missed offer).
    (S.BREAK, T.TAKE_BREAK): S.BREAK,
    (S.AVAILABLE, T.OFFER): S.RINGING,
    (S.RINGING, T.ANSWER): S.ON_CALL,
    (S.RINGING, T.OFFER_TIMEOUT): S.BREAK,
    (S.RINGING, T.OFFER_DECLINED): S.BREAK,
    # The caller hung up while the desk rang: the offer is withdrawn, the agent is free again.
    (S.RINGING, T.CALL_ENDED): S.AVAILABLE,
    (S.ON_CALL, T.CALL_ENDED): S.AFTER_CALL_WORK,
    (S.AFTER_CALL_WORK, T.WRAP_UP_DONE): S.AVAILABLE,
    (S.AFTER_CALL_WORK, T.WRAP_UP_EXPIRED): S.AVAILABLE,
    # Not while ringing or on a call: the caller in front of the agent is served first.
    (S.AVAILABLE, T.SIGN_OUT): S.OFFLINE,
    (S.BREAK, T.SIGN_OUT): S.OFFLINE,
    (S.AFTER_CALL_WORK, T.SIGN_OUT): S.OFFLINE,
}

#: Transitions into `available` that keep the agent's place in the idle line (all others
#: into `available` restart `idle_since`).
KEEPS_IDLE_PLACE: frozenset[tuple[AgentStatus, Trigger]] = frozenset({(S.RINGING, T.CALL_ENDED)})

#: Triggers about one particular call: a `call_id` given with them must be the agent's call.
CALL_TRIGGERS: frozenset[Trigger] = frozenset(
    {T.OFFER, T.ANSWER, T.OFFER_TIMEOUT, T.OFFER_DECLINED, T.CALL_ENDED}
)

#: Statuses in which the agent holds a call (`call_id` set): offered, talking, wrapping up.
HOLDS_CALL: frozenset[AgentStatus] = frozenset({S.RINGING, S.ON_CALL, S.AFTER_CALL_WORK})

#: Offers not answered: the agent is taken out of the line with this reason.
MISSED_OFFER: frozenset[Trigger] = frozenset({T.OFFER_TIMEOUT, T.OFFER_DECLINED})


@dataclass(frozen=True)
class AgentPolicy:
    """Numbers the centre sets, not the regulations."""

    #: Longest wrap-up after a call before the agent is made available again.
    wrap_up_limit: timedelta = timedelta(seconds=60)
    #: Longest an offer may ring before the distributor itself treats it as missed. The call
    #: flow normally reports the timeout first; this catches offers of a node that died.
    offer_limit: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if self.wrap_up_limit <= timedelta(0) or self.offer_limit <= timedelta(0):
            raise InvalidInput(
                "agent policy limits must be positive",
                wrap_up_limit=str(self.wrap_up_limit), offer_limit=str(self.offer_limit),
            )


DEFAULT_POLICY = AgentPolicy()


@dataclass(frozen=True)
class AgentState:
    """One agent as the distributor sees it. Invariants are checked on construction."""

    agent_id: str
    status: AgentStatus
    #: When the agent entered `status` (UTC).
    since: datetime
    skills: frozenset[Skill] = field(default_factory=lambda: frozenset({Skill.GENERAL}))
    break_reason: BreakReason | None = None
    #: When the agent last became available; None while never available since signing in.
    idle_since: datetime | None = None
    #: The call offered, being talked on, or being wrapped up.
    call_id: str | None = None

    def __post_init__(self) -> None:
        context = {"agent_id": self.agent_id, "status": str(self.status)}
        if not self.agent_id or not self.agent_id.strip():
            raise InvalidInput("agent_id must not be empty", **context)
        if self.since.tzinfo is None or (self.idle_since is not None and self.idle_since.tzinfo is None):
            raise InvalidInput("agent times must be timezone-aware", **context)
        unknown = {str(s) for s in self.skills} - {s.value for s in Skill}
        if unknown:
            raise InvalidInput("unknown skills", skills=sorted(unknown), **context)
        if (self.status is S.BREAK) != (self.break_reason is not None):
            raise InvalidInput("a break reason goes with the break status, and only with it",
                               break_reason=self.break_reason, **context)
        if (self.status in HOLDS_CALL) != (self.call_id is not None):
            raise InvalidInput("call_id is set exactly while ringing, on a call or in wrap-up",
                               call_id=self.call_id, **context)
        if self.status is S.AVAILABLE and self.idle_since is None:
            raise InvalidInput("an available agent has an idle_since", **context)

    @classmethod
    def signed_out(
        cls, agent_id: str, now: datetime, skills: frozenset[Skill] = frozenset({Skill.GENERAL})
    ) -> AgentState:
        """An agent the distributor has not seen signed in."""
        return cls(agent_id=agent_id, status=S.OFFLINE, since=now, skills=frozenset(skills))

    @property
    def takes_calls(self) -> bool:
        return self.status is S.AVAILABLE


def decide(
    state: AgentState,
    trigger: Trigger,
    now: datetime,
    *,
    reason: BreakReason | None = None,
    call_id: str | None = None,
    policy: AgentPolicy = DEFAULT_POLICY,
) -> AgentState:
    """The agent's state after `trigger` at `now`; raises IllegalTransition or InvalidInput.

    `reason` goes with `take_break` only. `call_id` is required with `offer`; with the other call
    triggers it is optional and, when given, must be the agent's call: a late timeout or answer
    for an earlier offer is refused rather than applied to the current one.
    """
    context: dict[str, object] = {
        "agent_id": state.agent_id, "status": str(state.status), "trigger": str(trigger),
    }
    if now.tzinfo is None:
        raise InvalidInput("naive datetime given to the agent state machine", **context)
    target = TRANSITIONS.get((state.status, trigger))
    if target is None:
        raise IllegalTransition(
            f"{trigger} is not allowed for an agent in status {state.status}",
            rule="transition_table", **context,
        )
    if trigger is T.TAKE_BREAK:
        if reason is None:
            raise InvalidInput("a break needs a reason", field="reason", **context)
        if reason is BreakReason.NO_ANSWER:
            raise InvalidInput("no_answer is set by the distributor, not chosen", field="reason",
                               **context)
    elif reason is not None:
        raise InvalidInput(f"{trigger} takes no break reason", field="reason", **context)
    if trigger in CALL_TRIGGERS:
        if trigger is T.OFFER:
            if not call_id:
                raise InvalidInput("an offer names its call", field="call_id", **context)
        elif call_id is not None and call_id != state.call_id:
            raise IllegalTransition(
                f"{trigger} is about call {call_id}, the agent's call is {state.call_id}",
                rule="other_call", call_id=call_id, agent_call_id=state.call_id, **context,
            )
    elif call_id is not None:
        raise InvalidInput(f"{trigger} takes no call_id", field="call_id", **context)
    if trigger is T.WRAP_UP_EXPIRED and not wrap_up_expired(state, now, policy):
        raise IllegalTransition(
            "wrap-up has not reached its limit", rule="wrap_up_not_expired",
            wrap_up_limit=str(policy.wrap_up_limit), **context,
        )

    break_reason = None
    if target is S.BREAK:
        break_reason = BreakReason.NO_ANSWER if trigger in MISSED_OFFER else reason
    if target not in HOLDS_CALL:
        new_call_id = None
    elif trigger is T.OFFER:
        new_call_id = call_id
    else:
        new_call_id = state.call_id
    if target is S.OFFLINE:
        idle_since = None
    elif target is S.AVAILABLE and (state.status, trigger) not in KEEPS_IDLE_PLACE:
        idle_since = now
    else:
        idle_since = state.idle_since
    return replace(
        state, status=target, since=now, break_reason=break_reason, idle_since=idle_since,
        call_id=new_call_id,
    )


def wrap_up_expired(state: AgentState, now: datetime, policy: AgentPolicy = DEFAULT_POLICY) -> bool:
    """The agent has been in wrap-up for at least the centre's limit."""
    return state.status is S.AFTER_CALL_WORK and now - state.since >= policy.wrap_up_limit


def offer_overdue(state: AgentState, now: datetime, policy: AgentPolicy = DEFAULT_POLICY) -> bool:
    """The agent's desk has rung for at least `offer_limit`: nobody reported an answer or a
    timeout, so the offer is treated as missed (the node that rang may have died)."""
    return state.status is S.RINGING and now - state.since >= policy.offer_limit
