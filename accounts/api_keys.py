"""Programs' API keys in the database (`kernel.schema.api_keys`): made, listed, revoked, and read
by `kernel.auth` through the `kernel.api_keys.ApiKeyLookup` port.

The key itself is shown once, by `create`, and never stored: the table holds its SHA-256. Like
the sessions table, the database is the one truth shared by every node, so a revocation on one
node is refused by all at their next request. A database error while reading a key becomes
`Unavailable` (503), never a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.model import MAX_KEYS_PER_ACCOUNT, ApiKey, check_key_name
from accounts.store import database_errors
from kernel.api_keys import ApiKeyRecord, key_hash, new_api_key
from kernel.clock import Clock, utc_now
from kernel.errors import Conflict, NotFound
from kernel.schema import api_keys, users

REVOKED = "revoked"


def _api_key(row: Any) -> ApiKey:
    return ApiKey(id=row["id"], username=row["username"], name=row["name"], created_at=row["created_at"],
                  created_by=row["created_by"], last_used_at=row["last_used_at"], revoked_at=row["revoked_at"],
                  revoked_by=row["revoked_by"], revoked_reason=row["revoked_reason"])


class ApiKeyStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def create(self, username: str, name: str, *, created_by: str) -> tuple[str, ApiKey]:
        """A new key for `username`'s account: the key (show it once) and its listing."""
        name = check_key_name(name)
        key_id, key = new_api_key()
        now = self._clock()
        k = api_keys.c
        async with self._engine.begin() as conn:
            account = (await conn.execute(select(users.c.active).where(users.c.username == username))).first()
            if account is None:
                raise NotFound(f"no user {username!r}", username=username)
            if not account.active:
                raise Conflict(f"user {username!r} is disabled: enable the account first", username=username)
            live = (await conn.execute(select(k.name).where(k.username == username,
                                                            k.revoked_at.is_(None)))).scalars().all()
            if name in live:
                raise Conflict(f"user {username!r} has a key named {name!r} already: revoke it first",
                               username=username)
            if len(live) >= MAX_KEYS_PER_ACCOUNT:
                raise Conflict(f"user {username!r} holds {len(live)} keys, the most allowed: revoke some first",
                               username=username)
            await conn.execute(insert(api_keys).values(
                id=key_id, username=username, name=name, secret_hash=key_hash(key), created_at=now,
                created_by=created_by[:64]))
        return key, await self.get(key_id)

    async def get(self, key_id: str) -> ApiKey:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id[:16]))).mappings().first()
        if row is None:
            raise NotFound(f"no API key {key_id[:16]!r}", key=key_id[:16])
        return _api_key(row)

    async def list(self, username: str | None = None) -> list[ApiKey]:
        """Keys, live ones first, newest first; of one account when `username` is given."""
        k = api_keys.c
        statement = select(api_keys).order_by(k.revoked_at.is_not(None), k.created_at.desc(), k.id)
        if username is not None:
            statement = statement.where(k.username == username)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [_api_key(row) for row in rows]

    async def count_live(self, username: str) -> int:
        k = api_keys.c
        async with self._engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(api_keys)
                                         .where(k.username == username, k.revoked_at.is_(None))) or 0)

    async def revoke(self, key_id: str, *, by: str) -> ApiKey:
        """End a key for good (a second revocation changes nothing)."""
        k = api_keys.c
        async with self._engine.begin() as conn:
            await conn.execute(update(api_keys).where(k.id == key_id[:16], k.revoked_at.is_(None))
                               .values(revoked_at=self._clock(), revoked_by=by[:64], revoked_reason=REVOKED))
        return await self.get(key_id)

    # ---- kernel.api_keys.ApiKeyLookup ------------------------------------------------------------

    async def find_api_key(self, key_id: str) -> ApiKeyRecord | None:
        k = api_keys.c
        statement = (select(k.id, k.username, k.name, k.secret_hash, k.last_used_at, k.revoked_at,
                            users.c.role, users.c.unit, users.c.active)
                     .join(users, users.c.username == k.username).where(k.id == key_id))
        with database_errors():
            async with self._engine.connect() as conn:
                row = (await conn.execute(statement)).mappings().first()
        if row is None:
            return None
        return ApiKeyRecord(id=row["id"], user=row["username"], name=row["name"], role=row["role"],
                            unit=row["unit"], secret_hash=row["secret_hash"], last_used_at=row["last_used_at"],
                            revoked_at=row["revoked_at"], user_active=bool(row["active"]))

    async def touch_api_key(self, key_id: str, at: datetime) -> None:
        k = api_keys.c
        with database_errors():
            async with self._engine.begin() as conn:
                # Never backwards: two nodes may record the same key's use out of order.
                await conn.execute(update(api_keys)
                                   .where(k.id == key_id, (k.last_used_at.is_(None)) | (k.last_used_at < at))
                                   .values(last_used_at=at))
