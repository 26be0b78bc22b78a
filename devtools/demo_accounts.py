"""One demo account per role for `scripts/run`: made on the first start, given a new random
password on every start (a password printed by an earlier run stops working), enabled again if
someone disabled it. Never for production: it is development tooling."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from accounts.model import check_account
from accounts.passwords import Passwords
from accounts.store import AccountStore
from kernel.database import open_database
from kernel.errors import NotFound
from kernel.roles import Role

#: (user name, role, display name, unit): the unit is a code of config/dispatch_catalogue.yaml.
DEMO_ACCOUNTS: tuple[tuple[str, Role, str, str | None], ...] = (
    ("demo-agent", Role.AGENT, "演示话务员", None),
    ("demo-senior", Role.SENIOR_AGENT, "演示资深话务员", None),
    ("demo-dispatcher", Role.DISPATCHER, "演示派单员", None),
    ("demo-callback", Role.CALLBACK_AGENT, "演示回访员", None),
    ("demo-supervisor", Role.SUPERVISOR, "演示班长", None),
    ("demo-kb", Role.KB_ADMIN, "演示知识库管理员", None),
    ("demo-unit", Role.UNIT, "演示住建局工作人员", "city-housing"),
    ("demo-auditor", Role.AUDITOR, "演示审计员", None),
    ("demo-admin", Role.ADMIN, "演示系统管理员", None),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    display_name: str
    unit: str | None
    password: str


async def ensure_demo_accounts(database_url: str) -> list[DemoAccount]:
    engine = await open_database(database_url, migrate=True)
    store, passwords = AccountStore(engine), Passwords()
    try:
        async def one(username: str, role: Role, name: str, unit: str | None) -> DemoAccount:
            check_account(username, name, role.value, unit)
            password = secrets.token_urlsafe(9)
            hashed = await passwords.hash(password)
            try:
                await store.get(username)
            except NotFound:
                await store.add(username, name, role, unit, hashed)
            else:
                await store.set_password(username, hashed)
                await store.set_active(username, True)
            return DemoAccount(username, role, name, unit, password)

        return list(await asyncio.gather(*(one(*account) for account in DEMO_ACCOUNTS)))
    finally:
        await engine.dispose()
