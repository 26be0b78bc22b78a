"""`Idempotency-Key`: a retried request does its work once and gets the first answer again.

A client that lost the answer to `POST /api/tickets` (a dropped connection, a proxy timeout)
cannot tell whether the ticket exists; retried blindly, it registered the same citizen's
request twice (issue 25). With an `Idempotency-Key` header, the first request with a key claims
it in the database (`idempotency_keys`, shared by every node and kept across restarts); the
answer is written **in the same transaction as the work** (`Claim.complete`, called by the store
inside its own transaction), so either both the ticket and its remembered answer exist, or
neither does. A retry with the same key and the same body gets that answer back and creates
nothing; the same key with another body is refused (`IdempotencyKeyReused`, 422): the client
has confused two requests, and guessing which one it meant would be worse.

A key is the client's, not the world's: it is scoped by the signed-in principal, so one
person's key neither collides with nor reveals another's answer.

While the first request runs, a retry gets `Conflict` (409, try again). A claim whose request
died without an answer (the node stopped mid-request) can be taken over after `lease`; the
stale request, should it still finish, then fails to complete its claim and its transaction is
rolled back, so taking over never doubles the work. Errors remember nothing (the claim is
released): an error created nothing, and the retry should be judged afresh. Keys expire after
`ttl`; expired rows are deleted as new keys are claimed.

Must never: store a request body (only its SHA-256), or replay an answer to anyone but the
principal who made the request.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import auth
from kernel.clock import Clock, utc_now
from kernel.errors import Conflict, IdempotencyKeyReused, InvalidInput
from kernel.schema import idempotency_keys

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128
DEFAULT_TTL = timedelta(hours=24)
DEFAULT_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Replay:
    """The first answer to a request with this key, to send again as it was."""

    status: int
    body: str

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=self.body, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})


@dataclass(frozen=True)
class Claim:
    """This request holds the key; `token` proves it when the answer is written."""

    scope: str
    key: str
    token: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The request as a retry must repeat it: method, path and body (JSON compared by meaning,
    so a client re-serialising the same object with other spacing or key order still matches)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def key_of(request: web.Request) -> str | None:
    """The request's key, if it sent one: printable ASCII, at most `MAX_KEY_LENGTH` characters."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise InvalidInput(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                           field=HEADER)
    return key


class IdempotencyStore:
    """Claims, answers and expiry of idempotency keys, in the shared database."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now, ttl: timedelta = DEFAULT_TTL,
                 lease: timedelta = DEFAULT_LEASE) -> None:
        self._engine = engine
        self._clock = clock
        self._ttl = ttl
        self._lease = lease

    async def claim(self, scope: str, key: str, request_hash: str) -> Claim | Replay:
        """Claim `key` for this request, or the first answer if a request with it finished."""
        token = secrets.token_hex(16)
        now = self._clock()
        async with self._engine.begin() as conn:
            await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at < now))
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(idempotency_keys).values(
                    scope=scope, key=key, request_hash=request_hash, token=token, claimed_at=now,
                    expires_at=now + self._ttl, status=None, body=None))
            return Claim(scope, key, token)
        except IntegrityError:
            pass
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(idempotency_keys).where(
                _row_of(scope, key)))).one_or_none()
            if row is None:  # expired and deleted by another request just now
                raise Conflict("the first request with this key is being processed; retry", key=key)
            if row.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    f"{HEADER} was already used for a different request", key=key)
            if row.status is not None:
                return Replay(row.status, row.body)
            if row.claimed_at + self._lease > now:
                raise Conflict("the first request with this key is being processed; retry", key=key)
            # The first request died without an answer: take the key over (see the module docstring).
            taken = await conn.execute(update(idempotency_keys).where(
                and_(_row_of(scope, key), idempotency_keys.c.token == row.token,
                     idempotency_keys.c.status.is_(None))).values(token=token, claimed_at=now))
            if taken.rowcount != 1:
                raise Conflict("the first request with this key is being processed; retry", key=key)
        return Claim(scope, key, token)

    async def complete(self, conn: AsyncConnection, claim: Claim, status: int, body: Any) -> None:
        """Remember the answer, inside the transaction that does the work: if the claim was
        taken over meanwhile, raise `Conflict` so that transaction is rolled back."""
        done = await conn.execute(update(idempotency_keys).where(
            and_(_row_of(claim.scope, claim.key), idempotency_keys.c.token == claim.token,
                 idempotency_keys.c.status.is_(None))).values(
            status=status, body=json.dumps(body, ensure_ascii=False)))
        if done.rowcount != 1:
            raise Conflict("this request's idempotency key was taken over by a retry", key=claim.key)

    async def release(self, claim: Claim) -> None:
        """Forget a claim whose request failed (it created nothing): a retry is judged afresh."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(idempotency_keys).where(
                and_(_row_of(claim.scope, claim.key), idempotency_keys.c.token == claim.token,
                     idempotency_keys.c.status.is_(None))))


def _row_of(scope: str, key: str) -> Any:
    return and_(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)


async def claim_for(request: web.Request, store: IdempotencyStore) -> Claim | Replay | None:
    """The request's claim on its key (None: it sent none), scoped by its principal."""
    key = key_of(request)
    if key is None:
        return None
    principal = auth.principal_of(request)
    request_hash = fingerprint(request.method, request.path, await request.read())
    return await store.claim(principal.user, key, request_hash)
