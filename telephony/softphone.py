"""Browser softphones for agents: SIP accounts pushed into Asterisk through ARI at run time.

Agents' endpoints are never written in pjsip.conf. When an agent signs in, the backend PUTs an
auth, an aor and a `webrtc = yes` endpoint named `agent-<agent_id>` into res_pjsip through ARI
push configuration (`/ari/asterisk/config/dynamic/res_pjsip/...`), which sorcery.conf maps to the
`memory` wizard. Memory objects vanish when Asterisk restarts, so provisioning is idempotent and
cheap (three PUTs that create or overwrite) and the backend simply re-provisions the signed-in
agents on every ARI (re)connect.

The SIP password is random (`new_softphone_password`), one per signed-in person: issued when
their desk (or supervisor page) first asks for the softphone, kept in Redis only so that any node
can re-provision it after an Asterisk restart (`SoftphonePasswords`), and taken away when their
session ends (`SoftphoneProvisioner.lock_out`: the auth gets a password nobody holds) or their
desk has been gone for the grace period (`remove`). A password from an ended session therefore
never registers again. Passwords are never logged.

This module knows nothing about queues or calls; it never touches the dialplan (the endpoints'
`agents` context is empty on purpose: agents' calls are placed and bridged through ARI).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kernel.errors import AriError, InvalidInput, cause_of
from telephony.ari.auth import basic_authorization

log = logging.getLogger(__name__)

AGENT_ID = re.compile(r"[a-z0-9-]{1,32}")
ENDPOINT_PREFIX = "agent-"
#: The callback page's own softphone (`callback-<id>`): a supervisor may keep it open beside the
#: supervisor page, whose softphone (`agent-<id>`) the monitor legs ring. One endpoint for both
#: would let each page's registration replace the other's (one contact per aor), and the rung
#: page refuse a call meant for the other (a listen rung on the callback page: 486).
CALLBACK_ENDPOINT_PREFIX = "callback-"
#: The dialplan context of agents' endpoints (empty: see extensions.conf).
AGENTS_CONTEXT = "agents"


class InvalidAgentId(InvalidInput):
    """An agent id that cannot name a SIP endpoint (lowercase letters, digits, dash; 1-32)."""

    code = "invalid_agent_id"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent id {agent_id!r} must be 1-32 lowercase letters, digits or dashes",
                         agent_id=agent_id)
        self.agent_id = agent_id


class SoftphoneProvisioningError(AriError):
    """Asterisk refused or did not answer a push-configuration request for an agent."""

    code = "softphone_provisioning_failed"

    def __init__(self, message: str, *, agent_id: str, status: int | None = None,
                 **context: Any) -> None:
        super().__init__(message, status=status, agent_id=agent_id, **context)
        self.agent_id = agent_id


@dataclass(frozen=True)
class SoftphoneAccount:
    """What a desk page needs to register its softphone (JsSIP) for one agent."""

    agent_id: str
    endpoint: str
    sip_uri: str
    username: str
    password: str
    ws_url: str


def check_agent_id(agent_id: str) -> str:
    if not AGENT_ID.fullmatch(agent_id):
        raise InvalidAgentId(agent_id)
    return agent_id


def endpoint_name(agent_id: str, prefix: str = ENDPOINT_PREFIX) -> str:
    """`agent-<agent_id>`: the PJSIP endpoint, aor, auth and SIP user of one agent (`prefix`:
    another softphone of the same person, `CALLBACK_ENDPOINT_PREFIX`)."""
    return prefix + check_agent_id(agent_id)


def agent_endpoint(agent_id: str, prefix: str = ENDPOINT_PREFIX) -> str:
    """What ARI dials to ring an agent's softphone (offers from the queue, desk callbacks), or
    another softphone of theirs (`prefix`)."""
    return f"PJSIP/{prefix}{agent_id}"


def new_softphone_password() -> str:
    """A fresh random SIP password (256 bits, URL-safe): never derived, never reused."""
    return secrets.token_urlsafe(32)


class SoftphonePasswords:
    """The current SIP password of each person with a softphone, in Redis (`<prefix>softphone:<id>`).

    Kept only so that any node can push the same password again after Asterisk forgets its
    memory objects, and so that a desk reconnecting within its grace keeps a registered phone.
    `issue` returns the stored password or makes one; `forget` drops it (a session ended, a
    desk gone): the next sign-in gets a new one.
    """

    def __init__(self, redis: aioredis.Redis, prefix: str, line: str = "softphone") -> None:
        self.redis = redis
        self.prefix = prefix
        #: Which of the person's softphones (`callback-softphone`: the callback page's own).
        self.line = line

    def _key(self, person: str) -> str:
        return f"{self.prefix}{self.line}:{check_agent_id(person)}"

    async def issue(self, person: str) -> str:
        fresh = new_softphone_password()
        # SET NX then GET: two nodes issuing at once agree on one password.
        await self.redis.set(self._key(person), fresh, nx=True)
        stored = await self.redis.get(self._key(person))
        if stored is None:  # forgotten between the two calls: issue again
            return await self.issue(person)
        return stored.decode() if isinstance(stored, bytes) else str(stored)

    async def current(self, person: str) -> str | None:
        stored = await self.redis.get(self._key(person))
        if stored is None:
            return None
        return stored.decode() if isinstance(stored, bytes) else str(stored)

    async def forget(self, person: str) -> None:
        await self.redis.delete(self._key(person))


def endpoint_fields(name: str, *, media_address: str) -> list[tuple[str, str]]:
    """The endpoint's attributes, in order (`disallow` must come before `allow`).

    webrtc=yes implies ICE, AVPF, rtcp_mux and DTLS-SRTP with an auto-generated certificate.
    Media stays anchored in Asterisk (recording, snooping, transcription need it).
    """
    return [
        ("webrtc", "yes"),
        ("disallow", "all"),
        ("allow", "opus,ulaw"),
        ("direct_media", "no"),
        ("media_address", media_address),
        ("bind_rtp_to_media_address", "yes"),
        ("context", AGENTS_CONTEXT),
        ("auth", name),
        ("aors", name),
    ]


def aor_fields() -> list[tuple[str, str]]:
    """One browser per agent: a new registration replaces the old one (a reloaded page)."""
    return [("max_contacts", "1"), ("remove_existing", "yes")]


def auth_fields(username: str, password: str) -> list[tuple[str, str]]:
    return [("auth_type", "userpass"), ("username", username), ("password", password)]


class SoftphoneProvisioner:
    """Creates, overwrites and removes agents' WebRTC endpoints through ARI push configuration.

    `media_address` is where Asterisk sends the browsers' RTP from (127.0.0.1 in the sandbox).
    `sip_domain` and `ws_url` default to the ARI server's host and `ws(s)://host:port/ws`
    (chan_pjsip's websocket listens on Asterisk's HTTP server); a deployment behind a TLS proxy
    passes the public `wss://` address instead.
    """

    def __init__(self, ari_url: str, user: str, password: str, *, media_address: str = "127.0.0.1",
                 sip_domain: str | None = None, ws_url: str | None = None,
                 timeout: float = 5.0) -> None:
        parts = urlsplit(ari_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"ARI url must be http(s)://host[:port], got {ari_url!r}")
        self.base_url = f"{parts.scheme}://{parts.netloc}/ari/asterisk/config/dynamic/res_pjsip"
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws_url = ws_url or f"{ws_scheme}://{parts.netloc}/ws"
        self.sip_domain = sip_domain or parts.hostname
        self.media_address = media_address
        self._headers = basic_authorization(user, password)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SoftphoneProvisioner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def provision(self, agent_id: str, password: str, *, prefix: str = ENDPOINT_PREFIX) -> SoftphoneAccount:
        """Create or overwrite the agent's auth, aor and endpoint; safe to repeat at any time.

        A registered browser stays registered across a re-provision (its contact belongs to
        the aor's name, not to the object), so reconnect-time re-provisioning drops no agent.
        Referenced objects go first, so the endpoint never points at a missing auth or aor.
        `prefix`: another softphone of the person's (`CALLBACK_ENDPOINT_PREFIX`).
        """
        name = endpoint_name(agent_id, prefix)
        if not password:
            raise InvalidInput("a softphone password must not be empty", agent_id=agent_id)
        await self._put(agent_id, "auth", name, auth_fields(name, password))
        await self._put(agent_id, "aor", name, aor_fields())
        await self._put(agent_id, "endpoint", name, endpoint_fields(name, media_address=self.media_address))
        log.info("softphone provisioned", extra={"agent": agent_id, "endpoint": name})
        return SoftphoneAccount(agent_id=agent_id, endpoint=name,
                                sip_uri=f"sip:{name}@{self.sip_domain}", username=name,
                                password=password, ws_url=self.ws_url)

    async def provision_desk_phone(self, agent_id: str, contact: str) -> str:
        """An agent who uses a desk SIP phone instead of the browser: a plain (non-WebRTC)
        G.711 endpoint named like a softphone (`agent-<id>`), reached at a fixed `contact`
        (`sip:agent-7@10.1.2.3:5060`), so the distributor rings it the same way. Returns the
        endpoint name. Phones that register instead are configured in pjsip.conf."""
        name = endpoint_name(agent_id)
        if not contact.startswith("sip:"):
            raise InvalidInput("a desk phone contact is a sip: URI", agent_id=agent_id)
        await self._put(agent_id, "aor", name, [("contact", contact), ("max_contacts", "1")])
        await self._put(agent_id, "endpoint", name, [
            ("disallow", "all"), ("allow", "ulaw,alaw"), ("direct_media", "no"),
            ("rtp_symmetric", "yes"), ("context", AGENTS_CONTEXT), ("aors", name)])
        log.info("desk phone provisioned", extra={"agent": agent_id, "endpoint": name})
        return name

    async def remove(self, agent_id: str) -> None:
        """Delete the agent's endpoint, aor and auth; absent objects are fine (idempotent).

        From then on the browser's next REGISTER is refused and calls to the endpoint fail.
        """
        name = endpoint_name(agent_id)
        for kind in ("endpoint", "aor", "auth"):
            await self._request(agent_id, "DELETE", kind, name, missing_ok=True)
        log.info("softphone removed", extra={"agent": agent_id, "endpoint": name})

    async def lock_out(self, agent_id: str, *, prefix: str = ENDPOINT_PREFIX) -> None:
        """Replace the agent's SIP password with a random one that nobody is given.

        Only the auth object changes: a call in progress goes on (a session that ends mid-call
        must not cut a citizen off), but no REGISTER with the old password succeeds any more.
        Harmless for an agent who has no endpoint (the auth alone is unused).
        """
        name = endpoint_name(agent_id, prefix)
        await self._put(agent_id, "auth", name, auth_fields(name, new_softphone_password()))
        log.info("softphone password withdrawn", extra={"agent": agent_id, "endpoint": name})

    async def withdraw(self, person: str, passwords: SoftphonePasswords, *,
                       prefix: str = ENDPOINT_PREFIX) -> None:
        """The session the person's password was given to ended (signed out, revoked, disabled,
        expired): the password is forgotten and stops registering now (`lock_out`); a call in
        progress goes on; the next sign-in gets a new one. Asterisk or Redis away is logged, not
        raised: Asterisk forgets the endpoint on restart anyway, and re-provisioning skips a
        person whose password is gone."""
        try:
            await passwords.forget(person)
            await self.lock_out(person, prefix=prefix)
        except (AriError, RedisError) as exc:
            log.warning("softphone password not withdrawn", extra={"agent": person, "error": str(exc)})

    async def _put(self, agent_id: str, kind: str, name: str, fields: list[tuple[str, str]]) -> None:
        body = {"fields": [{"attribute": attribute, "value": value} for attribute, value in fields]}
        await self._request(agent_id, "PUT", kind, name, json=body)

    async def _request(self, agent_id: str, method: str, kind: str, name: str, *,
                       json: Any = None, missing_ok: bool = False) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        path = f"/asterisk/config/dynamic/res_pjsip/{kind}/{name}"
        try:
            async with self._session.request(method, f"{self.base_url}/{kind}/{name}", json=json) as response:
                if response.status == 404 and missing_ok:
                    return
                if response.status >= 400:
                    # The body of a refused PUT may echo fields; it never carries the password
                    # back (Asterisk answers with a short message), but stay short anyway.
                    detail = (await response.text()).strip()[:200]
                    raise SoftphoneProvisioningError(
                        f"ARI {method} {path} -> {response.status}: {detail}",
                        agent_id=agent_id, status=response.status, path=path)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SoftphoneProvisioningError(
                f"ARI {method} {path} failed: {cause_of(exc)}",
                agent_id=agent_id, path=path) from exc
