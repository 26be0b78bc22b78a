"""Access tokens: what a valid token says is trusted, anything else is refused with 401."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kernel.auth import Principal, TokenSigner, load_signing_key
from kernel.clock import FixedClock
from kernel.errors import ConfigError, InvalidInput, Unauthenticated

KEY = b"0123456789abcdef0123456789abcdef"




def test_a_token_round_trips_its_principal() -> None:
    signer = TokenSigner(KEY)
    for principal in (Principal("zhang", "unit", "city-housing"), Principal("agent7", "agent"),
                      Principal("张班长", "supervisor")):
        assert signer.verify(signer.issue(principal, hours=1)) == principal


def test_expired_tokens_are_refused() -> None:
    clock = FixedClock(datetime.fromtimestamp(1_795_600_000, UTC))
    signer = TokenSigner(KEY, clock=clock)
    token = signer.issue(Principal("agent7", "agent"), hours=2)
    clock.advance(timedelta(seconds=2 * 3600 - 1))
    assert signer.verify(token).user == "agent7"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature edited
    lambda t: "v2" + t[2:],  # another format
    lambda t: t.replace(".", "", 1),  # parts missing
    lambda t: "",
    lambda t: "v1." + "A" * 3000 + ".x",  # absurdly long
])
def test_mangled_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    signer = TokenSigner(KEY)
    token = signer.issue(Principal("agent7", "agent"), hours=1)
    with pytest.raises(Unauthenticated):
        signer.verify(mangle(token))


def test_a_token_of_another_key_is_refused() -> None:
    theirs = TokenSigner(b"another-key-another-key-another-key").issue(
        Principal("sup", "supervisor"), hours=1)
    with pytest.raises(Unauthenticated, match="signature"):
        TokenSigner(KEY).verify(theirs)


def test_principals_are_checked() -> None:
    for bad in (("x", "caller", None), ("x", "unit", None), ("x", "agent", "city-housing"),
                ("", "agent", None), ("x" * 65, "agent", None)):
        with pytest.raises(InvalidInput):
            Principal(*bad)


def test_short_keys_are_a_config_error() -> None:
    with pytest.raises(ConfigError):
        TokenSigner(b"short")


def test_the_key_file_is_made_private_once_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "auth-secret"
    first = load_signing_key("", path)
    assert len(first) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signing_key("", path) == first
    assert load_signing_key("configured-secret-value", path) == b"configured-secret-value"


def test_a_token_made_to_live_past_the_cap_is_refused_when_used() -> None:
    clock = FixedClock(datetime.fromtimestamp(1_795_600_000, UTC))
    api = TokenSigner(KEY, clock=clock, max_hours=12)
    # `hotline token --hours 87600`, or any issuer that skipped the check: the same key signs it.
    ten_years = TokenSigner(KEY, clock=clock, max_hours=87600).issue(Principal("sup", "supervisor"), hours=87600)
    with pytest.raises(Unauthenticated, match="longer than 12 hours"):
        api.verify(ten_years)
    just_over = TokenSigner(KEY, clock=clock, max_hours=13).issue(Principal("sup", "supervisor"), hours=12.01)
    with pytest.raises(Unauthenticated, match="longer"):
        api.verify(just_over)
    assert api.verify(api.issue(Principal("sup", "supervisor"), hours=12)).user == "sup"


def test_a_token_longer_than_the_cap_is_never_issued() -> None:
    signer = TokenSigner(KEY, max_hours=12)
    for hours in (12.5, 87600, 0, -1):
        with pytest.raises(InvalidInput, match="at most 12 hours"):
            signer.issue(Principal("sup", "supervisor"), hours=hours)


def test_a_token_issued_in_the_future_or_without_an_issue_time_is_refused() -> None:
    clock = FixedClock(datetime.fromtimestamp(1_795_600_000, UTC))
    ahead = FixedClock(clock.now + timedelta(hours=2))
    early = TokenSigner(KEY, clock=ahead).issue(Principal("sup", "supervisor"), hours=1)
    with pytest.raises(Unauthenticated, match="future"):
        TokenSigner(KEY, clock=clock).verify(early)
    signer = TokenSigner(KEY, clock=clock)
    body = base64.urlsafe_b64encode(json.dumps(
        {"sub": "sup", "role": "supervisor", "unit": None, "exp": 1_795_600_000 + 3600}).encode()).rstrip(b"=")
    signed_part = f"v1.{body.decode()}"
    no_iat = f"{signed_part}.{signer._sign(signed_part)}"
    with pytest.raises(Unauthenticated, match="claims"):
        signer.verify(no_iat)


def test_a_token_tells_when_it_expires() -> None:
    clock = FixedClock(datetime.fromtimestamp(1_795_600_000, UTC))
    signer = TokenSigner(KEY, clock=clock)
    principal, expires = signer.verify_until(signer.issue(Principal("agent7", "agent"), hours=2))
    assert principal.user == "agent7" and expires == clock.now + timedelta(hours=2)


async def test_sessions_that_cannot_be_read_fail_only_the_requests_that_need_a_person() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from kernel.auth import SESSION_COOKIE, SessionGate, install_sessions, require
    from kernel.errors import Unavailable
    from kernel.http_edge import new_app
    from kernel.sessions import SessionLimits

    class DatabaseAway:
        async def find_sessions(self, session_ids):  # type: ignore[no-untyped-def]
            raise Unavailable("database away")

        async def touch_sessions(self, session_ids, at):  # type: ignore[no-untyped-def]
            raise Unavailable("database away")

    async def public(_: web.Request) -> web.Response:
        return web.Response(text="page")

    async def private(request: web.Request) -> web.Response:
        return web.Response(text=require(request).user)

    app = new_app()
    install_sessions(app, SessionGate(DatabaseAway(), SessionLimits(timedelta(minutes=30), timedelta(hours=12))))
    app.router.add_get("/public", public)
    app.router.add_get("/private", private)
    async with TestClient(TestServer(app)) as client:
        cookie = {"Cookie": f"{SESSION_COOKIE}=some-secret"}
        assert (await client.get("/public", headers=cookie)).status == 200
        response = await client.get("/private", headers=cookie)
        assert response.status == 503 and (await response.json())["error"] == "unavailable"
        assert (await client.get("/private")).status == 401
