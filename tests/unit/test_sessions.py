"""The one rule for when a session stops being valid (kernel/sessions.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kernel.sessions import SessionLimits, SessionRecord, refusal, session_id_of

T0 = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
LIMITS = SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
SESSION = SessionRecord(id=session_id_of("secret"), user="a7", role="agent", unit=None, csrf_token="c",
                        created_at=T0, last_seen_at=T0, revoked_at=None, user_active=True)


def test_a_session_is_valid_until_it_has_been_idle_for_the_idle_limit() -> None:
    assert refusal(SESSION, T0 + timedelta(minutes=29, seconds=59), LIMITS) is None
    assert "idle" in (refusal(SESSION, T0 + timedelta(minutes=30), LIMITS) or "")


def test_activity_keeps_a_session_only_up_to_its_absolute_limit() -> None:
    busy = replace(SESSION, last_seen_at=T0 + timedelta(hours=11, minutes=59))
    assert refusal(busy, T0 + timedelta(hours=11, minutes=59, seconds=59), LIMITS) is None
    assert "time limit" in (refusal(busy, T0 + timedelta(hours=12), LIMITS) or "")


def test_a_revoked_session_or_a_disabled_account_is_refused_at_once() -> None:
    assert "revoked" in (refusal(replace(SESSION, revoked_at=T0), T0, LIMITS) or "")
    assert "disabled" in (refusal(replace(SESSION, user_active=False), T0, LIMITS) or "")


def test_the_stored_name_of_a_session_is_a_hash_of_the_cookie_secret() -> None:
    assert session_id_of("secret") == "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    assert len(session_id_of("another")) == 64


def test_activity_is_written_at_most_every_minute_or_quarter_idle_limit() -> None:
    assert LIMITS.touch_every == timedelta(minutes=1)
    assert SessionLimits(idle=timedelta(minutes=2), absolute=timedelta(hours=1)).touch_every == timedelta(seconds=30)
