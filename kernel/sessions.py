"""People's sign-in sessions: what a session is, the one rule for when it stops being valid, and
the port through which `kernel.auth` reads them.

A person signs in with a password (`accounts/`) and gets a session: a row on the server, named
by the SHA-256 of a random secret that only their browser holds (an HttpOnly cookie), so that a
copy of the table gives nobody a working session. A session ends when it is revoked (sign-out,
an administrator, the account disabled or its password reset), when the account is disabled,
when it has been idle for `auth.session_idle_minutes`, and in any case
`auth.session_absolute_hours` after sign-in. `refusal` is that rule, in one place: `kernel.auth`
applies it to every request that comes with the cookie and, every few seconds, to every open
websocket.

Pure: no I/O. The store that implements `SessionLookup` lives in `accounts/`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """How long a session may be idle, and how long it may live at most (from settings)."""

    idle: timedelta
    absolute: timedelta

    @property
    def touch_every(self) -> timedelta:
        """How stale `last_seen_at` may get before a request writes it again: a write per
        request would make every read a write, and a quarter of the idle limit is precise enough."""
        return min(timedelta(minutes=1), self.idle / 4)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session as the server keeps it, with its account's role and state."""

    id: str
    user: str
    role: str
    unit: str | None
    #: Sent by pages in the `X-CSRF-Token` header with every write made with the cookie.
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    revoked_at: datetime | None
    user_active: bool


def refusal(session: SessionRecord, now: datetime, limits: SessionLimits) -> str | None:
    """Why `session` may no longer be used at `now`, or None while it is valid."""
    if session.revoked_at is not None:
        return "this session was signed out or revoked; sign in again"
    if not session.user_active:
        return "this account is disabled"
    if now >= session.created_at + limits.absolute:
        return "this session reached its time limit; sign in again"
    if now >= session.last_seen_at + limits.idle:
        return "this session was idle too long; sign in again"
    return None


def session_id_of(secret: str) -> str:
    """The stored name of a session whose browser holds `secret` (SHA-256, hex)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class SessionLookup(Protocol):
    """Where `kernel.auth` reads sessions (implemented by `accounts.store.AccountStore`)."""

    async def find_sessions(self, session_ids: Collection[str]) -> dict[str, SessionRecord]:
        """The sessions among `session_ids` that exist (revoked ones included)."""
        ...

    async def touch_sessions(self, session_ids: Collection[str], at: datetime) -> None:
        """Record activity on these sessions at `at` (their idle time starts again)."""
        ...
