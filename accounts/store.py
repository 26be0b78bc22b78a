"""The accounts and sessions tables (`kernel.schema.users`, `user_sessions`).

Implements `kernel.sessions.SessionLookup`, through which `kernel.auth` reads sessions: the
database is the one truth, shared by every node, so a revocation on one node is seen by all at
their next request or socket re-check. A database error while reading sessions becomes
`Unavailable` (503), never a 500 on every request that carries a cookie.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.model import NO_PASSWORD, Account
from kernel.clock import Clock, utc_now
from kernel.errors import Conflict, NotFound, Unavailable
from kernel.roles import Role
from kernel.schema import api_keys, user_sessions, users
from kernel.sessions import SessionRecord, session_id_of

#: Sessions looked up per query (an IN list): a node's open sockets are re-checked in batches.
BATCH = 500


@contextmanager
def database_errors() -> Iterator[None]:
    try:
        yield
    except (OperationalError, DBAPIError, OSError) as exc:
        raise Unavailable(f"the accounts database is unreachable: {str(exc).splitlines()[0]}") from exc


def _account(row: Any) -> Account:
    return Account(username=row["username"], display_name=row["display_name"], role=Role(row["role"]),
                   unit=row["unit"], active=bool(row["active"]), created_at=row["created_at"],
                   updated_at=row["updated_at"], machine=row["password_hash"] == NO_PASSWORD)


#: Sessions with their account's role, unit and state (`SessionRecord`).
_SESSIONS = (select(user_sessions.c.id, user_sessions.c.username, user_sessions.c.csrf_token,
                    user_sessions.c.created_at, user_sessions.c.last_seen_at, user_sessions.c.revoked_at,
                    users.c.role, users.c.unit, users.c.active)
             .join(users, users.c.username == user_sessions.c.username))


def _session(row: Any) -> SessionRecord:
    return SessionRecord(id=row["id"], user=row["username"], role=row["role"], unit=row["unit"],
                         csrf_token=row["csrf_token"], created_at=row["created_at"],
                         last_seen_at=row["last_seen_at"], revoked_at=row["revoked_at"],
                         user_active=bool(row["active"]))


class AccountStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    # ---- accounts ----------------------------------------------------------------------------

    async def add(self, username: str, display_name: str, role: Role, unit: str | None,
                  password_hash: str) -> Account:
        now = self._clock()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(users).values(
                    username=username, display_name=display_name, role=role.value, unit=unit,
                    password_hash=password_hash, active=True, created_at=now, updated_at=now,
                    password_changed_at=now))
        except IntegrityError as exc:
            raise Conflict(f"user {username!r} exists already", username=username) from exc
        return await self.get(username)

    async def get(self, username: str) -> Account:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.username == username))).mappings().first()
        if row is None:
            raise NotFound(f"no user {username!r}", username=username)
        return _account(row)

    async def credentials(self, username: str) -> tuple[Account, str] | None:
        """The account and its password hash, for a sign-in; None if there is no such user."""
        with database_errors():
            async with self._engine.connect() as conn:
                row = (await conn.execute(select(users).where(users.c.username == username))).mappings().first()
        return None if row is None else (_account(row), row["password_hash"])

    async def is_senior_agent(self, username: str) -> bool:
        """Whether `username` is an active senior agent (the desk gives them the senior queue)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users.c.role, users.c.active)
                                      .where(users.c.username == username))).first()
        return row is not None and bool(row.active) and row.role == Role.SENIOR_AGENT.value

    async def list(self) -> list[Account]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.role, users.c.username))).mappings().all()
        return [_account(row) for row in rows]

    async def set_active(self, username: str, active: bool) -> Account:
        """Enable or disable an account; disabling also revokes every session and every API key
        it has (enabling it again brings none back)."""
        now = self._clock()
        async with self._engine.begin() as conn:
            result = await conn.execute(update(users).where(users.c.username == username)
                                        .values(active=active, updated_at=now))
            if not result.rowcount:
                raise NotFound(f"no user {username!r}", username=username)
            if not active:
                await conn.execute(self._revoke_all(username, "disabled", now))
                k = api_keys.c
                await conn.execute(update(api_keys).where(k.username == username, k.revoked_at.is_(None))
                                   .values(revoked_at=now, revoked_reason="disabled"))
        return await self.get(username)

    async def set_password(self, username: str, password_hash: str, *, revoke: bool = True) -> None:
        """A new password hash; a reset (`revoke`) ends the account's sessions too. A rehash
        at sign-in (same password, stronger parameters) keeps them."""
        now = self._clock()
        async with self._engine.begin() as conn:
            result = await conn.execute(update(users).where(users.c.username == username).values(
                password_hash=password_hash, updated_at=now, password_changed_at=now))
            if not result.rowcount:
                raise NotFound(f"no user {username!r}", username=username)
            if revoke:
                await conn.execute(self._revoke_all(username, "password_reset", now))

    # ---- sessions ----------------------------------------------------------------------------

    async def create_session(self, username: str, *, remote: str | None,
                             user_agent: str | None) -> tuple[str, SessionRecord]:
        """A new session: the secret for the person's cookie (never stored) and its record."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock()
        session_id = session_id_of(secret)
        with database_errors():
            async with self._engine.begin() as conn:
                await conn.execute(insert(user_sessions).values(
                    id=session_id, username=username, csrf_token=csrf, created_at=now, last_seen_at=now,
                    remote=(remote or "")[:64] or None, user_agent=(user_agent or "")[:200] or None))
        record = (await self.find_sessions([session_id]))[session_id]
        return secret, record

    async def find_sessions(self, session_ids: Collection[str]) -> dict[str, SessionRecord]:
        ids = list(session_ids)
        found: dict[str, SessionRecord] = {}
        with database_errors():
            async with self._engine.connect() as conn:
                for start in range(0, len(ids), BATCH):
                    statement = _SESSIONS.where(user_sessions.c.id.in_(ids[start:start + BATCH]))
                    for row in (await conn.execute(statement)).mappings():
                        found[row["id"]] = _session(row)
        return found

    async def touch_sessions(self, session_ids: Collection[str], at: datetime) -> None:
        ids = list(session_ids)
        s = user_sessions.c
        with database_errors():
            async with self._engine.begin() as conn:
                for start in range(0, len(ids), BATCH):
                    # Never backwards: two nodes may touch the same session out of order.
                    await conn.execute(update(user_sessions)
                                       .where(s.id.in_(ids[start:start + BATCH]), s.last_seen_at < at)
                                       .values(last_seen_at=at))

    async def revoke_session(self, session_id: str, reason: str) -> bool:
        """End one session (sign-out); whether it was still open."""
        s = user_sessions.c
        with database_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(update(user_sessions)
                                            .where(s.id == session_id, s.revoked_at.is_(None))
                                            .values(revoked_at=self._clock(), revoked_reason=reason))
        return bool(result.rowcount)

    async def revoke_user_sessions(self, username: str, reason: str) -> int:
        """End every open session of `username`; how many there were."""
        async with self._engine.begin() as conn:
            exists = (await conn.execute(select(users.c.username).where(users.c.username == username))).first()
            if exists is None:
                raise NotFound(f"no user {username!r}", username=username)
            result = await conn.execute(self._revoke_all(username, reason, self._clock()))
        return int(result.rowcount or 0)

    @staticmethod
    def _revoke_all(username: str, reason: str, at: datetime) -> Any:
        s = user_sessions.c
        return (update(user_sessions).where(s.username == username, s.revoked_at.is_(None))
                .values(revoked_at=at, revoked_reason=reason))

    async def open_sessions(self, username: str) -> int:
        """Sessions of `username` not revoked (expired ones included: expiry is decided on use)."""
        s = user_sessions.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(s.id).where(s.username == username, s.revoked_at.is_(None)))).all()
        return len(rows)

    async def unrevoked_sessions(self, created_after: datetime) -> tuple[SessionRecord, ...]:
        """Every session signed in after `created_after` and not revoked (whether it may still be
        used is `kernel.sessions.refusal`'s to say)."""
        s = user_sessions.c
        with database_errors():
            async with self._engine.connect() as conn:
                statement = _SESSIONS.where(s.revoked_at.is_(None), s.created_at > created_after)
                return tuple(_session(row) for row in (await conn.execute(statement)).mappings())

    async def purge_sessions(self, created_before: datetime) -> int:
        """Delete sessions signed in before `created_before` (past any absolute limit by then)."""
        s = user_sessions.c
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(user_sessions).where(s.created_at < created_before))
        return int(result.rowcount or 0)
