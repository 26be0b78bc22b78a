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

It must never keep a caller waiting: every read has a timeout, and whatever goes wrong the channel
ends up with HOTLINE_SCREEN=allow (the screen itself fails open when Redis is unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from asterisk.agi import re_code, re_kv

from kernel.errors import HotlineError
from kernel.privacy import mask_phone
from telephony.ports import CallScreen

log = logging.getLogger(__name__)

SCREEN_VARIABLE = "HOTLINE_SCREEN"
PROMPT_VARIABLE = "HOTLINE_SCREEN_PROMPT"
DECISION_VARIABLE = "HOTLINE_SCREEN_ID"
SCREEN_SCRIPTS = frozenset({"", "screen"})
MAX_LINE = 8192


class AgiProtocolError(HotlineError):
    """Asterisk (or whatever connected) did not speak AGI as expected."""

    code = "agi_protocol_error"


class AgiHangup(AgiProtocolError):
    """The channel hung up while we were talking to it."""

    code = "agi_hangup"


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
    ) -> None:
        self._screen = screen
        self._host = host
        self._port = port
        self._timeout = session_timeout
        self._server: asyncio.Server | None = None
        self.sessions_served = 0

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port=0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

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
        try:
            env = await session.read_environment()
            await self._screen_call(session, env)
        except (AgiProtocolError, TimeoutError, ConnectionError, ValueError) as exc:
            log.warning(
                "FastAGI session ended early",
                extra={"error": type(exc).__name__, "detail": str(exc)[:120],
                       "uniqueid": session.env.get("agi_uniqueid")},
            )
        finally:
            self.sessions_served += 1
            await session.close()

    async def _screen_call(self, session: AgiSession, env: dict[str, str]) -> None:
        script = env.get("agi_network_script", "").strip("/")
        if script not in SCREEN_SCRIPTS:
            raise AgiProtocolError("unknown FastAGI script", script=script[:40])
        call_id = env.get("agi_uniqueid") or None
        caller = env.get("agi_callerid")
        request_text = env.get("agi_arg_1") or None
        level, prompt, decision_id = "allow", "", ""
        try:
            decision = await self._screen.decide(caller, request_text=request_text, call_id=call_id)
            level, prompt, decision_id = str(decision.level), decision.prompt or "", decision.decision_id
        except Exception:  # never leave the dialplan without an answer: allow, and say so loudly
            log.exception("abuse screen raised; allowing the call",
                          extra={"caller": mask_phone(caller), "call_id": call_id})
        await session.set_variable(SCREEN_VARIABLE, level)
        await session.set_variable(PROMPT_VARIABLE, prompt)
        await session.set_variable(DECISION_VARIABLE, decision_id)
