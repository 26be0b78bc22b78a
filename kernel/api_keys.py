"""Programs' API keys: what a key looks like, how it is stored, the one rule for when it stops
working, and the port through which `kernel.auth` reads keys.

People sign in and work with a session (`kernel.sessions`); a program that works for an account
(a unit's own case system, the web intake) holds a named API key of that account instead and
sends it on every request, only in the `Authorization` header:

    Authorization: Bearer hk_<id>_<secret>

`id` is 12 lowercase hexadecimal characters, public: listings and logs name a key by it. The
secret is 32 random bytes (base64url), so guessing is hopeless and a fast hash is enough: the
server keeps only the SHA-256 of the whole key, shown once when it is made. A request made with
a key acts with its account's role and unit, like the person's session would; it needs no CSRF
token (a browser never sends the header on its own), and it opens no websocket (sockets are for
people, whose sessions the socket re-check follows). A key stops working when it is revoked and
while its account is disabled (disabling an account also revokes its keys: `accounts/`).

Pure: no I/O. The store that implements `ApiKeyLookup` lives in `accounts/`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

#: Every key starts with it: a key in a log, a paste or a repository is recognisable as ours.
KEY_PREFIX = "hk_"
_KEY = re.compile(r"^hk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
#: `last_used_at` is written again only when it is this stale: a write per request would make
#: every read a write, and "used within the last minute" is precise enough to audit keys.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A key as the server keeps it, with its account's role and state."""

    id: str
    user: str
    name: str
    role: str
    unit: str | None
    #: SHA-256 (hex) of the whole key.
    secret_hash: str
    last_used_at: datetime | None
    revoked_at: datetime | None
    user_active: bool


def key_hash(key: str) -> str:
    """What the store keeps of a key: the SHA-256 of all of it, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh key's public id and the key itself (to show once; store only `key_hash`)."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def is_api_key(credential: str) -> bool:
    """Whether a bearer credential is meant as an API key (rather than a signed test token)."""
    return credential.startswith(KEY_PREFIX)


def key_id_of(key: str) -> str | None:
    """The id named by a well-formed key; None for anything else."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def refusal(record: ApiKeyRecord, key: str) -> str | None:
    """Why `key` may not be used as the key `record` describes, or None when it may."""
    if not hmac.compare_digest(record.secret_hash, key_hash(key)):
        return "unknown API key"
    if record.revoked_at is not None:
        return "this API key was revoked"
    if not record.user_active:
        return "this API key's account is disabled"
    return None


def needs_touch(record: ApiKeyRecord, now: datetime) -> bool:
    return record.last_used_at is None or now - record.last_used_at >= TOUCH_EVERY


class ApiKeyLookup(Protocol):
    """Where `kernel.auth` reads keys (implemented by `accounts.api_keys.ApiKeyStore`)."""

    async def find_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key named `key_id` (revoked ones included), or None."""
        ...

    async def touch_api_key(self, key_id: str, at: datetime) -> None:
        """Record that the key was used at `at`."""
        ...
