"""Agent states of the distributor: every (status, trigger) pair, the fields each move sets, and
random trigger sequences.

`EXPECTED` below is written from the desk's rules (who may do what, when) independently of
`call_queue/agent_state.py`'s table, so the tests check the state machine against a second reading.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from call_queue.agent_state import (
    DEFAULT_POLICY,
    AgentPolicy,
    AgentState,
    AgentStatus,
    BreakReason,
    Skill,
    Trigger,
    decide,
    offer_overdue,
    wrap_up_expired,
)
from kernel.errors import IllegalTransition, InvalidInput

S, T = AgentStatus, Trigger
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(minutes=10)

EXPECTED: dict[tuple[AgentStatus, Trigger], AgentStatus] = {
    (S.OFFLINE, T.SIGN_IN): S.AVAILABLE,
    (S.AVAILABLE, T.OFFER): S.RINGING,
    (S.AVAILABLE, T.TAKE_BREAK): S.BREAK,
    (S.AVAILABLE, T.SIGN_OUT): S.OFFLINE,
    (S.RINGING, T.ANSWER): S.ON_CALL,
    (S.RINGING, T.OFFER_TIMEOUT): S.BREAK,
    (S.RINGING, T.OFFER_DECLINED): S.BREAK,
    (S.RINGING, T.CALL_ENDED): S.AVAILABLE,
    (S.ON_CALL, T.CALL_ENDED): S.AFTER_CALL_WORK,
    (S.AFTER_CALL_WORK, T.WRAP_UP_DONE): S.AVAILABLE,
    (S.AFTER_CALL_WORK, T.WRAP_UP_EXPIRED): S.AVAILABLE,
    (S.AFTER_CALL_WORK, T.TAKE_BREAK): S.BREAK,
    (S.AFTER_CALL_WORK, T.SIGN_OUT): S.OFFLINE,
    (S.BREAK, T.GO_AVAILABLE): S.AVAILABLE,
    (S.BREAK, T.TAKE_BREAK): S.BREAK,
    (S.BREAK, T.SIGN_OUT): S.OFFLINE,
}


def state_in(status: AgentStatus, *, since: datetime = EARLIER) -> AgentState:
    """A valid agent in `status`, entered at `since`."""
    return AgentState(
        agent_id="a1",
        status=status,
        since=since,
        skills=frozenset({Skill.GENERAL}),
        break_reason=BreakReason.MEAL if status is S.BREAK else None,
        idle_since=None if status is S.OFFLINE else EARLIER - timedelta(minutes=5),
        call_id="c1" if status in (S.RINGING, S.ON_CALL, S.AFTER_CALL_WORK) else None,
    )


def arguments(trigger: Trigger) -> dict[str, object]:
    """The keyword arguments a legal use of the trigger needs."""
    if trigger is T.TAKE_BREAK:
        return {"reason": BreakReason.REST}
    if trigger is T.OFFER:
        return {"call_id": "c2"}
    return {}


@pytest.mark.parametrize(("status", "trigger"), list(itertools.product(AgentStatus, Trigger)))
def test_every_status_and_trigger_follows_the_table(status: AgentStatus, trigger: Trigger) -> None:
    state = state_in(status)
    expected = EXPECTED.get((status, trigger))
    if expected is None:
        with pytest.raises(IllegalTransition) as refused:
            decide(state, trigger, NOW, **arguments(trigger))  # type: ignore[arg-type]
        assert refused.value.context["agent_id"] == "a1"
        assert refused.value.context["status"] == status.value
        assert refused.value.context["trigger"] == trigger.value
        assert refused.value.context["rule"] == "transition_table"
    else:
        new = decide(state, trigger, NOW, **arguments(trigger))  # type: ignore[arg-type]
        assert new.status is expected
        assert new.since == NOW
        assert new.agent_id == state.agent_id and new.skills == state.skills


def test_sign_in_makes_the_agent_available_at_the_end_of_the_idle_line() -> None:
    new = decide(AgentState.signed_out("a1", EARLIER), T.SIGN_IN, NOW)
    assert (new.status, new.idle_since, new.call_id, new.break_reason) == (S.AVAILABLE, NOW, None, None)


def test_an_offer_rings_the_agent_with_the_call_and_keeps_the_idle_clock() -> None:
    available = state_in(S.AVAILABLE)
    ringing = decide(available, T.OFFER, NOW, call_id="c9")
    assert (ringing.status, ringing.call_id, ringing.idle_since) == (S.RINGING, "c9", available.idle_since)


def test_an_offer_must_name_its_call() -> None:
    with pytest.raises(InvalidInput):
        decide(state_in(S.AVAILABLE), T.OFFER, NOW)


def test_answer_and_call_end_keep_the_call_for_wrap_up() -> None:
    on_call = decide(state_in(S.RINGING), T.ANSWER, NOW, call_id="c1")
    assert (on_call.status, on_call.call_id) == (S.ON_CALL, "c1")
    wrap_up = decide(on_call, T.CALL_ENDED, NOW + timedelta(minutes=3))
    assert (wrap_up.status, wrap_up.call_id) == (S.AFTER_CALL_WORK, "c1")


@pytest.mark.parametrize("trigger", [T.OFFER_TIMEOUT, T.OFFER_DECLINED])
def test_an_unanswered_offer_takes_the_agent_out_of_the_line(trigger: Trigger) -> None:
    missed = decide(state_in(S.RINGING), trigger, NOW)
    assert (missed.status, missed.break_reason, missed.call_id) == (S.BREAK, BreakReason.NO_ANSWER, None)
    assert not missed.takes_calls


def test_coming_back_from_a_missed_offer_restarts_the_idle_clock() -> None:
    missed = decide(state_in(S.RINGING), T.OFFER_TIMEOUT, NOW)
    back = decide(missed, T.GO_AVAILABLE, NOW + timedelta(seconds=5))
    assert back.idle_since == NOW + timedelta(seconds=5)


def test_a_call_withdrawn_while_ringing_keeps_the_agents_place_in_line() -> None:
    ringing = state_in(S.RINGING)
    back = decide(ringing, T.CALL_ENDED, NOW)
    assert (back.status, back.call_id, back.idle_since) == (S.AVAILABLE, None, ringing.idle_since)


@pytest.mark.parametrize("trigger", [T.WRAP_UP_DONE, T.WRAP_UP_EXPIRED])
def test_finishing_wrap_up_restarts_the_idle_clock(trigger: Trigger) -> None:
    new = decide(state_in(S.AFTER_CALL_WORK, since=NOW - timedelta(minutes=2)), trigger, NOW)
    assert (new.status, new.idle_since, new.call_id) == (S.AVAILABLE, NOW, None)


@pytest.mark.parametrize("trigger", [T.ANSWER, T.OFFER_TIMEOUT, T.OFFER_DECLINED, T.CALL_ENDED])
def test_a_late_event_about_another_call_is_refused(trigger: Trigger) -> None:
    with pytest.raises(IllegalTransition) as refused:
        decide(state_in(S.RINGING), trigger, NOW, call_id="c-old")
    assert refused.value.context["rule"] == "other_call"
    assert refused.value.context["agent_call_id"] == "c1"


def test_a_break_needs_a_reason_the_agent_may_choose() -> None:
    with pytest.raises(InvalidInput):
        decide(state_in(S.AVAILABLE), T.TAKE_BREAK, NOW)
    with pytest.raises(InvalidInput):
        decide(state_in(S.AVAILABLE), T.TAKE_BREAK, NOW, reason=BreakReason.NO_ANSWER)
    new = decide(state_in(S.AVAILABLE), T.TAKE_BREAK, NOW, reason=BreakReason.TRAINING)
    assert (new.status, new.break_reason) == (S.BREAK, BreakReason.TRAINING)


def test_only_a_break_takes_a_reason_and_only_call_triggers_take_a_call() -> None:
    with pytest.raises(InvalidInput):
        decide(state_in(S.BREAK), T.GO_AVAILABLE, NOW, reason=BreakReason.REST)
    with pytest.raises(InvalidInput):
        decide(state_in(S.BREAK), T.GO_AVAILABLE, NOW, call_id="c1")


def test_a_break_reason_can_change_during_the_break() -> None:
    new = decide(state_in(S.BREAK), T.TAKE_BREAK, NOW, reason=BreakReason.MEETING)
    assert (new.status, new.break_reason, new.since) == (S.BREAK, BreakReason.MEETING, NOW)


def test_wrap_up_expires_only_at_the_centres_limit() -> None:
    policy = AgentPolicy(wrap_up_limit=timedelta(seconds=90))
    state = state_in(S.AFTER_CALL_WORK, since=NOW)
    with pytest.raises(IllegalTransition) as refused:
        decide(state, T.WRAP_UP_EXPIRED, NOW + timedelta(seconds=89), policy=policy)
    assert refused.value.context["rule"] == "wrap_up_not_expired"
    assert not wrap_up_expired(state, NOW + timedelta(seconds=89), policy)
    assert wrap_up_expired(state, NOW + timedelta(seconds=90), policy)
    assert decide(state, T.WRAP_UP_EXPIRED, NOW + timedelta(seconds=90), policy=policy).status is S.AVAILABLE


def test_an_offer_is_overdue_after_the_offer_limit() -> None:
    ringing = state_in(S.RINGING, since=NOW)
    assert not offer_overdue(ringing, NOW + DEFAULT_POLICY.offer_limit - timedelta(microseconds=1))
    assert offer_overdue(ringing, NOW + DEFAULT_POLICY.offer_limit)
    assert not offer_overdue(state_in(S.ON_CALL, since=NOW), NOW + timedelta(hours=1))


def test_signing_out_forgets_the_idle_clock() -> None:
    new = decide(state_in(S.AVAILABLE), T.SIGN_OUT, NOW)
    assert (new.status, new.idle_since, new.call_id) == (S.OFFLINE, None, None)


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput):
        decide(state_in(S.AVAILABLE), T.SIGN_OUT, NOW.replace(tzinfo=None))
    with pytest.raises(InvalidInput):
        AgentState.signed_out("a1", NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    "fields",
    [
        {"agent_id": ""},
        {"status": S.BREAK},  # a break without a reason
        {"break_reason": BreakReason.REST},  # a reason without a break
        {"status": S.RINGING},  # ringing without a call
        {"call_id": "c1"},  # a call while available
        {"idle_since": None},  # available without an idle clock
        {"skills": frozenset({"supervisor"})},
    ],
)
def test_impossible_states_cannot_be_built(fields: dict[str, object]) -> None:
    base: dict[str, object] = {
        "agent_id": "a1", "status": S.AVAILABLE, "since": NOW, "idle_since": NOW,
    }
    with pytest.raises(InvalidInput):
        AgentState(**(base | fields))  # type: ignore[arg-type]


def test_policy_limits_must_be_positive() -> None:
    with pytest.raises(InvalidInput):
        AgentPolicy(wrap_up_limit=timedelta(0))
    with pytest.raises(InvalidInput):
        AgentPolicy(offer_limit=timedelta(seconds=-1))


# ------------------------------------------------------------------------ random sequences

steps = st.lists(
    st.tuples(
        st.sampled_from(list(Trigger)),
        st.sampled_from([None, *BreakReason]),
        st.sampled_from([None, "c1", "c2"]),
        st.integers(min_value=0, max_value=120),  # seconds before the step
    ),
    max_size=60,
)


@given(steps)
def test_random_trigger_sequences_keep_the_invariants(
    sequence: list[tuple[Trigger, BreakReason | None, str | None, int]],
) -> None:
    """Whatever is tried: accepted moves follow EXPECTED; refused ones are typed errors; the
    agent never takes calls between a missed offer and an explicit go_available; every time the
    agent becomes available otherwise than by a withdrawn offer, the idle clock restarts."""
    now = NOW
    state = AgentState.signed_out("a1", now, frozenset({Skill.GENERAL, Skill.SENIOR}))
    missed_at: datetime | None = None
    for trigger, reason, call_id, seconds in sequence:
        now += timedelta(seconds=seconds)
        try:
            new = decide(state, trigger, now, reason=reason, call_id=call_id)
        except (IllegalTransition, InvalidInput):
            continue
        assert EXPECTED[(state.status, trigger)] is new.status
        assert new.since == now and new.skills == state.skills
        if new.status is S.AVAILABLE:
            if (state.status, trigger) == (S.RINGING, T.CALL_ENDED):
                assert new.idle_since == state.idle_since
            else:
                assert new.idle_since == now
        if trigger in (T.OFFER_TIMEOUT, T.OFFER_DECLINED):
            missed_at = now
        if missed_at is not None and new.takes_calls:
            # Only the agent's own return (or a new shift) ends it, at the back of the line.
            assert trigger in (T.GO_AVAILABLE, T.SIGN_IN)
            assert new.idle_since is not None and new.idle_since >= missed_at
            missed_at = None
        if missed_at is not None:
            assert new.status in (S.BREAK, S.OFFLINE)
        state = new
