"""Lookup codes (查询码): the code a caller quotes, with the ticket number, to follow the ticket
on the public lookup when they cannot (or would rather not) give their phone number.

Issued to a ticket by hotline staff (the agent tells it on the call; an SMS gateway could send
it), one per ticket: issuing again replaces the old one. Six digits by default: easy to write
down while on the phone, and with the lookup's attempt limits (`public_lookup.limits`) guessing
one is hopeless. Stored only as an HMAC-SHA256 under the hotline's key, bound to the ticket
number, so the table alone gives neither the codes nor, by trying every six-digit code offline,
any one of them. A code lives `ttl` (default 180 days: past the longest handling and callback).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import Clock, utc_now
from kernel.schema import lookup_codes

DEFAULT_DIGITS = 6
DEFAULT_TTL = timedelta(days=180)


def code_hash(key: bytes, ticket_no: str, code: str) -> str:
    return hmac.new(key, f"lookup-code:{ticket_no}:{code}".encode(), hashlib.sha256).hexdigest()


class LookupCodes:
    def __init__(self, engine: AsyncEngine, key: bytes, *, digits: int = DEFAULT_DIGITS,
                 ttl: timedelta = DEFAULT_TTL, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._key = key
        self._digits = digits
        self._ttl = ttl
        self._clock = clock

    async def issue(self, ticket_no: str, by: str) -> tuple[str, datetime]:
        """A fresh code for the ticket (the old one stops working) and when it expires."""
        code = "".join(str(secrets.randbelow(10)) for _ in range(self._digits))
        now = self._clock()
        expires_at = now + self._ttl
        async with self._engine.begin() as conn:
            await conn.execute(delete(lookup_codes).where(lookup_codes.c.ticket_no == ticket_no))
            await conn.execute(lookup_codes.insert().values(
                ticket_no=ticket_no, code_hash=code_hash(self._key, ticket_no, code), issued_at=now,
                issued_by=by[:64], expires_at=expires_at))
        return code, expires_at

    async def matches(self, ticket_no: str, code: str) -> bool:
        """Whether `code` is the ticket's live code (the hash is computed even without a row, so
        an unknown ticket takes as long as a wrong code)."""
        candidate = code_hash(self._key, ticket_no, code)
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(lookup_codes).where(lookup_codes.c.ticket_no == ticket_no))).first()
        if row is None or row.expires_at <= self._clock():
            return False
        return hmac.compare_digest(row.code_hash, candidate)
