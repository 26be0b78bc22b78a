"""An administrator manages people's accounts over HTTP (accounts/admin_api.py), as the
administrator's page does, over real Redis and real SQLite and PostgreSQL: add a person with a
password shown once, disable (their websockets close) and enable, reset a password, end a
person's sessions. Administrators only; every change and every refused attempt is audited."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import WSMsgType

from kernel.audit import AccessKind, AuditQuery
from kernel.auth import SESSION_ENDED
from tests.auth_tokens import bearer
from tests.integration.test_sign_in import (  # noqa: F401  (fixture)
    Hotline,
    MakeHotline,
    Person,
    closed_within,
    make_hotline,
)

UNITS = {"city-housing": "市住房和城乡建设局"}


async def call(hotline: Hotline, method: str, path: str, headers: dict[str, str],
               body: dict[str, Any] | None = None) -> tuple[int, Any]:
    response = await hotline.client.request(method, path, headers=headers, json=body)
    return response.status, await response.json()


async def account_rows(hotline: Hotline) -> list[tuple[str, bool, str]]:
    rows = await hotline.audit.search(AuditQuery(kind=AccessKind.ACCOUNT))
    return [(r.actor, r.allowed, r.detail) for r in reversed(rows)]


@pytest.fixture
async def admin(make_hotline: MakeHotline) -> tuple[Hotline, Person]:
    hotline = await make_hotline(units=UNITS)
    await hotline.add("root", "admin")
    return hotline, await hotline.person("root")


async def test_an_administrator_adds_a_person_whose_password_is_shown_once(admin: tuple[Hotline, Person]) -> None:
    hotline, root = admin
    response = await hotline.client.post("/api/users", headers=root.writes, json={
        "username": "Li-Na", "display_name": " 李娜 ", "role": "agent"})
    assert response.status == 201, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    added = await response.json()
    user = added["user"]
    assert (user["username"], user["display_name"], user["role"], user["active"]) == ("li-na", "李娜", "agent", True)
    password = added["password"]
    assert len(password) == 16
    # The password works; the list never shows one, and counts the session it opened.
    assert (await hotline.sign_in("li-na", password)).status == 200
    status, listing = await call(hotline, "GET", "/api/users", root.cookie)
    assert status == 200
    users = {u["username"]: u for u in listing["users"]}
    assert set(users) == {"root", "li-na"}
    assert (users["li-na"]["sessions"], users["root"]["sessions"]) == (1, 1)
    assert all("password" not in u and "password_hash" not in u for u in listing["users"])
    assert password not in str(listing)
    assert [r["role"] for r in listing["roles"]][:2] == ["agent", "senior_agent"]
    assert "system" not in [r["role"] for r in listing["roles"]]
    assert listing["units"] == [{"code": "city-housing", "name": "市住房和城乡建设局"}]
    assert await account_rows(hotline) == [("root", True, "add li-na (agent)")]


async def test_a_new_account_is_checked(admin: tuple[Hotline, Person]) -> None:
    hotline, root = admin
    for body, status, said in (
            ({"username": "张三", "display_name": "张三", "role": "agent"}, 400, "a user name is"),
            ({"username": "zs", "display_name": " ", "role": "agent"}, 400, "display_name"),
            ({"username": "zs", "display_name": "张三", "role": "system"}, 400, "automated jobs"),
            ({"username": "zs", "display_name": "张三", "role": "unit"}, 400, "a unit code is needed"),
            ({"username": "zs", "display_name": "张三", "role": "unit", "unit": "nowhere"}, 400, "unknown unit"),
            ({"username": "zs", "display_name": "张三", "role": "agent", "unit": "city-housing"}, 400,
             "a unit code is needed"),
            ({"username": "root", "display_name": "重名", "role": "agent"}, 409, "exists already")):
        code, answer = await call(hotline, "POST", "/api/users", root.writes, body)
        assert code == status and said in answer["message"], (body, answer)
    code, answer = await call(hotline, "POST", "/api/users", root.writes, {
        "username": "zs", "display_name": "张三", "role": "unit", "unit": "city-housing"})
    assert code == 201 and answer["user"]["unit"] == "city-housing"
    status, listing = await call(hotline, "GET", "/api/users", root.cookie)
    assert next(u for u in listing["users"] if u["username"] == "zs")["unit_name"] == "市住房和城乡建设局"


async def test_disabling_a_person_ends_their_sessions_and_closes_their_sockets(admin: tuple[Hotline, Person]) -> None:
    hotline, root = admin
    await hotline.add("li", "agent")
    person = await hotline.person("li")
    ws = await hotline.socket("/ws/live", person)
    status, answer = await call(hotline, "POST", "/api/users/li/disable", root.writes)
    assert status == 200, answer
    assert (answer["user"]["active"], answer["sessions_ended"]) == (False, 1)
    _, message = await closed_within(ws, 5.0)
    assert message.type is WSMsgType.CLOSE and message.data == SESSION_ENDED
    assert await hotline.me(person.cookie) == 401
    assert (await hotline.sign_in("li")).status == 403
    status, answer = await call(hotline, "POST", "/api/users/li/enable", root.writes)
    assert status == 200 and answer["user"]["active"] is True
    assert (await hotline.sign_in("li")).status == 200
    assert await hotline.me(person.cookie) == 401  # the old session stays ended
    assert await account_rows(hotline) == [("root", True, "disable li; 1 session(s) ended"),
                                           ("root", True, "enable li")]


async def test_a_reset_password_is_shown_once_and_ends_the_old_one_and_the_sessions(
    admin: tuple[Hotline, Person],
) -> None:
    hotline, root = admin
    await hotline.add("li", "agent")
    person = await hotline.person("li")
    status, first = await call(hotline, "POST", "/api/users/li/password", root.writes)
    assert status == 200 and first["sessions_ended"] == 1
    status, second = await call(hotline, "POST", "/api/users/li/password", root.writes)
    assert status == 200 and second["sessions_ended"] == 0 and second["password"] != first["password"]
    assert await hotline.me(person.cookie) == 401
    assert (await hotline.sign_in("li")).status == 401  # the fixture's password is gone
    assert (await hotline.sign_in("li", first["password"])).status == 401
    assert (await hotline.sign_in("li", second["password"])).status == 200
    assert first["password"] not in str(await hotline.audit.search(AuditQuery()))
    assert await account_rows(hotline) == [("root", True, "reset password of li; 1 session(s) ended"),
                                           ("root", True, "reset password of li; 0 session(s) ended")]


async def test_an_administrator_ends_a_persons_sessions(admin: tuple[Hotline, Person]) -> None:
    hotline, root = admin
    await hotline.add("li", "agent")
    first, second = await hotline.person("li"), await hotline.person("li")
    status, answer = await call(hotline, "DELETE", "/api/users/li/sessions", root.writes)
    assert (status, answer["revoked"]) == (200, 2)
    assert await hotline.me(first.cookie) == 401 and await hotline.me(second.cookie) == 401
    assert await hotline.me(root.cookie) == 200
    assert (await call(hotline, "DELETE", "/api/users/nobody/sessions", root.writes))[0] == 404
    assert await account_rows(hotline) == [("root", True, "end sessions of li; 2 session(s) ended")]


async def test_an_administrator_cannot_disable_or_reset_their_own_account(admin: tuple[Hotline, Person]) -> None:
    hotline, root = admin
    for path in ("/api/users/root/disable", "/api/users/root/password"):
        status, answer = await call(hotline, "POST", path, root.writes)
        assert status == 403 and "own" in answer["message"], answer
    assert await hotline.me(root.cookie) == 200


async def test_only_administrators_manage_accounts_and_every_refused_change_is_audited(
    admin: tuple[Hotline, Person],
) -> None:
    hotline, _ = admin
    await hotline.add("li", "agent")
    changes = (("POST", "/api/users", {"username": "x1", "display_name": "某", "role": "admin"}),
               ("POST", "/api/users/li/disable", None), ("POST", "/api/users/li/enable", None),
               ("POST", "/api/users/li/password", None), ("DELETE", "/api/users/li/sessions", None))
    for role in ("supervisor", "auditor", "agent"):
        await hotline.add(f"{role[:3]}1", role)
        person = await hotline.person(f"{role[:3]}1")
        assert (await call(hotline, "GET", "/api/users", person.cookie))[0] == 403
        for method, path, body in changes:
            status, answer = await call(hotline, method, path, person.writes, body)
            assert status == 403, (role, path, answer)
    for method, path, body in (("GET", "/api/users", None), *changes):
        assert (await call(hotline, method, path, {}, body))[0] == 401
    refused = [row for row in await account_rows(hotline) if not row[1]]
    assert len(refused) == 3 * len(changes)
    assert ("sup1", False, "add; refused: role supervisor") in refused
    assert ("age1", False, "disable li; refused: role agent") in refused
    assert (await hotline.sign_in("li")).status == 200  # nothing changed


async def test_administrators_changes_need_the_csrf_token_with_the_cookie(admin: tuple[Hotline, Person]) -> None:
    hotline, root = admin
    await hotline.add("li", "agent")
    status, answer = await call(hotline, "POST", "/api/users/li/disable", root.cookie)
    assert status == 403 and "X-CSRF-Token" in answer["message"]
    # A program with an administrator's token in the Authorization header needs none.
    status, answer = await call(hotline, "POST", "/api/users/li/disable", bearer("admin", "ops"))
    assert status == 200 and answer["user"]["active"] is False
