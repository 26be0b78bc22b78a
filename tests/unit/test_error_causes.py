"""Errors name their cause: an exception without a message (a timeout) still says what it was.

Under load, `ARI POST /channels/…/answer failed: ` was logged with nothing after the colon
(issue 26): `str(TimeoutError())` is empty."""

from __future__ import annotations

import aiohttp

from kernel.errors import cause_of


def test_a_timeout_without_a_message_is_named_by_its_type() -> None:
    assert cause_of(TimeoutError()) == "TimeoutError"


def test_an_error_with_a_message_keeps_it_after_its_type() -> None:
    assert cause_of(aiohttp.ServerDisconnectedError()) == "ServerDisconnectedError: Server disconnected"
    assert cause_of(OSError("  ")) == "OSError"
