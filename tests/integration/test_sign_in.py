"""People sign in with a password and work with a server-side session (issue 22), over real
Redis and real SQLite and PostgreSQL: the cookie, CSRF, expiry, revocation, throttling, and the
desk, live-feed and wallboard websockets that close within 5 s once the session has ended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import DummyCookieJar, WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import plugin as accounts_plugin
from accounts.passwords import Passwords
from accounts.store import AccountStore
from accounts.throttle import SignInThrottle, ThrottleLimits
from agent_desk import plugin as desk_plugin
from agent_desk.wallboard import FinishedCall
from kernel.audit import AccessAudit, AccessKind, AuditQuery
from kernel.auth import SESSION_COOKIE, SESSION_ENDED
from kernel.clock import FixedClock, utc_now
from kernel.errors import NotFound
from kernel.http_edge import new_app
from kernel.roles import Role
from kernel.schema import user_sessions
from kernel.sessions import SessionLimits, session_id_of
from tests.auth_tokens import TEST_SIGNER, bearer, with_test_signer
from tests.conftest import REDIS_URL

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct-horse-battery"
LIMITS = SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
#: What a websocket endpoint needs: the role that may open it.
SOCKETS = {"/ws/desk": "agent", "/ws/live": "agent", "/ws/wallboard": "supervisor"}


#: Where QuietDesk's and QuietFloor's softphones "register" (nobody listens): an app serving the desk page with
#: it names this origin for the page's Content-Security-Policy, as the composition root names
#: the real SIP websocket (`kernel.security_headers.allow_connections`).
QUIET_SOFTPHONE_WS = "ws://127.0.0.1:1/ws"


class QuietDesk:
    """The desk's port, enough for a desk to open (no calls); remembers whose softphone
    password was withdrawn."""

    def __init__(self) -> None:
        self.softphones_ended: list[str] = []

    async def sign_in(self, agent_id: str) -> dict[str, Any]:
        return {"agent_id": agent_id, "status": "break", "since": utc_now().isoformat(), "call_id": None,
                "break_reason": "rest", "skills": ["general"]}

    async def softphone(self, agent_id: str) -> dict[str, Any]:
        return {"ws_url": QUIET_SOFTPHONE_WS, "sip_uri": f"sip:agent-{agent_id}@127.0.0.1",
                "username": f"agent-{agent_id}", "password": "x", "endpoint": f"agent-{agent_id}"}

    async def current_call(self, agent_id: str) -> dict[str, Any] | None:
        return None

    async def softphone_ended(self, agent_id: str) -> None:
        self.softphones_ended.append(agent_id)

    async def desk_closed(self, agent_id: str) -> None:
        return None


class QuietFloor:
    """The supervisor's port on a floor with one caller waiting; no softphone answers;
    remembers whose monitor-leg password was withdrawn."""

    def __init__(self) -> None:
        self.softphones_ended: list[str] = []
        #: Whether the waiting caller is known to be confidential (保密).
        self.confidential = False

    async def softphone_ended(self, supervisor_id: str) -> None:
        self.softphones_ended.append(supervisor_id)

    async def live_calls(self) -> list[dict[str, Any]]:
        return [{"call_id": "c0ffee00-0001", "caller_number": "13812345678", "state": "waiting",
                 "agent_id": None, "started_at": utc_now().isoformat(), "seconds": 12.0, "monitors": [],
                 "confidential": self.confidential}]

    async def softphone(self, supervisor_id: str) -> dict[str, Any]:
        return {"ws_url": QUIET_SOFTPHONE_WS, "sip_uri": f"sip:supervisor-{supervisor_id}@127.0.0.1",
                "username": f"supervisor-{supervisor_id}", "password": "x"}

    async def monitor(self, call_id: str, supervisor_id: str, mode: str) -> dict[str, Any]:
        raise NotFound("no such live call", call_id=call_id)


class EmptyBoard:
    """The wallboard's port on a quiet floor."""

    async def agent_states(self) -> dict[str, str]:
        return {}

    async def waiting(self) -> dict[str, datetime]:
        return {}

    async def finished_since(self, since: datetime) -> list[FinishedCall]:
        return []

    async def transcribed_since(self, since: datetime) -> set[str]:
        return set()


