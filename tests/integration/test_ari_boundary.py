"""Asterisk behind its own boundary, on real Asterisk: a page on another origin cannot read ARI
(real Chromium), the backend refuses an ARI that answers any origin, and the softphones' SIP
reaches Asterisk through the backend's `/sip` relay, which relays SIP frames and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.sandbox import AsteriskSandbox
from kernel.errors import ConfigError
from kernel.http_edge import new_app
from telephony import sip_proxy
from telephony.ari_boundary import refuse_open_cors
from telephony.settings import AriSettings, SoftphoneSettings
from tests.auth_tokens import bearer, with_test_signer
from tests.browser_harness import HEADLESS_FLAGS, chromium_executable
from tests.integration.test_softphone import page_server  # noqa: F401 - a fixture

pytestmark = pytest.mark.asterisk

AGENT = bearer("agent", "agent7")

#: Run in a page served from another origin than ARI's, knowing ARI's password (the worst case):
#: each attempt says how it ended. (A request without credentials is left out: Asterisk's Basic
#: challenge makes Chromium wait for a password prompt that never comes; the signal ends it.)
ATTEMPTS = """async ({ari, user, password}) => {
  const tries = {
    basic: () => fetch(`${ari}/ari/channels`, {signal: AbortSignal.timeout(4000),
                                              headers: {Authorization: 'Basic ' + btoa(`${user}:${password}`)}}),
    api_key: () => fetch(`${ari}/ari/channels?api_key=${user}:${password}`, {signal: AbortSignal.timeout(4000)}),
  };
  const out = {};
  for (const [name, attempt] of Object.entries(tries)) {
    try {
      const response = await attempt();
      out[name] = `read ${response.status}: ${(await response.text()).slice(0, 80)}`;
    } catch (error) {
      out[name] = `blocked: ${error.name}`;
    }
  }
  return out;
}"""


async def test_a_page_on_another_origin_cannot_read_ari_even_with_its_password(
        asterisk: AsteriskSandbox, page_server: TestServer) -> None:
    """`page_server` serves a page on 127.0.0.1 at another port than ARI's: another origin, as
    any site open in an agent's browser would be."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(),
                                                   args=list(HEADLESS_FLAGS))
        try:
            page = await browser.new_page()
            await page.goto(str(page_server.make_url("/")))
            results = await page.evaluate(ATTEMPTS, {"ari": asterisk.ari_url, "user": asterisk.ari_user,
                                                     "password": asterisk.ari_password})
        finally:
            await browser.close()
    assert results == {name: "blocked: TypeError" for name in ("basic", "api_key")}, results


async def test_the_backend_refuses_an_ari_that_answers_any_origin(
        asterisk_rootfs: Path, asterisk: AsteriskSandbox) -> None:
    await refuse_open_cors(asterisk.ari_url, 5.0)  # the shipped configuration: no origin
    open_to_all = AsteriskSandbox(asterisk_rootfs, ari_allowed_origins=("*",))
    open_to_all.start()
    try:
        with pytest.raises(ConfigError) as refused:
            await refuse_open_cors(open_to_all.ari_url, 5.0)
        assert refused.value.key == "ari.url"
    finally:
        open_to_all.remove()


@pytest.mark.parametrize("password", ["", "hotline", "asterisk"])
def test_known_ari_passwords_are_refused(password: str) -> None:
    with pytest.raises(ConfigError) as refused:
        AriSettings(password=password).check_credentials()
    assert refused.value.key == "ari.password"
    AriSettings(password=uuid.uuid4().hex).check_credentials()  # a generated one is fine


def register(user: str) -> str:
    """A SIP REGISTER over WebSocket (RFC 7118) for `user`, without credentials."""
    branch, tag, call_id = (uuid.uuid4().hex[:10] for _ in range(3))
    return (f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/WS {branch}.invalid;branch=z9hG4bK{branch}\r\n"
            f"Max-Forwards: 70\r\nTo: <sip:{user}@127.0.0.1>\r\n"
            f"From: <sip:{user}@127.0.0.1>;tag={tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:{user}@{branch}.invalid;transport=ws>;expires=60\r\n"
            f"Expires: 60\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
async def relay(asterisk: AsteriskSandbox) -> AsyncIterator[TestClient]:
    app = with_test_signer(new_app())
    sip_proxy.install(app, SoftphoneSettings().upstream_for(asterisk.ari_url))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def test_sip_reaches_asterisk_through_the_relay(relay: TestClient) -> None:
    async with relay.ws_connect(sip_proxy.PATH, protocols=("sip",), headers=AGENT) as ws:
        assert ws.protocol == "sip"
        await ws.send_str(register("agent-nobody"))
        answer = await ws.receive_str()
    # Asterisk itself answered (its Server header), refusing an unknown endpoint or asking for
    # credentials: either way the frame went there and back.
    assert answer.startswith(("SIP/2.0 401", "SIP/2.0 403", "SIP/2.0 404")), answer
    assert "Call-ID:" in answer


async def test_the_relay_is_for_signed_in_staff_and_leads_nowhere_else(relay: TestClient) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
        await relay.ws_connect(sip_proxy.PATH, protocols=("sip",))
    assert anonymous.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as unit:
        await relay.ws_connect(sip_proxy.PATH, protocols=("sip",), headers=bearer("unit", "u1", "city-housing"))
    assert unit.value.status == 403
    # The browser picks no upstream path: ARI's paths are not served here at all.
    for path in ("/sip/../ari/events?app=hotline", "/ari/events?app=hotline", "/sip/ari/asterisk/info"):
        response = await relay.get(path, headers=AGENT)
        assert response.status == 404, path


def test_the_relay_forwards_to_asterisks_sip_websocket_on_the_ari_server() -> None:
    assert SoftphoneSettings().upstream_for("http://10.0.0.5:8088") == "ws://10.0.0.5:8088/ws"
    assert SoftphoneSettings().upstream_for("https://pbx.example:8089/") == "wss://pbx.example:8089/ws"
    with pytest.raises(ValueError):
        SoftphoneSettings(ws_url="http://pbx.example/ws")
