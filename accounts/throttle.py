"""Failed sign-ins, counted per account and per client address in Redis (shared by every node).

A password can be guessed only as fast as this lets it: within `window` at most
`per_account` failures for one account name (whatever the address) and `per_address` for one
address (whatever the names); past either, sign-ins are refused until the window that counts
them ends. An attempt is counted BEFORE the password is checked, in one Lua script that also
refuses, so parallel guesses cannot slip past the limit between a check and a count; a success
then takes its attempt back (the account's count starts again, the address's loses one).
Unknown account names are counted like known ones, so the answer tells nothing about which
exist. Redis down: sign-in is refused (503) rather than left unthrottled.

The per-account limit lets someone lock a person out for a window by failing on purpose; the
window is short and an administrator sees the failures, which is the usual trade for stopping
guessing (a distributed guesser is not stopped by the per-address limit alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kernel.errors import Throttled, Unavailable

# KEYS: account counter, address counter. ARGV: account limit, address limit, window (ms).
# Returns 0 when the attempt is counted, else the milliseconds until the full counter empties.
_ATTEMPT = """
local limits = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local wait = 0
for i = 1, 2 do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= limits[i] then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[3])
      ttl = tonumber(ARGV[3])
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
return 0
"""

# KEYS: account counter, address counter. The account starts again; the address gives one back.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    per_account: int
    per_address: int
    window: timedelta


class SignInThrottle:
    """`namespace` keeps other guessable checks apart (the public progress lookup counts wrong
    ticket numbers and codes with this same rule, per ticket instead of per account)."""

    def __init__(self, redis: aioredis.Redis, key_prefix: str, limits: ThrottleLimits,
                 namespace: str = "signin") -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}{namespace}:"
        self.limits = limits
        self._attempt = redis.register_script(_ATTEMPT)
        self._succeeded = redis.register_script(_SUCCEEDED)

    def _keys(self, username: str, address: str) -> list[str]:
        return [f"{self._prefix}account:{username}", f"{self._prefix}address:{address}"]

    async def attempt(self, username: str, address: str) -> None:
        """Count a sign-in attempt, or raise Throttled if either counter is full."""
        window_ms = int(self.limits.window.total_seconds() * 1000)
        try:
            wait_ms = int(await self._attempt(keys=self._keys(username, address), args=[
                self.limits.per_account, self.limits.per_address, window_ms]))
        except RedisError as exc:
            raise Unavailable(f"sign-in throttle unavailable (Redis): {exc}") from exc
        if wait_ms > 0:
            seconds = max(1, -(-wait_ms // 1000))
            raise Throttled(f"too many failed sign-ins; try again in {seconds} s", retry_after=seconds,
                            username=username, address=address)

    async def succeeded(self, username: str, address: str) -> None:
        try:
            await self._succeeded(keys=self._keys(username, address))
        except RedisError as exc:
            raise Unavailable(f"sign-in throttle unavailable (Redis): {exc}") from exc