@dataclass
class Person:
    username: str
    secret: str
    csrf: str

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.secret}"}

    @property
    def writes(self) -> dict[str, str]:
        return {**self.cookie, "X-CSRF-Token": self.csrf}


@dataclass
class Hotline:
    client: TestClient
    store: AccountStore
    clock: FixedClock
    audit: AccessAudit
    desk: QuietDesk
    floor: QuietFloor

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.client.port}"

    async def add(self, username: str, role: str, unit: str | None = None) -> None:
        await self.store.add(username, f"{username}的名字", Role(role), unit, await Passwords(CHEAP).hash(PASSWORD))

    async def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        return await self.client.post("/api/session", json={"username": username, "password": password})

    async def person(self, username: str) -> Person:
        response = await self.sign_in(username)
        assert response.status == 200, await response.text()
        return Person(username, response.cookies[SESSION_COOKIE].value, (await response.json())["csrf_token"])

    async def me(self, headers: dict[str, str]) -> int:
        return (await self.client.get("/api/session", headers=headers)).status

    async def socket(self, path: str, person: Person) -> Any:
        ws = await self.client.ws_connect(path, headers={**person.cookie, "Origin": self.origin})
        first = await ws.receive_json(timeout=5)
        assert first["type"] in ("desk.ready", "wallboard"), first
        return ws


MakeHotline = Callable[..., Awaitable[Hotline]]


@pytest.fixture
async def make_hotline(engine: AsyncEngine, redis_client: aioredis.Redis,
                       redis_key_prefix: str) -> AsyncIterator[MakeHotline]:
    """An app with accounts, the desk, the supervisor's page, the live feed and the wallboard, on the real database
    (SQLite, then PostgreSQL) and Redis; the session clock stands still until a test moves it."""
    clients: list[TestClient] = []
    feeds: list[aioredis.Redis] = []

    async def make(*, limits: SessionLimits = LIMITS, recheck: float = 2.0, per_account: int = 5,
                   per_address: int = 50, allowed_origins: tuple[str, ...] = (),
                   units: dict[str, str] | None = None) -> Hotline:
        clock = FixedClock(utc_now())
        store = AccountStore(engine, clock=clock)
        audit = AccessAudit(engine)
        app = with_test_signer(new_app())
        accounts_plugin.install(app, accounts_plugin.AccountsDeps(
            store, Passwords(CHEAP),
            SignInThrottle(redis_client, redis_key_prefix,
                           ThrottleLimits(per_account, per_address, timedelta(minutes=15))),
            limits, cookie_secure=False, socket_recheck_seconds=recheck, allowed_origins=allowed_origins,
            clock=clock, audit=audit, units=units or {}))
        feed = aioredis.from_url(REDIS_URL)
        feeds.append(feed)
        desk = QuietDesk()
        floor = QuietFloor()
        desk_plugin.install(app, desk_plugin.DeskDeps(feed, redis_key_prefix, backend=desk,
                                                      close_grace_seconds=0.1, supervisor=floor,
                                                      audit=audit, wallboard=EmptyBoard()))
        client = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=DummyCookieJar())
        await client.start_server()
        clients.append(client)
        return Hotline(client, store, clock, audit, desk, floor)

    yield make
    for client in clients:
        await client.close()
    for feed in feeds:
        await feed.aclose()


