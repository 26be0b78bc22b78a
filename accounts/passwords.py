"""Password hashes: argon2id (RFC 9106) through argon2-cffi, off the event loop.

argon2-cffi's defaults are RFC 9106's second recommended profile (argon2id, 64 MiB, 3 passes,
4 lanes): about a quarter of a second of CPU per hash on these machines, and 64 MiB of memory
while it runs. So hashing runs in a thread and at most `concurrency` hashes run at once: a burst
of sign-ins waits its turn instead of blocking calls or exhausting memory. A sign-in for an
unknown user still verifies against a dummy hash, so the answer time does not tell which user
names exist. Tests pass a cheap hasher (`argon2.PasswordHasher(time_cost=1, memory_cost=8)`).
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


def random_password() -> str:
    """A new password for a person, made by the hotline and shown to the administrator once:
    16 characters of URL-safe base64, 96 random bits."""
    return secrets.token_urlsafe(12)


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None, *, concurrency: int = 2) -> None:
        self._hasher = hasher or PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored` (None: no such user; the same work is done)."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_hex(16))
            stored = self._dummy
            password = ""  # never matches the dummy's random password
        async with self._slots:
            try:
                return await asyncio.to_thread(self._hasher.verify, stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was made with weaker parameters than today's (rehash at sign-in)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
