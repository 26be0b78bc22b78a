"""Signing a person in: throttle, password, account state, a new session.

The answer to a wrong user name and to a wrong password is the same (and takes the same time,
`accounts.passwords`); a disabled account is only named once the right password was given, so a
guesser learns nothing from it.
"""

from __future__ import annotations

import logging

from accounts.model import NO_PASSWORD, USERNAME, Account
from accounts.passwords import Passwords
from accounts.store import AccountStore
from accounts.throttle import SignInThrottle
from kernel.errors import PermissionDenied, Unauthenticated
from kernel.privacy import mask_name
from kernel.sessions import SessionRecord

log = logging.getLogger(__name__)


class SignIn:
    def __init__(self, store: AccountStore, passwords: Passwords, throttle: SignInThrottle) -> None:
        self.store = store
        self.passwords = passwords
        self.throttle = throttle

    async def attempt(self, username: str, password: str, *, address: str,
                      user_agent: str | None = None) -> tuple[str, SessionRecord, Account]:
        """The new session's secret and record, and the account; Throttled, Unauthenticated
        (wrong name or password) or PermissionDenied (disabled) otherwise."""
        username = username.strip().lower()
        await self.throttle.attempt(username, address)
        found = await self.store.credentials(username) if USERNAME.match(username) else None
        if found is not None and found[1] == NO_PASSWORD:
            found = None  # a program's account never signs in; answered like an unknown name
        matches = await self.passwords.verify(found[1] if found else None, password)
        if found is None or not matches:
            # An unknown name is whatever was typed: a person's name, or a password typed in the
            # wrong box. It is logged masked; a known account's name is logged as it is.
            shown = username if found is not None else mask_name(username[:32])
            log.info("sign-in refused: wrong user name or password", extra={"user": shown, "address": address})
            raise Unauthenticated("wrong user name or password")
        account, stored = found
        if not account.active:
            log.info("sign-in refused: account disabled", extra={"user": username, "address": address})
            raise PermissionDenied("this account is disabled", user=username)
        await self.throttle.succeeded(username, address)
        if self.passwords.needs_rehash(stored):
            await self.store.set_password(username, await self.passwords.hash(password), revoke=False)
        secret, record = await self.store.create_session(username, remote=address, user_agent=user_agent)
        log.info("signed in", extra={"user": username, "role": account.role.value, "address": address})
        return secret, record, account
