"""FastAGI screen: lets a plain dialplan ask the anti-abuse screen about a caller.

    same => n,AGI(agi://127.0.0.1:4573/screen)
    same => n,GotoIf($["${HOTLINE_SCREEN}" = "restrict"]?notice)

The server reads the AGI environment (`agi_callerid`, optional `agi_arg_1` = what the caller
said, for the emergency override), asks the shared anti-abuse screen (`telephony.ports.CallScreen`,
`abuse.limiter.AbuseScreen`) (the same object
the ARI call flow uses, so both paths apply one policy and one set of counters) and sets:

    HOTLINE_SCREEN         allow | warn | senior_queue | restrict | supervisor_review
    HOTLINE_SCREEN_PROMPT  sound to play first ("" when none)
    HOTLINE_SCREEN_ID      decision id, to find the audit record

Why not pyst2's `asterisk.agi.AGI`: it reads stdin/stdout with blocking calls and installs a
SIGHUP handler, i.e. it is made for one process per call. A FastAGI server serves many calls
on one event loop, so this module speaks the small AGI line protocol itself over asyncio streams,
reusing pyst2's reply-parsing regular expressions (`re_code`, `re_kv`) so the grammar is the one
pyst2 knows.

It must never keep a caller waiting: every read has a timeout, a whole session has a deadline,
and whatever goes wrong the channel ends up with HOTLINE_SCREEN=allow (the screen itself fails
open when Redis is unreachable; a refused or broken session sets nothing, which the dialplan
reads as allow).

Trust: whoever reaches the port could claim any caller id and get a citizen restricted. So
- only peers in `allowed_peers` (Asterisk's addresses) are served, and with a `secret` the
  dialplan must pass `secret=<it>` as an AGI argument (`AGI(agi://h/screen,${SPOKEN},secret=...)`);
- at most `max_connections` sessions run at once (more are closed at once);
- the claimed `agi_callerid` is believed only when the call's own channel, read over ARI by its
  `agi_uniqueid` (`ChannelLookup`), has that caller id: an unconfirmed claim is screened as a
  withheld caller, which cannot restrict any citizen's number. The screen counts a call once
  per `agi_uniqueid`, so replaying one real call's id counts nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from asterisk.agi import re_code, re_kv

from kernel.errors import HotlineError
from kernel.phone_number import caller_id
from kernel.privacy import mask_phone
from telephony.ari.models import Channel
from telephony.ports import CallScreen

log = logging.getLogger(__name__)

SCREEN_VARIABLE = "HOTLINE_SCREEN"
PROMPT_VARIABLE = "HOTLINE_SCREEN_PROMPT"
DECISION_VARIABLE = "HOTLINE_SCREEN_ID"
SCREEN_SCRIPTS = frozenset({"", "screen"})
MAX_LINE = 8192
SECRET_ARGUMENT = "secret="
#: Asterisk on the same host: the default peers.
LOCAL_PEERS = ("127.0.0.1/32", "::1/128")


class AgiProtocolError(HotlineError):
    """Asterisk (or whatever connected) did not speak AGI as expected."""

    code = "agi_protocol_error"


class AgiHangup(AgiProtocolError):
    """The channel hung up while we were talking to it."""

    code = "agi_hangup"


class AgiRefused(AgiProtocolError):
    """A session that may not be served: unknown peer, wrong or missing secret, too many."""

    code = "agi_refused"


class ChannelLookup(Protocol):
    """Reads a channel by id over ARI (`telephony.ari.rest.AriRest`): the call's own word."""

    async def get_channel(self, channel_id: str) -> Channel | None: ...


@dataclass(frozen=True)
class AgiReply:
    code: int
    result: str
    data: str


