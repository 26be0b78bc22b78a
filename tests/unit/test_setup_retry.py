"""How a call's set-up waits before trying again after an ARI request failed (no Asterisk here)."""

from __future__ import annotations

import pytest

from telephony import setup_retry


def test_the_waits_grow_then_stay_at_the_last_one_for_as_long_as_the_caller_is_on() -> None:
    waits = [setup_retry.delay_before(retry) for retry in range(1, 12)]
    assert waits == sorted(waits) and waits[0] < 1.0
    assert waits[-1] == waits[len(setup_retry.DELAYS_SECONDS)] == max(setup_retry.DELAYS_SECONDS)


def test_only_a_failure_that_keeps_coming_back_is_an_error() -> None:
    assert not setup_retry.persistent(1)
    assert setup_retry.persistent(setup_retry.PERSISTENT_AFTER)


def test_retries_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        setup_retry.delay_before(0)
