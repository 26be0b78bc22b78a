"""The role x route matrix (issue 22, acceptance): every route and method of the app `hotline run`
builds (`build_app`), websockets included, called by every role that can hold an account and by
a caller without credentials, and each answer held to the gate the route declares.

The table is generated, not written: the rows are the app's router (`kernel.openapi.access_table`
joins each route to the gate its operation declares, the same role set its handler passes to
`kernel.auth.require`; a ticket command route is one row per command), the columns are
`kernel.roles`: every role a person's account may have, signed in with a session cookie (and the
CSRF token on writes), every role a program's account may have, with an API key, and anonymous.
A refusal is 401 or 403; anything else (200, 400 for the empty body, 404 for an unknown id, 503
for the absent Asterisk) got past the gate. A route that declares no gate fails the test, so a
new route needs its declaration before it can ship.

Path parameters name objects that do not exist, except `{no}`: a real ticket dispatched to the
unit of the unit's account and worked on by every agent's account (a progress note each), so that
a unit and an agent are each judged on their own ticket (`kernel.access_policy`: on another
unit's a unit is told 404, which tests/integration/test_ticket_api_properties.py holds; an agent
on a ticket they took no part in 403, tests/integration/test_recordings_api.py). Real SQLite and Redis; no
Asterisk (tests/whole_app.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from accounts.api_keys import ApiKeyStore
from accounts.model import ACCOUNT_ROLES, MACHINE_ROLES, NO_PASSWORD
from accounts.store import AccountStore
from kernel import openapi
from kernel.auth import SESSION_COOKIE, require
from kernel.database import create_engine
from kernel.http_edge import new_app
from kernel.openapi import Access, Operation, RouteAccess
from kernel.roles import AGENTS, HOTLINE_STAFF, Actor, Role
from tests.whole_app import whole_app, whole_app_settings
from tickets.store import TicketStore
from tickets.workflow import AddProgressNote

UNIT = "city-housing"
PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("matrix-password")

#: Routes whose operation gives its roles only in prose, in code this branch may not edit: the
#: gate their handler enforces, until their capability declares it. Nothing else belongs here.
UNDECLARED_HERE: dict[tuple[str, str], Access] = {
    # asr/api.py: `auth.require(request, HOTLINE_STAFF)`; its Operation still says roles in prose.
    ("post", "/api/asr/draft"): Access(roles=frozenset(str(role) for role in HOTLINE_STAFF)),
}

#: Values for path parameters: objects that do not exist, or forms the router accepts. `{no}`
#: is a real ticket (made at set-up); `{username}` is also run as the caller's own name.
PATH_VALUES = {"username": "nobody-here", "key_id": "0" * 12, "call_id": "no-such-call",
               "number": "13900000000", "article_id": "no-such-article", "sha256": "0" * 64,
               "code": UNIT, "id": "no-such-task", "month": "2026-11", "fmt": "json", "filename": "desk.js"}

#: Bodies for handlers that read the body before they refuse a role (to audit the refusal with
#: what was asked). Every other write gets `{}`: refused by its gate, or 400 past it.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/live/calls/{call_id}/monitor"): {"mode": "listen"},
}


@dataclass(frozen=True)
class Caller:
    """A column of the matrix: a role, and how it authenticates."""

    label: str
    role: str | None
    username: str | None = None
    api_key: str | None = None
    #: A fresh session per request (signing out must not end the next request's session).
    sessions: list[tuple[str, str]] = field(default_factory=list, compare=False)

    @property
    def person(self) -> bool:
        return self.role is not None and self.api_key is None


@dataclass(frozen=True)
class Verdict:
    method: str
    path: str
    caller: str
    expected: str
    status: int


def username_for(role: str, kind: str) -> str:
    return f"{kind}-{role.replace('_', '-')}"


async def make_callers(settings: Any, rows: int) -> list[Caller]:
    """An account per role a person may have (with a session per request) and per role a
    program may have (with an API key), and nobody."""
    engine = create_engine(settings.database.url)
    accounts, keys = AccountStore(engine), ApiKeyStore(engine)
    callers = [Caller("anonymous", None)]
    try:
        for role in sorted(ACCOUNT_ROLES):
            username = username_for(role, "p")
            await accounts.add(username, f"{role}的人", role, UNIT if role is Role.UNIT else None, PASSWORD_HASH)
            sessions = []
            for _ in range(rows):
                secret, record = await accounts.create_session(username, remote=None, user_agent=None)
                sessions.append((secret, record.csrf_token))
            callers.append(Caller(f"{role} (session)", str(role), username, sessions=sessions))
        for role in sorted(MACHINE_ROLES):
            username = username_for(role, "k")
            await accounts.add(username, f"{role}的程序", role, UNIT if role is Role.UNIT else None, NO_PASSWORD)
            key, _ = await keys.create(username, "矩阵", created_by="matrix")
            callers.append(Caller(f"{role} (API key)", str(role), username, api_key=key))
    finally:
        await engine.dispose()
    return callers


async def dispatched_ticket(client: TestClient, callers: list[Caller], settings: Any) -> str:
    """A ticket dispatched to the unit's account's unit, made by the supervisor's program, with a
    progress note by every agent's account (the agents' own ticket)."""
    supervisor = next(c for c in callers if c.role == "supervisor" and c.api_key)
    headers = {"Authorization": f"Bearer {supervisor.api_key}"}
    response = await client.post("/api/tickets", headers=headers, json={
        "channel": "phone", "caller": {"number": "13812345678"}, "summary": "小区电梯停运"})
    assert response.status == 201, await response.text()
    no = (await response.json())["ticket"]["ticket_no"]
    for version, (name, body) in enumerate((("classify", {"ticket_type": "complaint", "summary": "电梯停运"}),
                                            ("dispatch", {"lead_unit": UNIT})), start=1):
        response = await client.post(f"/api/tickets/{no}/commands/{name}", headers=headers,
                                     json={"expected_version": version, **body})
        assert response.status == 200, await response.text()
    engine = create_engine(settings.database.url)
    try:
        store = TicketStore(engine, "N01")
        for caller in callers:
            if caller.role in AGENTS and caller.username is not None:
                ticket = await store.get(no)
                await store.transition(no, AddProgressNote(note="已联系诉求人"),
                                       Actor(caller.username, Role(caller.role)), ticket.version)
    finally:
        await engine.dispose()
    return str(no)


def concrete(path: str, values: dict[str, str]) -> str:
    def value(name: str) -> str:
        return values.get(name, "x1")
    return openapi._PATH_PARAM.sub(lambda m: value(m.group(1)), path)


def headers_for(caller: Caller, client: TestClient, *, write: bool, websocket: bool) -> dict[str, str]:
    if caller.api_key is not None:
        return {"Authorization": f"Bearer {caller.api_key}"}
    if caller.role is None:
        return {"Origin": f"http://127.0.0.1:{client.port}"} if websocket else {}
    secret, csrf = caller.sessions.pop()
    headers = {"Cookie": f"{SESSION_COOKIE}={secret}"}
    if write:
        headers["X-CSRF-Token"] = csrf
    if websocket:
        headers["Origin"] = f"http://127.0.0.1:{client.port}"
    return headers


async def call(client: TestClient, row: RouteAccess, method: str, path: str, caller: Caller) -> int:
    """The status of one request (a websocket's handshake)."""
    write = method not in ("get", "head")
    headers = headers_for(caller, client, write=write, websocket=row.websocket)
    if row.websocket:
        try:
            ws = await client.ws_connect(path, headers=headers)
        except WSServerHandshakeError as refused:
            return refused.status
        await ws.close()
        return 101
    body = BODIES.get((row.method, row.path), {}) if write else None
    async with client.request(method.upper(), path, headers=headers, json=body) as response:
        await response.read()
        return response.status


def expected(row: RouteAccess, caller: Caller, *, own: bool) -> bool:
    return row.access.allows(caller.role, owner=own, api_key=caller.api_key is not None)


def matrix_rows(app: web.Application) -> tuple[list[RouteAccess], set[tuple[str, str]]]:
    """The generated rows, and the routes that declare no gate (besides `UNDECLARED_HERE`)."""
    rows, undeclared = openapi.access_table(app)
    for method, path in sorted(undeclared & UNDECLARED_HERE.keys()):
        rows.append(RouteAccess(method, path, UNDECLARED_HERE[(method, path)], websocket=False))
    return rows, undeclared - UNDECLARED_HERE.keys()


async def test_every_route_lets_past_exactly_the_roles_it_declares(
    tmp_path: Path, sqlite_url: str, redis_key_prefix: str, redis_client: object,
) -> None:
    started = time.monotonic()
    settings = whole_app_settings(tmp_path, sqlite_url, redis_key_prefix)
    async with whole_app(settings) as client:
        rows, undeclared = matrix_rows(client.app)
        assert undeclared == set(), f"routes without a declared gate (Operation.roles): {sorted(undeclared)}"
        # Every method the router serves: aiohttp answers HEAD beside each GET with the same handler.
        requests: list[tuple[RouteAccess, str]] = []
        for row in rows:
            requests.append((row, row.method))
            if row.method == "get" and not row.websocket:
                requests.append((row, "head"))
        assert len(rows) >= 80 and any(r.websocket for r in rows)
        owned = [r for r in rows if r.access.owner]
        callers = await make_callers(settings, len(requests) + len(owned) * 2)
        ticket_no = await dispatched_ticket(client, callers, settings)
        values = {**PATH_VALUES, "no": ticket_no}

        jobs: list[tuple[RouteAccess, str, str, Caller, bool]] = []
        for row, method in requests:
            jobs += [(row, method, concrete(row.path, values), caller, False) for caller in callers]
        for row in owned:  # the user the path names may call it: run each caller as that user
            assert row.access.owner is not None
            for caller in callers[1:]:
                assert caller.username is not None
                path = concrete(row.path, {**values, row.access.owner: caller.username})
                jobs.append((row, row.method, path, caller, True))

        slots = asyncio.Semaphore(8)

        async def judge(row: RouteAccess, method: str, path: str, caller: Caller, own: bool) -> Verdict:
            async with slots:
                status = await call(client, row, method, path, caller)
            allow = expected(row, caller, own=own)
            return Verdict(method, path, caller.label + (" as the named user" if own else ""),
                           "allow" if allow else "deny", status)

        verdicts = await asyncio.gather(*(judge(*job) for job in jobs))

    wrong = [v for v in verdicts if (v.status in (401, 403)) == (v.expected == "allow")]
    errors = sorted({(v.method, v.path, v.status) for v in verdicts if v.status >= 500 and v.status != 503})
    print(f"\n{len(rows)} routes (+{len(requests) - len(rows)} HEAD) x {len(callers)} callers "
          f"(+{len(jobs) - len(requests) * len(callers)} as the named user) = {len(verdicts)} requests "
          f"in {time.monotonic() - started:.1f} s")
    assert not wrong, "answers against the declared gate:\n" + "\n".join(
        f"  {v.method.upper():6} {v.path:55} {v.caller:28} expected {v.expected}, got {v.status}" for v in wrong)
    assert not errors, f"server errors: {errors}"


def test_a_route_that_declares_no_gate_fails_the_matrix() -> None:
    async def handler(request: web.Request) -> web.Response:
        require(request, {"supervisor"})
        return web.Response()

    app = new_app()
    app.router.add_get("/api/declared", handler)
    app.router.add_post("/api/prose", handler)
    app.router.add_put("/api/nothing", handler)
    app.router.add_post("/api/things/{id}/{verb}", handler)
    openapi.contribute(app, [Operation("get", "/api/declared", "declared", {"supervisor"}),
                             Operation("post", "/api/prose", "roles in prose only", "supervisor, they say"),
                             Operation("post", "/api/things/{id}/open", "declared", {"agent"}),
                             Operation("post", "/api/things/{id}/shut", "prose", "agent")])
    rows, undeclared = matrix_rows(app)
    assert [(r.method, r.path) for r in rows] == [("get", "/api/declared")]
    # No operation, roles in prose, or one of a route's operations in prose: all undeclared.
    assert undeclared == {("post", "/api/prose"), ("put", "/api/nothing"), ("post", "/api/things/{id}/{verb}")}


def test_a_declared_gate_names_known_roles_only() -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown roles"):
        Operation("get", "/x", "x", {"agent", "superuser"})
    websocket = Operation("get", "/ws/x", "x", {"agent"}, content_type="websocket")
    assert websocket.access is not None and not websocket.access.allows("agent", api_key=True)
    assert websocket.access.allows("agent") and not websocket.access.allows(None)