class AgiSession:
    """One FastAGI connection: the environment, then command/reply pairs."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, timeout: float
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self.env: dict[str, str] = {}

    async def _line(self) -> str:
        raw = await asyncio.wait_for(self._reader.readline(), self._timeout)
        if not raw:
            raise AgiHangup("connection closed by Asterisk")
        if len(raw) > MAX_LINE:
            raise AgiProtocolError("AGI line too long", length=len(raw))
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    async def read_environment(self) -> dict[str, str]:
        """`agi_key: value` lines up to a blank line."""
        while True:
            line = await self._line()
            if line == "":
                return self.env
            key, sep, value = line.partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError("not an AGI environment line", line=line[:80])
            self.env[key.strip()] = value.strip()
            if len(self.env) > 200:
                raise AgiProtocolError("AGI environment too large")

    async def command(self, *words: str) -> AgiReply:
        text = " ".join(words)
        if "\n" in text or "\r" in text:
            raise AgiProtocolError("newline in AGI command")
        self._writer.write(text.encode("utf-8") + b"\n")
        await self._writer.drain()
        while True:
            line = await self._line()
            if line.strip() == "HANGUP":  # FastAGI's notice that the channel went away
                raise AgiHangup("channel hung up")
            if line:
                break
        match = re_code.search(line)
        code = int(match.group(1)) if match and match.group(1) else 0
        response = match.group(2) if match else line
        if code != 200:
            raise AgiProtocolError("AGI command failed", command=words[0], reply=line[:120])
        values = {k: (v, d) for k, v, d in re_kv.findall(response)}
        result, data = values.get("result", ("", ""))
        if result == "-1":
            raise AgiHangup("AGI command returned -1 (hangup or failure)", command=words[0])
        return AgiReply(code=code, result=result, data=data)

    async def set_variable(self, name: str, value: str) -> None:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        await self.command("SET", "VARIABLE", name, f'"{escaped}"')

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


class FastAgiScreenServer:
    """asyncio TCP server answering `AGI(agi://host:port/screen)` with a screen decision."""

    def __init__(
        self,
        screen: CallScreen,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        session_timeout: float = 5.0,
        session_deadline: float = 10.0,
        allowed_peers: Sequence[str] = LOCAL_PEERS,
        secret: str = "",
        max_connections: int = 64,
        channels: ChannelLookup | None = None,
    ) -> None:
        self._screen = screen
        self._host = host
        self._port = port
        self._timeout = session_timeout
        self._deadline = session_deadline
        self._peers = tuple(ipaddress.ip_network(peer, strict=False) for peer in allowed_peers)
        self._secret = secret
        self._max_connections = max_connections
        #: None: no ARI to confirm with, so every claimed caller id is screened as withheld.
        self._channels = channels
        self._server: asyncio.Server | None = None
        self._active = 0
        self.sessions_served = 0
        self.sessions_refused = 0

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port=0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        """Sessions being served now (at most `max_connections`)."""
        return self._active

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self._host, self._port, limit=MAX_LINE * 2
        )
        log.info("FastAGI screen listening", extra={"host": self._host, "port": self.port})

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FastAgiScreenServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AgiSession(reader, writer, timeout=self._timeout)
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._peer_allowed(host) or self._active >= self._max_connections:
            self.sessions_refused += 1
            log.warning("FastAGI session refused", extra={
                "peer": host, "active": self._active,
                "reason": "peer" if not self._peer_allowed(host) else "connections"})
            await session.close()
            return
        self._active += 1
        try:
            async with asyncio.timeout(self._deadline):  # the whole session, not each line
                env = await session.read_environment()
                self._check_secret(env)
                await self._screen_call(session, env)
        except AgiRefused as exc:
            self.sessions_refused += 1
            log.warning("FastAGI session refused", extra={"peer": host, "reason": exc.code,
                                                          "uniqueid": session.env.get("agi_uniqueid")})
        except (AgiProtocolError, TimeoutError, ConnectionError, ValueError) as exc:
            log.warning(
                "FastAGI session ended early",
                extra={"error": type(exc).__name__, "detail": str(exc)[:120],
                       "uniqueid": session.env.get("agi_uniqueid")},
            )
        finally:
            self._active -= 1
            self.sessions_served += 1
            await session.close()

    def _peer_allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", maxsplit=1)[0])
        except ValueError:
            return False
        return any(address in network for network in self._peers)

    def _check_secret(self, env: dict[str, str]) -> None:
        if not self._secret:
            return
        given = next((value.removeprefix(SECRET_ARGUMENT) for key, value in env.items()
                      if key.startswith("agi_arg_") and value.startswith(SECRET_ARGUMENT)), "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            raise AgiRefused("FastAGI secret missing or wrong")

    async def _confirmed_caller(self, env: dict[str, str]) -> str | None:
        """The claimed caller id if the call's own channel has it; None (withheld) otherwise."""
        claimed = caller_id(env.get("agi_callerid"))
        uniqueid = env.get("agi_uniqueid", "")
        if claimed is None or self._channels is None or not uniqueid:
            return None
        channel = await self._channels.get_channel(uniqueid)
        if channel is None or channel.caller_number != claimed.digits:
            log.warning("FastAGI caller id not confirmed by the channel; screened as withheld",
                        extra={"call_id": uniqueid, "caller": claimed.masked,
                               "channel_found": channel is not None})
            return None
        return claimed.digits

    async def _screen_call(self, session: AgiSession, env: dict[str, str]) -> None:
        script = env.get("agi_network_script", "").strip("/")
        if script not in SCREEN_SCRIPTS:
            raise AgiProtocolError("unknown FastAGI script", script=script[:40])
        call_id = env.get("agi_uniqueid") or None
        request_text = next((value for key, value in sorted(env.items())
                             if key.startswith("agi_arg_") and value
                             and not value.startswith(SECRET_ARGUMENT)), None)
        level, prompt, decision_id = "allow", "", ""
        caller: str | None = None
        try:
            caller = await self._confirmed_caller(env)
            decision = await self._screen.decide(caller, request_text=request_text, call_id=call_id)
            level, prompt, decision_id = str(decision.level), decision.prompt or "", decision.decision_id
        except Exception:  # never leave the dialplan without an answer: allow, and say so loudly
            log.exception("abuse screen raised; allowing the call",
                          extra={"caller": mask_phone(caller), "call_id": call_id})
        await session.set_variable(SCREEN_VARIABLE, level)
        await session.set_variable(PROMPT_VARIABLE, prompt)
        await session.set_variable(DECISION_VARIABLE, decision_id)
