"""Softphone accounts: derived passwords, endpoint names and the fields pushed to Asterisk.

Nothing here talks to Asterisk (tests/integration/test_softphone.py does)."""

from __future__ import annotations

import re

import pytest

from kernel.errors import InvalidInput
from telephony.softphone import (
    InvalidAgentId,
    SoftphoneProvisioner,
    SoftphoneProvisioningError,
    endpoint_fields,
    endpoint_name,
    softphone_password,
)

SECRET = b"0123456789abcdef0123456789abcdef"


def test_every_node_derives_the_same_password_without_storing_it() -> None:
    assert softphone_password(SECRET, "a1") == softphone_password(bytes(SECRET), "a1")
    # A fixed vector: changing the derivation would silently log every agent out.
    assert softphone_password(b"secret", "7") == "p-jt3M60C-rPmEuFMjzpWNIKYa72x1S11ma63UkUFYs"


def test_passwords_differ_per_agent_and_per_secret_and_are_sip_safe() -> None:
    passwords = {softphone_password(SECRET, agent) for agent in ("a1", "a2", "a10", "1a")}
    passwords.add(softphone_password(SECRET + b"!", "a1"))
    assert len(passwords) == 5
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", p) for p in passwords)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(InvalidInput):
        softphone_password(b"", "a1")


@pytest.mark.parametrize("agent_id", ["", "A1", "a_1", "a.1", "a 1", "../a", "a" * 33, "张三"])
def test_agent_ids_that_cannot_name_an_endpoint_are_refused(agent_id: str) -> None:
    with pytest.raises(InvalidAgentId) as caught:
        endpoint_name(agent_id)
    assert caught.value.agent_id == agent_id
    with pytest.raises(InvalidAgentId):
        softphone_password(SECRET, agent_id)


def test_endpoint_names_and_fields() -> None:
    assert endpoint_name("7") == "agent-7"
    assert endpoint_name("night-shift-" + "x" * 20) == "agent-night-shift-" + "x" * 20
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
