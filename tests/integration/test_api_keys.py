"""Programs' API keys over HTTP (issue 22 item 3), on real Redis and real SQLite and PostgreSQL:
made by an administrator or the account's owner, shown once and stored hashed, acting as the
account's role and unit, accepted only in the Authorization header, revocable, refused once the
account is disabled, with the time of last use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import DummyCookieJar, WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import plugin as accounts_plugin
from accounts.api_keys import ApiKeyStore
from accounts.model import NO_PASSWORD
from accounts.passwords import Passwords
from accounts.store import AccountStore
from accounts.throttle import SignInThrottle, ThrottleLimits
from agent_desk import plugin as desk_plugin
from kernel.auth import SESSION_COOKIE
from kernel.clock import FixedClock, utc_now
from kernel.http_edge import new_app
from kernel.roles import Role
from kernel.schema import api_keys
from kernel.sessions import SessionLimits
from tests.auth_tokens import with_test_signer
from tests.conftest import REDIS_URL

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct-horse-battery"


def key_header(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Person:
    secret: str
    csrf: str

    @property
    def reads(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.secret}"}

    @property
    def writes(self) -> dict[str, str]:
        return {**self.reads, "X-CSRF-Token": self.csrf}


@dataclass
class Hotline:
    client: TestClient
    accounts: AccountStore
    keys: ApiKeyStore
    clock: FixedClock

    async def add(self, username: str, role: str, unit: str | None = None, *, machine: bool = False) -> None:
        hashed = NO_PASSWORD if machine else await Passwords(CHEAP).hash(PASSWORD)
        await self.accounts.add(username, f"{username}的名字", Role(role), unit, hashed)

    async def person(self, username: str) -> Person:
        response = await self.client.post("/api/session", json={"username": username, "password": PASSWORD})
        assert response.status == 200, await response.text()
        return Person(response.cookies[SESSION_COOKIE].value, (await response.json())["csrf_token"])

    async def make_key(self, username: str, by: Person, name: str = "办件系统") -> str:
        response = await self.client.post(f"/api/users/{username}/api-keys", json={"name": name}, headers=by.writes)
        assert response.status == 201, await response.text()
        body = await response.json()
        return str(body["key"])

    async def me(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        response = await self.client.get("/api/session", headers=headers)
        return response.status, await response.json()


@pytest.fixture
async def hotline(engine: AsyncEngine, redis_client: aioredis.Redis,
                  redis_key_prefix: str) -> AsyncIterator[Hotline]:
    """Accounts with API keys and the live feed's websocket, on the real database and Redis; the
    clock stands still until a test moves it."""
    clock = FixedClock(utc_now())
    accounts, keys = AccountStore(engine, clock=clock), ApiKeyStore(engine, clock=clock)
    app = with_test_signer(new_app())
    accounts_plugin.install(app, accounts_plugin.AccountsDeps(
        accounts, Passwords(CHEAP), SignInThrottle(redis_client, redis_key_prefix,
                                                   ThrottleLimits(5, 50, timedelta(minutes=15))),
        SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12)), cookie_secure=False,
        clock=clock, api_keys=keys))
    feed = aioredis.from_url(REDIS_URL)
    desk_plugin.install(app, desk_plugin.DeskDeps(feed, redis_key_prefix))
    client = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        yield Hotline(client, accounts, keys, clock)
    finally:
        await client.close()
        await feed.aclose()


async def test_an_administrator_makes_a_programs_key_shown_once_and_stored_hashed(
    hotline: Hotline, engine: AsyncEngine,
) -> None:
    await hotline.add("root", "admin")
    await hotline.add("web-intake", "system", machine=True)
    admin = await hotline.person("root")
    response = await hotline.client.post("/api/users/web-intake/api-keys", json={"name": "网站受理"},
                                         headers=admin.writes)
    assert response.status == 201 and response.headers["Cache-Control"] == "no-store"
    made = await response.json()
    key = made["key"]
    assert key.startswith(f"hk_{made['api_key']['id']}_")
    assert (made["api_key"]["name"], made["api_key"]["created_by"], made["api_key"]["last_used_at"]) == (
        "网站受理", "root", None)
    # Nothing stored or listed holds the key: only its SHA-256.
    async with engine.connect() as conn:
        (row,) = (await conn.execute(select(api_keys))).mappings().all()
    assert key not in [str(value) for value in row.values()] and len(row["secret_hash"]) == 64
    listed = await (await hotline.client.get("/api/users/web-intake/api-keys", headers=admin.reads)).json()
    assert key not in str(listed) and listed["api_keys"][0]["shown"] == f"hk_{row['id']}_…"
    # The program acts as its account: role system, no session, no CSRF token needed.
    status, me = await hotline.me(key_header(key))
    assert status == 200 and (me["username"], me["role"], me["unit"], me["session"]) == (
        "web-intake", "system", None, False)
    # A program's account never signs in: answered like an unknown name.
    refused = await hotline.client.post("/api/session", json={"username": "web-intake", "password": NO_PASSWORD})
    assert refused.status == 401 and (await refused.json())["message"] == "wrong user name or password"


async def test_a_key_acts_with_its_accounts_role_and_unit_and_writes_need_no_csrf(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    await hotline.add("zhang", "unit", "city-housing")
    await hotline.add("li", "agent")
    admin = await hotline.person("root")
    unit_key = await hotline.make_key("zhang", admin)
    status, me = await hotline.me(key_header(unit_key))
    assert (status, me["role"], me["unit"]) == (200, "unit", "city-housing")
    # The unit's key may not do an administrator's work, whatever header it adds.
    forbidden = await hotline.client.delete("/api/users/li/sessions", headers={
        **key_header(unit_key), "X-Hotline-Role": "admin"})
    assert forbidden.status == 403
    admin_key = await hotline.make_key("root", admin, "账号同步")
    assert (await hotline.client.delete("/api/users/li/sessions", headers=key_header(admin_key))).status == 200


async def test_the_owner_manages_their_own_keys_and_nobody_elses(hotline: Hotline) -> None:
    await hotline.add("li", "agent")
    await hotline.add("wang", "agent")
    li, wang = await hotline.person("li"), await hotline.person("wang")
    key = await hotline.make_key("li", li, "个人脚本")
    key_id = key[3:15]
    for method, path in (("GET", "/api/users/li/api-keys"), ("POST", "/api/users/li/api-keys"),
                         ("DELETE", f"/api/users/li/api-keys/{key_id}")):
        response = await hotline.client.request(method, path, json={"name": "偷偷的"}, headers=wang.writes)
        assert response.status == 403, (method, path)
    # Not even through another account's path: the key belongs to li.
    assert (await hotline.client.delete(f"/api/users/wang/api-keys/{key_id}", headers=wang.writes)).status == 404
    # A write with the cookie still needs the session's CSRF token.
    assert (await hotline.client.post("/api/users/li/api-keys", json={"name": "x"}, headers=li.reads)).status == 403
    listed = await (await hotline.client.get("/api/users/li/api-keys", headers=li.reads)).json()
    assert [k["name"] for k in listed["api_keys"]] == ["个人脚本"]


async def test_a_key_makes_no_keys(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    admin = await hotline.person("root")
    key = await hotline.make_key("root", admin)
    response = await hotline.client.post("/api/users/root/api-keys", json={"name": "successor"},
                                         headers=key_header(key))
    assert response.status == 403 and "sign in" in (await response.json())["message"]
    # It may still list and revoke (itself included): a leaked key can only end itself.
    assert (await hotline.client.get("/api/users/root/api-keys", headers=key_header(key))).status == 200


async def test_a_revoked_key_is_refused_on_its_next_request(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    await hotline.add("zhang", "unit", "city-housing")
    admin = await hotline.person("root")
    key, other = await hotline.make_key("zhang", admin, "办件系统"), await hotline.make_key("zhang", admin, "备用")
    assert (await hotline.me(key_header(key)))[0] == 200
    revoked = await hotline.client.delete(f"/api/users/zhang/api-keys/{key[3:15]}", headers=admin.writes)
    body = await revoked.json()
    assert revoked.status == 200 and body["api_key"]["revoked_by"] == "root" and not body["api_key"]["active"]
    status, answer = await hotline.me(key_header(key))
    assert status == 401 and answer["message"] == "this API key was revoked"
    assert (await hotline.me(key_header(other)))[0] == 200  # the account's other key goes on


async def test_disabling_the_account_ends_its_keys_for_good(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    await hotline.add("web-intake", "system", machine=True)
    key = await hotline.make_key("web-intake", await hotline.person("root"))
    await hotline.accounts.set_active("web-intake", False)  # what `hotline user disable` does
    assert (await hotline.me(key_header(key)))[0] == 401
    await hotline.accounts.set_active("web-intake", True)
    status, answer = await hotline.me(key_header(key))
    assert status == 401 and "revoked" in answer["message"]
    (listed,) = await hotline.keys.list("web-intake")
    assert listed.revoked_reason == "disabled"


async def test_a_disabled_accounts_key_is_refused_even_before_it_is_revoked(hotline: Hotline,
                                                                            engine: AsyncEngine) -> None:
    from sqlalchemy import update

    from kernel.schema import users

    await hotline.add("root", "admin")
    await hotline.add("zhang", "unit", "city-housing")
    key = await hotline.make_key("zhang", await hotline.person("root"))
    async with engine.begin() as conn:  # the account switched off without its keys (another node's race)
        await conn.execute(update(users).where(users.c.username == "zhang").values(active=False))
    status, answer = await hotline.me(key_header(key))
    assert status == 401 and answer["message"] == "this API key's account is disabled"


async def test_the_last_use_is_recorded_at_most_once_a_minute(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    await hotline.add("web-intake", "system", machine=True)
    key = await hotline.make_key("web-intake", await hotline.person("root"))
    assert (await hotline.keys.list("web-intake"))[0].last_used_at is None
    first = hotline.clock.now
    assert (await hotline.me(key_header(key)))[0] == 200
    assert (await hotline.keys.list("web-intake"))[0].last_used_at == first
    hotline.clock.advance(timedelta(seconds=40))
    assert (await hotline.me(key_header(key)))[0] == 200
    assert (await hotline.keys.list("web-intake"))[0].last_used_at == first
    hotline.clock.advance(timedelta(seconds=40))
    assert (await hotline.me(key_header(key)))[0] == 200
    assert (await hotline.keys.list("web-intake"))[0].last_used_at == first + timedelta(seconds=80)
    # A refused attempt is no use.
    hotline.clock.advance(timedelta(minutes=5))
    assert (await hotline.me(key_header(key[:-1] + ("A" if key[-1] != "A" else "B"))))[0] == 401
    assert (await hotline.keys.list("web-intake"))[0].last_used_at == first + timedelta(seconds=80)


async def test_a_key_counts_only_in_the_authorization_header(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    key = await hotline.make_key("root", await hotline.person("root"))
    for params, headers in (({"access_token": key}, {}), ({"api_key": key}, {}), ({}, {"X-Api-Key": key}),
                            ({}, {"Authorization": f"ApiKey {key}"}), ({}, {"Authorization": key}),
                            ({}, {"Cookie": f"{SESSION_COOKIE}={key}"})):
        response = await hotline.client.get("/api/session", params=params, headers=headers)
        assert response.status == 401, (params, headers)
    assert (await hotline.me(key_header(key)))[0] == 200


async def test_forged_and_malformed_keys_are_refused(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    key = await hotline.make_key("root", await hotline.person("root"))
    for forged in (key[:16] + "A" * 43, "hk_" + "0" * 12 + key[15:], "hk_short", "hk_" + "x" * 3000):
        status, answer = await hotline.me(key_header(forged))
        assert status == 401 and answer["message"] == "unknown API key", forged[:40]


async def test_a_key_opens_no_websocket(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    await hotline.add("li", "agent")
    key = await hotline.make_key("li", await hotline.person("root"))
    with pytest.raises(WSServerHandshakeError) as refused:
        await hotline.client.ws_connect("/ws/live", headers=key_header(key))
    assert refused.value.status == 403


async def test_key_names_are_unique_among_live_keys_and_their_number_is_bounded(hotline: Hotline) -> None:
    await hotline.add("root", "admin")
    await hotline.add("li", "agent")
    admin = await hotline.person("root")
    first = await hotline.make_key("li", admin, "脚本")
    again = await hotline.client.post("/api/users/li/api-keys", json={"name": "脚本"}, headers=admin.writes)
    assert again.status == 409
    await hotline.client.delete(f"/api/users/li/api-keys/{first[3:15]}", headers=admin.writes)
    await hotline.make_key("li", admin, "脚本")  # the name is free again once revoked
    for n in range(19):
        await hotline.make_key("li", admin, f"脚本{n}")
    too_many = await hotline.client.post("/api/users/li/api-keys", json={"name": "再一个"}, headers=admin.writes)
    assert too_many.status == 409 and "most" in (await too_many.json())["message"]
    for path, name, status in (("/api/users/nobody/api-keys", "脚本", 404), ("/api/users/li/api-keys", " \t", 400),
                               ("/api/users/li/api-keys", "a\x01b", 400)):
        response = await hotline.client.post(path, json={"name": name}, headers=admin.writes)
        assert response.status == status, path


async def test_migration_0012_adds_and_removes_only_the_keys_table(engine: AsyncEngine) -> None:
    from sqlalchemy import inspect

    from kernel.database import downgrade, upgrade

    async def tables() -> set[str]:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))

    accounts = AccountStore(engine)
    await accounts.add("zhang", "张", Role.UNIT, "city-housing", NO_PASSWORD)
    await ApiKeyStore(engine).create("zhang", "办件系统", created_by="root")
    assert {"api_keys", "users", "user_sessions"} <= await tables()
    await downgrade(engine, "0011")
    assert "api_keys" not in await tables() and {"users", "user_sessions"} <= await tables()
    assert (await accounts.get("zhang")).machine  # the accounts stay
    await upgrade(engine)
    assert "api_keys" in await tables() and await ApiKeyStore(engine).list("zhang") == []
