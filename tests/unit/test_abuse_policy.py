"""The graduated anti-abuse policy, without Redis: rules, overrides, expiry, people's actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abuse.policy import (
    ANONYMOUS,
    AbusePolicy,
    AuditEvent,
    AuditRecord,
    Level,
    Measure,
    Signals,
    caller_key,
    request_fingerprint,
)
from abuse.policy_file import load_abuse_policy, policy_from_mapping
from kernel.errors import ConfigError, InvalidInput, NotFound
from kernel.privacy import mask_phone

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
NUMBER = "13800138000"

SMALL = {
    "windows": {"short_seconds": 10, "medium_seconds": 60, "long_seconds": 600},
    "levels": {
        "warn": {"calls_short": 3, "repeats": 2, "harassment_flags": 1},
        "senior_queue": {"calls_short": 5, "harassment_flags": 2},
        "restrict": {"calls_short": 7, "harassment_flags": 3, "long_occupations": 2},
        "supervisor_review": {"after_restrictions": 2},
    },
    "measures": {"senior_queue_seconds": 60, "restrict_seconds": 30, "supervisor_review_seconds": 120,
                 "max_seconds": 600},
    "anonymous": {"scale": 10, "max_level": "senior_queue"},
    "allow_list": {"numbers": ["+86 139 0000 0000"]},
    "emergency": {"keywords": ["火灾", "受伤", "打人", "Fire"]},
    "prompts": {"warn": "hotline/abuse-warning", "restrict": "hotline/abuse-restricted"},
}


@pytest.fixture
def policy() -> AbusePolicy:
    return policy_from_mapping(SMALL)


def decide(policy: AbusePolicy, signals: Signals, *, caller: str = NUMBER,
           measure: Measure | None = None, emergency: bool = False):
    return policy.evaluate(caller, signals, active_measure=measure, emergency=emergency,
                           decision_id="d1", now=NOW)


def standing(level: Level, *, expires_in: timedelta = timedelta(minutes=5)) -> Measure:
    return Measure(caller=NUMBER, level=level, reason="calls_short>=7", created_at=NOW - timedelta(minutes=1),
                   expires_at=NOW + expires_in, decided_by="policy", decision_id="m1")


def test_caller_numbers_are_normalised_and_withheld_numbers_form_one_class() -> None:
    assert caller_key("+86 138-0013-8000") == "13800138000"
    assert caller_key("008613800138000") == "13800138000"
    assert caller_key("8613800138000") == "13800138000"
    assert caller_key("053112345") == "053112345"
    for withheld in (None, "", "anonymous", "Unknown", "<unknown>", "restricted", '"Private"'):
        assert caller_key(withheld) == ANONYMOUS


def test_numbers_are_masked_for_logs() -> None:
    # One masking rule for the whole backend (kernel.privacy): first 3 and last 4 digits.
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("110") == "***"
    assert mask_phone(None) == ""


def test_same_request_has_same_fingerprint_despite_spacing_and_punctuation() -> None:
    assert request_fingerprint("路灯 坏了！") == request_fingerprint("路灯坏了")
    assert request_fingerprint("路灯坏了") != request_fingerprint("井盖丢了")
    assert request_fingerprint("  ") is None


def test_first_calls_are_allowed_then_the_ladder_climbs_one_rung_at_a_time(policy: AbusePolicy) -> None:
    levels = [decide(policy, Signals(calls_short=n, calls_medium=n, calls_long=n)).level for n in range(1, 9)]
    assert levels == [Level.ALLOW, Level.ALLOW, Level.WARN, Level.WARN, Level.SENIOR_QUEUE,
                      Level.SENIOR_QUEUE, Level.RESTRICT, Level.RESTRICT]


def test_warning_carries_the_education_prompt_and_still_queues(policy: AbusePolicy) -> None:
    decision = decide(policy, Signals(calls_short=3))
    assert decision.level == Level.WARN
    assert decision.prompt == "hotline/abuse-warning"
    assert decision.queues_normally and not decision.offers_message
    assert decision.reasons == ("calls_short>=3",)


def test_restriction_still_offers_to_leave_a_message_and_expires(policy: AbusePolicy) -> None:
    decision = decide(policy, Signals(calls_short=7))
    assert decision.level == Level.RESTRICT and decision.offers_message
    assert decision.new_measure
    assert decision.measure is not None
    assert decision.measure.expires_at == NOW + timedelta(seconds=30)
    assert not decision.measure.is_active(NOW + timedelta(seconds=30))


def test_senior_queue_is_a_measure_that_routes_to_senior_agents(policy: AbusePolicy) -> None:
    decision = decide(policy, Signals(calls_short=5))
    assert decision.routes_to_senior_queue and decision.new_measure
    assert decision.measure is not None and decision.measure.level == Level.SENIOR_QUEUE


def test_staff_flagged_harassment_and_repeats_and_long_occupation_are_signals(policy: AbusePolicy) -> None:
    assert decide(policy, Signals(calls_short=1, harassment_flags=1)).level == Level.WARN
    assert decide(policy, Signals(calls_short=1, repeats=2)).level == Level.WARN
    assert decide(policy, Signals(calls_short=1, long_occupations=2)).level == Level.RESTRICT
    assert decide(policy, Signals(calls_short=1, harassment_flags=3)).reasons == ("harassment_flags>=3",)


def test_long_occupation_needs_a_long_call_without_new_content(policy: AbusePolicy) -> None:
    assert policy.is_long_occupation(timedelta(minutes=15), new_content=False)
    assert not policy.is_long_occupation(timedelta(minutes=15), new_content=True)
    assert not policy.is_long_occupation(timedelta(minutes=14), new_content=False)


def test_a_standing_measure_keeps_its_level_until_it_expires(policy: AbusePolicy) -> None:
    measure = standing(Level.RESTRICT)
    decision = decide(policy, Signals(calls_short=1), measure=measure)
    assert decision.level == Level.RESTRICT
    assert decision.reasons == ("active_measure:restrict",)
    assert not decision.new_measure and decision.measure == measure
    expired = standing(Level.RESTRICT, expires_in=timedelta(0))
    assert decide(policy, Signals(calls_short=1), measure=expired).level == Level.ALLOW


def test_a_stronger_rule_replaces_a_weaker_measure(policy: AbusePolicy) -> None:
    decision = decide(policy, Signals(calls_short=7), measure=standing(Level.SENIOR_QUEUE))
    assert decision.level == Level.RESTRICT and decision.new_measure


def test_repeated_restriction_escalates_to_supervisor_review(policy: AbusePolicy) -> None:
    assert decide(policy, Signals(calls_short=7, prior_restrictions=1)).level == Level.RESTRICT
    decision = decide(policy, Signals(calls_short=7, prior_restrictions=2))
    assert decision.level == Level.SUPERVISOR_REVIEW
    assert decision.reasons[-1] == "prior_restrictions>=2"
    assert decision.measure is not None and decision.measure.expires_at == NOW + timedelta(seconds=120)
    # Earlier restrictions alone never restrict a caller who now calls normally.
    assert decide(policy, Signals(calls_short=1, prior_restrictions=5)).level == Level.ALLOW


@pytest.mark.parametrize("text", ["我家着火了，火灾！", "有人打人", "孩子受伤了", "FIRE in the building"])
def test_emergency_words_override_every_measure(policy: AbusePolicy, text: str) -> None:
    assert policy.is_emergency(text)
    decision = decide(policy, Signals(calls_short=50, harassment_flags=9),
                      measure=standing(Level.SUPERVISOR_REVIEW), emergency=policy.is_emergency(text))
    assert decision.level == Level.ALLOW and decision.reasons == ("emergency",)


def test_default_config_knows_the_chinese_emergency_words() -> None:
    policy = load_abuse_policy()
    for text in ("着火了", "有人流血", "有人杀人", "他受伤了", "火灾", "打人了"):
        assert policy.is_emergency(text), text
    assert not policy.is_emergency("路灯坏了")


def test_allow_listed_numbers_are_never_screened(policy: AbusePolicy) -> None:
    decision = decide(policy, Signals(calls_short=99), caller="13900000000")
    assert decision.level == Level.ALLOW and decision.reasons == ("allow_list",)


def test_anonymous_callers_have_scaled_thresholds_and_a_cap(policy: AbusePolicy) -> None:
    assert decide(policy, Signals(calls_short=29), caller=ANONYMOUS).level == Level.ALLOW
    assert decide(policy, Signals(calls_short=30), caller=ANONYMOUS).level == Level.WARN
    decision = decide(policy, Signals(calls_short=500), caller=ANONYMOUS)
    assert decision.level == Level.SENIOR_QUEUE
    assert decision.reasons[-1] == "anonymous_cap"
    # Staff flags are not scaled: they are about one call, not about a shared class.
    assert decide(policy, Signals(harassment_flags=1), caller=ANONYMOUS).level == Level.WARN


def test_every_decision_has_an_audit_record_that_round_trips(policy: AbusePolicy) -> None:
    decision = decide(policy, Signals(calls_short=7, calls_medium=7, calls_long=7))
    record = decision.audit
    assert record.event == AuditEvent.DECISION and record.level == Level.RESTRICT
    assert record.measure_expires_at == NOW + timedelta(seconds=30)
    assert AuditRecord.from_fields(record.to_fields()) == record
    assert record.to_fields()["signals"] == "7,7,7,0,0,0,0"


def test_fail_open_allows_and_says_why(policy: AbusePolicy) -> None:
    decision = policy.fail_open(NUMBER, decision_id="d", now=NOW, cause="ConnectionError")
    assert decision.level == Level.ALLOW and decision.fail_open
    assert decision.audit.reasons == ("fail_open",)


def test_lift_needs_a_reason_and_a_standing_measure(policy: AbusePolicy) -> None:
    with pytest.raises(InvalidInput):
        policy.lift(standing(Level.RESTRICT), caller=NUMBER, actor="sup1", reason="  ", now=NOW)
    with pytest.raises(NotFound):
        policy.lift(None, caller=NUMBER, actor="sup1", reason="核实", now=NOW)
    record = policy.lift(standing(Level.RESTRICT), caller=NUMBER, actor="sup1", reason="核实后解除", now=NOW)
    assert record.event == AuditEvent.LIFT and record.note == "核实后解除" and record.actor == "sup1"


def test_extension_is_bounded_so_every_measure_still_expires(policy: AbusePolicy) -> None:
    measure = standing(Level.RESTRICT)
    extended, record = policy.extend(measure, caller=NUMBER, actor="sup1", by=timedelta(minutes=2),
                                     reason="仍在骚扰", now=NOW)
    assert extended.expires_at == measure.expires_at + timedelta(minutes=2)
    assert record.measure_expires_at == extended.expires_at and extended.decided_by == "sup1"
    capped, _ = policy.extend(measure, caller=NUMBER, actor="sup1", by=timedelta(days=30),
                              reason="仍在骚扰", now=NOW)
    assert capped.expires_at == NOW + timedelta(seconds=600)
    with pytest.raises(InvalidInput):
        policy.extend(measure, caller=NUMBER, actor="sup1", by=timedelta(0), reason="x", now=NOW)


def test_appeal_marks_the_measure_for_a_supervisor(policy: AbusePolicy) -> None:
    appealed, record = policy.appeal(standing(Level.RESTRICT), caller=NUMBER, statement="我有正当理由",
                                     received_by="agent7", now=NOW)
    assert appealed.appealed and record.event == AuditEvent.APPEAL and record.note == "我有正当理由"
    with pytest.raises(NotFound):
        policy.appeal(None, caller=NUMBER, statement="x", received_by="agent7", now=NOW)


@given(
    base=st.tuples(*[st.integers(0, 12)] * 6),
    bump=st.integers(0, 5),
    which=st.integers(0, 5),
)
def test_more_of_any_signal_never_lowers_the_level(base: tuple[int, ...], bump: int, which: int) -> None:
    policy = policy_from_mapping(SMALL)
    names = ["calls_short", "calls_medium", "calls_long", "repeats", "long_occupations", "harassment_flags"]
    before = Signals(**dict(zip(names, base, strict=True)))
    more = list(base)
    more[which] += bump
    after = Signals(**dict(zip(names, more, strict=True)))
    assert decide(policy, after).level.rank >= decide(policy, before).level.rank


def test_unknown_config_key_is_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        policy_from_mapping({"levels": {"warn": {"calls_shrot": 3}}})
    assert err.value.key == "abuse.levels.warn.calls_shrot"
    with pytest.raises(ConfigError) as err:
        policy_from_mapping({"bogus": {}})
    assert err.value.key == "abuse.bogus"


def test_thresholds_must_not_decrease_up_the_ladder() -> None:
    with pytest.raises(ConfigError) as err:
        policy_from_mapping({"levels": {"warn": {"calls_short": 5}, "restrict": {"calls_short": 4}}})
    assert err.value.key == "abuse.levels.restrict.calls_short"


def test_invalid_values_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        policy_from_mapping({"anonymous": {"max_level": "block"}})
    assert err.value.key == "abuse.anonymous.max_level"
    with pytest.raises(ConfigError):
        policy_from_mapping({"windows": {"short_seconds": 100, "medium_seconds": 10}})
    bad = tmp_path / "abuse.toml"
    bad.write_text("[windows\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_abuse_policy(bad)
    with pytest.raises(ConfigError):
        load_abuse_policy(tmp_path / "missing.toml")


def test_shipped_config_loads() -> None:
    policy = load_abuse_policy()
    assert policy.rules and policy.prompts[Level.RESTRICT]
    assert "110" in policy.allow_list