async def closed_within(ws: Any, seconds: float) -> tuple[float, Any]:
    """Seconds until the server closed `ws` (other messages skipped), and the close message."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(seconds):
        while True:
            message = await ws.receive()
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                return loop.time() - started, message


async def softphones_ended(hotline: Hotline, agents: list[str], seconds: float = 2.0) -> None:
    """Wait (bounded) until the desk has withdrawn exactly these agents' softphone passwords:
    the server's socket handler runs its clean-up just after the close frame leaves."""
    deadline = asyncio.get_running_loop().time() + seconds
    while sorted(hotline.desk.softphones_ended) != agents:
        assert asyncio.get_running_loop().time() < deadline, hotline.desk.softphones_ended
        await asyncio.sleep(0.05)


# ---- signing in --------------------------------------------------------------------------------


async def test_a_person_signs_in_and_gets_an_httponly_strict_session_cookie(make_hotline: MakeHotline,
                                                                          engine: AsyncEngine) -> None:
    hotline = await make_hotline()
    await hotline.add("zhang", "unit", "city-housing")
    response = await hotline.sign_in("Zhang ")  # names are lower-cased and trimmed
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["username"], body["role"], body["unit"], body["display_name"]) == (
        "zhang", "unit", "city-housing", "zhang的名字")
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == 12 * 3600
    assert response.headers["Cache-Control"] == "no-store"
    person = Person("zhang", cookie.value, body["csrf_token"])
    me = await (await hotline.client.get("/api/session", headers=person.cookie)).json()
    assert (me["username"], me["role"], me["unit"], me["session"], me["csrf_token"]) == (
        "zhang", "unit", "city-housing", True, person.csrf)
    # The table holds the hash of the cookie's secret, never the secret.
    async with engine.connect() as conn:
        ids = (await conn.execute(select(user_sessions.c.id))).scalars().all()
    assert ids == [session_id_of(person.secret)] and person.secret not in ids


async def test_the_cookie_is_secure_unless_settings_say_plain_http(engine: AsyncEngine, redis_client: aioredis.Redis,
                                                                  redis_key_prefix: str) -> None:
    store = AccountStore(engine)
    await store.add("li", "李", Role.AGENT, None, await Passwords(CHEAP).hash(PASSWORD))
    app = with_test_signer(new_app())
    accounts_plugin.install(app, accounts_plugin.AccountsDeps(
        store, Passwords(CHEAP),
        SignInThrottle(redis_client, redis_key_prefix, ThrottleLimits(5, 50, timedelta(minutes=1))), LIMITS))
    async with TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=DummyCookieJar()) as client:
        response = await client.post("/api/session", json={"username": "li", "password": PASSWORD})
        assert response.status == 200
        assert response.cookies[SESSION_COOKIE]["secure"]


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("li", "agent")
    answers = []
    for username, password in (("li", "wrong-password"), ("nobody", PASSWORD), ("张三", PASSWORD)):
        response = await hotline.sign_in(username, password)
        assert SESSION_COOKIE not in response.cookies
        answers.append((response.status, await response.json()))
    assert answers == [(401, {"error": "unauthenticated", "message": "wrong user name or password"})] * 3


