"""Softphone accounts: random passwords, endpoint names and the fields pushed to Asterisk.

Nothing here talks to Asterisk (tests/integration/test_softphone.py does)."""

from __future__ import annotations

import re

import pytest

from kernel.errors import InvalidInput
from telephony.softphone import (
    CALLBACK_ENDPOINT_PREFIX,
    InvalidAgentId,
    SoftphoneProvisioner,
    SoftphoneProvisioningError,
    agent_endpoint,
    endpoint_fields,
    endpoint_name,
    new_softphone_password,
)


def test_passwords_are_random_each_time_and_sip_safe() -> None:
    """Never derived from the agent id: a password from an ended session is never issued again."""
    passwords = {new_softphone_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", p) for p in passwords)


@pytest.mark.parametrize("agent_id", ["", "A1", "a_1", "a.1", "a 1", "../a", "a" * 33, "张三"])
def test_agent_ids_that_cannot_name_an_endpoint_are_refused(agent_id: str) -> None:
    with pytest.raises(InvalidAgentId) as caught:
        endpoint_name(agent_id)
    assert caught.value.agent_id == agent_id


def test_endpoint_names_and_fields() -> None:
    assert endpoint_name("7") == "agent-7"
    assert endpoint_name("night-shift-" + "x" * 20) == "agent-night-shift-" + "x" * 20
    # The callback page's softphone is another endpoint of the same person (a supervisor keeps
    # it open beside the supervisor page, whose monitor legs ring `agent-<id>`).
    assert endpoint_name("7", CALLBACK_ENDPOINT_PREFIX) == "callback-7"
    assert agent_endpoint("7", CALLBACK_ENDPOINT_PREFIX) == "PJSIP/callback-7" != agent_endpoint("7")
    fields = endpoint_fields("agent-7", media_address="127.0.0.1")
    names = [name for name, _ in fields]
    assert names.index("disallow") < names.index("allow"), "allow after disallow, or no codec"
    assert dict(fields) == {
        "webrtc": "yes", "disallow": "all", "allow": "opus,ulaw", "direct_media": "no",
        "media_address": "127.0.0.1", "bind_rtp_to_media_address": "yes", "context": "agents",
        "auth": "agent-7", "aors": "agent-7",
    }


def test_websocket_address_follows_the_ari_address_unless_given() -> None:
    plain = SoftphoneProvisioner("http://127.0.0.1:8088/", "u", "p")
    assert (plain.ws_url, plain.sip_domain) == ("ws://127.0.0.1:8088/ws", "127.0.0.1")
    tls = SoftphoneProvisioner("https://pbx.example:8089", "u", "p")
    assert tls.ws_url == "wss://pbx.example:8089/ws"
    public = SoftphoneProvisioner("http://127.0.0.1:8088", "u", "p", ws_url="wss://desk.example/sip",
                                  sip_domain="hotline.example")
    assert (public.ws_url, public.sip_domain) == ("wss://desk.example/sip", "hotline.example")
    with pytest.raises(InvalidInput):
        SoftphoneProvisioner("127.0.0.1:8088", "u", "p")


async def test_invalid_input_is_refused_before_asterisk_is_asked() -> None:
    async with SoftphoneProvisioner("http://127.0.0.1:9", "u", "p", timeout=0.5) as provisioner:
        with pytest.raises(InvalidAgentId):
            await provisioner.provision("Agent-7", "pw")
        with pytest.raises(InvalidInput):
            await provisioner.provision("a7", "")
        with pytest.raises(InvalidAgentId):
            await provisioner.remove("a_7")


async def test_an_unreachable_asterisk_is_a_typed_error_naming_the_agent() -> None:
    from devtools.sandbox import free_tcp_port

    url = f"http://127.0.0.1:{free_tcp_port()}"  # nothing listens there
    async with SoftphoneProvisioner(url, "u", "p", timeout=2) as provisioner:
        with pytest.raises(SoftphoneProvisioningError) as caught:
            await provisioner.provision("a7", "pw")
    assert caught.value.agent_id == "a7" and caught.value.status is None
    assert caught.value.code == "softphone_provisioning_failed"