async def test_a_disabled_person_cannot_sign_in_and_their_sessions_end(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("li", "agent")
    person = await hotline.person("li")
    await hotline.store.set_active("li", False)
    assert await hotline.me(person.cookie) == 401
    response = await hotline.sign_in("li")
    assert response.status == 403 and "disabled" in (await response.json())["message"]
    assert (await hotline.sign_in("li", "wrong-password")).status == 401  # a guesser learns nothing
    await hotline.store.set_active("li", True)
    assert await hotline.me(person.cookie) == 401  # the old session stays ended
    assert await hotline.me((await hotline.person("li")).cookie) == 200


async def test_a_sign_in_must_be_json_from_our_own_origin(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("li", "agent")
    form = await hotline.client.post("/api/session", data={"username": "li", "password": PASSWORD})
    assert form.status == 400
    elsewhere = await hotline.client.post("/api/session", json={"username": "li", "password": PASSWORD},
                                          headers={"Origin": "https://evil.example"})
    assert elsewhere.status == 403
    ours = await hotline.client.post("/api/session", json={"username": "li", "password": PASSWORD},
                                     headers={"Origin": hotline.origin})
    assert ours.status == 200


# ---- CSRF, sign-out, revocation, expiry --------------------------------------------------------


async def test_writes_with_the_cookie_need_the_sessions_csrf_token(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("root", "admin")
    await hotline.add("li", "agent")
    admin = await hotline.person("root")
    revoke = "/api/users/li/sessions"
    for headers in (admin.cookie, {**admin.cookie, "X-CSRF-Token": "forged"},
                    {**admin.cookie, "X-CSRF-Token": admin.csrf[:-1]}):
        response = await hotline.client.delete(revoke, headers=headers)
        assert response.status == 403, await response.text()
        assert "X-CSRF-Token" in (await response.json())["message"]
    assert (await hotline.client.delete(revoke, headers=admin.writes)).status == 200
    # Reads need no token, and a request with an Authorization header is not cookie-borne.
    assert await hotline.me(admin.cookie) == 200
    assert (await hotline.client.delete(revoke, headers=bearer("admin", "root"))).status == 200
    # The endpoint is the administrator's alone.
    agent = await hotline.person("li")
    assert (await hotline.client.delete("/api/users/root/sessions", headers=agent.writes)).status == 403


async def test_sign_out_ends_the_session_and_drops_the_cookie(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("li", "agent")
    person, other = await hotline.person("li"), await hotline.person("li")
    assert (await hotline.client.delete("/api/session", headers=person.cookie)).status == 403  # no CSRF token
    response = await hotline.client.delete("/api/session", headers=person.writes)
    assert response.status == 200
    assert response.cookies[SESSION_COOKIE].value == ""
    assert await hotline.me(person.cookie) == 401
    assert await hotline.me(other.cookie) == 200  # signing out of one browser leaves the other


async def test_signing_in_again_in_a_browser_ends_its_previous_session(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("li", "agent")
    await hotline.add("wang", "agent")
    before = await hotline.person("li")
    response = await hotline.client.post("/api/session", json={"username": "wang", "password": PASSWORD},
                                         headers=before.cookie)
    assert response.status == 200
    assert await hotline.me(before.cookie) == 401
    assert await hotline.me({"Cookie": f"{SESSION_COOKIE}={response.cookies[SESSION_COOKIE].value}"}) == 200


async def test_a_revoked_session_is_refused_on_its_next_request(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("root", "admin")
    await hotline.add("li", "agent")
    admin, agent = await hotline.person("root"), await hotline.person("li")
    assert await hotline.me(agent.cookie) == 200
    revoked = await hotline.client.delete("/api/users/li/sessions", headers=admin.writes)
    assert (await revoked.json())["revoked"] == 1
    response = await hotline.client.get("/api/session", headers=agent.cookie)
    assert response.status == 401 and "revoked" in (await response.json())["message"]
    assert response.cookies[SESSION_COOKIE].value == ""  # the browser drops the dead cookie
    assert await hotline.me(admin.cookie) == 200
    assert (await hotline.client.delete("/api/users/nobody/sessions", headers=admin.writes)).status == 404


async def test_a_session_idle_past_its_limit_is_refused(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("li", "agent")
    person = await hotline.person("li")
    hotline.clock.advance(timedelta(minutes=29))
    assert await hotline.me(person.cookie) == 200  # activity: the idle time starts again
    hotline.clock.advance(timedelta(minutes=29))
    assert await hotline.me(person.cookie) == 200
    hotline.clock.advance(timedelta(minutes=30))
    response = await hotline.client.get("/api/session", headers=person.cookie)
    assert response.status == 401 and "idle" in (await response.json())["message"]


async def test_a_busy_session_is_refused_past_its_absolute_limit(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("li", "agent")
    person = await hotline.person("li")
    for _ in range(12 * 3 - 1):
        hotline.clock.advance(timedelta(minutes=20))
        assert await hotline.me(person.cookie) == 200
    hotline.clock.advance(timedelta(minutes=20))
    response = await hotline.client.get("/api/session", headers=person.cookie)
    assert response.status == 401 and "time limit" in (await response.json())["message"]


async def test_a_token_in_the_address_is_refused_on_every_route_and_websocket(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("sup1", "supervisor")
    person = await hotline.person("sup1")
    token = bearer("supervisor", "sup1")
    address = {"access_token": token.token}
    response = await hotline.client.get("/api/session", params=address)
    assert response.status == 401 and "address" in (await response.json())["message"]
    assert (await hotline.client.get("/api/live/calls", params=address)).status == 401
    # Refused even beside a valid credential: a token in an address is a leaked token.
    assert (await hotline.client.get("/api/session", params=address, headers=token)).status == 401
    assert (await hotline.client.get("/api/session", params=address, headers=person.cookie)).status == 401
    assert (await hotline.client.get("/api/session", headers=token)).status == 200
    # Websockets too: the pages' sockets ride on the cookie, programs send the header.
    for path, role in SOCKETS.items():
        token = bearer(role, "p1")
        for headers in ({}, token, {**person.cookie, "Origin": hotline.origin}):
            with pytest.raises(WSServerHandshakeError) as refused:
                await hotline.client.ws_connect(f"{path}?access_token={token.token}", headers=headers)
            assert refused.value.status == 401, (path, headers)
        ws = await hotline.client.ws_connect(path, headers=token)
        assert (await ws.receive_json(timeout=5))["type"] in ("desk.ready", "wallboard")
        await ws.close()


# ---- throttling (Redis) --------------------------------------------------------------------------


async def test_failed_sign_ins_are_throttled_per_account(make_hotline: MakeHotline, redis_client: aioredis.Redis,
                                                         redis_key_prefix: str) -> None:
    hotline = await make_hotline(per_account=3)
    await hotline.add("li", "agent")
    await hotline.add("wang", "agent")
    for _ in range(2):
        assert (await hotline.sign_in("li", "guess")).status == 401
    assert (await hotline.sign_in("li")).status == 200  # a success starts the count again
    for _ in range(3):
        assert (await hotline.sign_in("li", "guess")).status == 401
    refused = await hotline.sign_in("li")  # even the right password, until the window ends
    assert refused.status == 429 and 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert (await refused.json())["error"] == "throttled"
    assert (await hotline.sign_in("wang")).status == 200  # others are not locked out
    keys = {key.decode() async for key in redis_client.scan_iter(match=f"{redis_key_prefix}signin:*")}
    assert f"{redis_key_prefix}signin:account:li" in keys


async def test_failed_sign_ins_are_throttled_per_address(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline(per_address=4)
    await hotline.add("li", "agent")
    for name in ("a1", "a2", "a3", "li"):
        assert (await hotline.sign_in(name, "guess")).status == 401
    assert (await hotline.sign_in("li")).status == 429
    assert (await hotline.sign_in("someone-else", "guess")).status == 429


async def test_parallel_guesses_cannot_slip_past_the_limit(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline(per_account=5)
    await hotline.add("li", "agent")
    answers = await asyncio.gather(*(hotline.sign_in("li", f"guess-{i}") for i in range(20)))
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [401] * 5 + [429] * 15


# ---- websockets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(SOCKETS))
async def test_each_websocket_takes_the_cookie_and_closes_within_5_s_of_a_revocation(
    make_hotline: MakeHotline, path: str,
) -> None:
    hotline = await make_hotline()  # socket re-check every 2 s, as shipped
    await hotline.add("root", "admin")
    await hotline.add("p1", SOCKETS[path])
    admin, person = await hotline.person("root"), await hotline.person("p1")
    ws = await hotline.socket(path, person)
    assert (await hotline.client.delete("/api/users/p1/sessions", headers=admin.writes)).status == 200
    seconds, message = await closed_within(ws, 5.0)
    assert message.type is WSMsgType.CLOSE and message.data == SESSION_ENDED, message
    assert "revoked" in message.extra
    print(f"{path}: closed {seconds:.2f} s after the revocation")
    with pytest.raises(WSServerHandshakeError) as refused:
        await hotline.client.ws_connect(path, headers={**person.cookie, "Origin": hotline.origin})
    assert refused.value.status == 401
    if path == "/ws/desk":  # the desk's softphone password goes at once, not after the grace
        await softphones_ended(hotline, ["p1"])


async def test_disabling_a_person_closes_their_sockets(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline(recheck=0.5)
    await hotline.add("li", "agent")
    ws = await hotline.socket("/ws/live", await hotline.person("li"))
    await hotline.store.set_active("li", False)  # what `hotline user disable` does
    _, message = await closed_within(ws, 5.0)
    assert message.data == SESSION_ENDED


async def test_a_desk_closed_by_its_ended_session_withdraws_the_softphone_password(
    make_hotline: MakeHotline,
) -> None:
    hotline = await make_hotline(recheck=0.5)
    await hotline.add("li", "agent")
    await hotline.add("wang", "agent")
    li, wang = await hotline.person("li"), await hotline.person("wang")
    closing, staying = await hotline.socket("/ws/desk", li), await hotline.socket("/ws/desk", wang)
    hotline.clock.advance(timedelta(hours=12))  # both sessions past their absolute limit
    await closed_within(closing, 5.0)
    await closed_within(staying, 5.0)
    await softphones_ended(hotline, ["li", "wang"])


async def monitor_legs_withdrawn(hotline: Hotline, supervisors: list[str], seconds: float = 5.0) -> float:
    """Wait (bounded: the 5 s the issue allows) until exactly these supervisors' monitor-leg
    passwords were withdrawn; the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while sorted(hotline.floor.softphones_ended) != supervisors:
        assert loop.time() - started < seconds, hotline.floor.softphones_ended
        await asyncio.sleep(0.05)
    return loop.time() - started


async def test_a_supervisors_monitor_leg_password_is_withdrawn_at_sign_out_disable_and_expiry(
    make_hotline: MakeHotline,
) -> None:
    hotline = await make_hotline()  # the session re-check every 2 s, as shipped
    for name in ("sup1", "sup2", "sup3"):
        await hotline.add(name, "supervisor")
    sup1, sup1_elsewhere = await hotline.person("sup1"), await hotline.person("sup1")
    sup2, sup3 = await hotline.person("sup2"), await hotline.person("sup3")
    for person in (sup1, sup1_elsewhere, sup2, sup3):
        assert (await hotline.client.post("/api/live/softphone", headers=person.writes)).status == 200

    # Signed out of one browser: the other session holds the same password, which stays.
    assert (await hotline.client.delete("/api/session", headers=sup1.writes)).status == 200
    await asyncio.sleep(2.5)  # one re-check round has passed
    assert hotline.floor.softphones_ended == []
    assert (await hotline.client.delete("/api/session", headers=sup1_elsewhere.writes)).status == 200
    print(f"signed out: withdrawn after {await monitor_legs_withdrawn(hotline, ['sup1']):.2f} s")

    await hotline.store.set_active("sup2", False)  # what `hotline user disable` does
    print(f"disabled: withdrawn after {await monitor_legs_withdrawn(hotline, ['sup1', 'sup2']):.2f} s")

    hotline.clock.advance(timedelta(hours=12))  # sup3's session past its absolute limit
    print(f"expired: withdrawn after {await monitor_legs_withdrawn(hotline, ['sup1', 'sup2', 'sup3']):.2f} s")


async def test_live_calls_are_audited_and_mask_a_known_confidential_caller(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("sup1", "supervisor")
    sup1 = await hotline.person("sup1")
    numbers = []
    for confidential in (False, True):
        hotline.floor.confidential = confidential
        response = await hotline.client.get("/api/live/calls", headers=sup1.cookie)
        assert response.status == 200
        numbers.append((await response.json())["calls"][0]["caller_number"])
    assert numbers == ["13812345678", "138****5678"]
    rows = await hotline.audit.search(AuditQuery(kind=AccessKind.CALL))
    assert [(r.actor, r.detail) for r in rows] == [("sup1", "live calls, 1: c0ffee00-0001")] * 2


async def test_a_monitor_leg_is_for_a_person_signed_in_not_a_token(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    response = await hotline.client.post("/api/live/softphone", headers=bearer("supervisor", "sup1"))
    assert response.status == 403 and "session" in (await response.json())["message"]
    assert hotline.floor.softphones_ended == []


async def test_a_socket_closes_when_its_session_reaches_its_absolute_limit(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    await hotline.add("sup1", "supervisor")
    ws = await hotline.socket("/ws/wallboard", await hotline.person("sup1"))
    hotline.clock.advance(timedelta(hours=12))
    seconds, message = await closed_within(ws, 5.0)
    assert message.data == SESSION_ENDED and "time limit" in message.extra
    assert seconds < 5.0


async def test_an_open_socket_keeps_its_session_from_idling(make_hotline: MakeHotline) -> None:
    limits = SessionLimits(idle=timedelta(minutes=2), absolute=timedelta(hours=12))
    hotline = await make_hotline(limits=limits, recheck=0.1)
    await hotline.add("li", "agent")
    person = await hotline.person("li")
    ws = await hotline.socket("/ws/desk", person)
    for _ in range(12):  # 4 simulated minutes, twice the idle limit, with the desk open
        hotline.clock.advance(timedelta(seconds=20))
        await asyncio.sleep(0.3)
    assert not ws.closed
    assert await hotline.me(person.cookie) == 200
    await ws.close()
    hotline.clock.advance(timedelta(minutes=3))
    assert await hotline.me(person.cookie) == 401  # closed and left: idle


async def test_a_socket_opened_with_a_token_closes_when_the_token_expires(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline()
    token = bearer("agent", "a7", hours=2.5 / 3600)
    # Tokens carry whole seconds (exp = int(issue time) + 2 here: 1-2 s after the issue), so the
    # close is timed against the token's own expiry, not against when the test issued it.
    expires = TEST_SIGNER.verify_until(token.token)[1].timestamp()
    ws = await hotline.client.ws_connect("/ws/live", headers=token)
    assert (await ws.receive_json(timeout=5))["type"] == "desk.ready"
    _, message = await closed_within(ws, 5.0)
    assert message.data == SESSION_ENDED and "expired" in message.extra
    assert expires - 0.05 <= time.time() < expires + 4.0  # at the expiry (timer resolution), never before


async def test_websockets_check_origin(make_hotline: MakeHotline) -> None:
    hotline = await make_hotline(allowed_origins=("https://wallboard.example",))
    await hotline.add("sup1", "supervisor")
    person = await hotline.person("sup1")
    token = bearer("supervisor", "sup1")
    for headers in ({**person.cookie, "Origin": "https://evil.example"},
                    person.cookie,  # with the cookie, a browser's Origin is required
                    {**person.cookie, "Origin": "null"},
                    {**token, "Origin": "https://evil.example"}):
        with pytest.raises(WSServerHandshakeError) as refused:
            await hotline.client.ws_connect("/ws/wallboard", headers=headers)
        assert refused.value.status == 403, headers
    for headers in ({**person.cookie, "Origin": hotline.origin},
                    {**person.cookie, "Origin": "https://wallboard.example"},
                    token):  # a program with a token and no Origin (not a browser)
        ws = await hotline.client.ws_connect("/ws/wallboard", headers=headers)
        assert (await ws.receive_json(timeout=5))["type"] == "wallboard"
        await ws.close()
