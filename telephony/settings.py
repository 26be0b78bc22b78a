"""The telephony sections of the settings: where Asterisk's ARI is and how a call is handled."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from kernel.errors import ConfigError
from kernel.settings import Section
from telephony.special_lines import parse_hours

#: ARI passwords that ship in examples and sample configs: refused at start-up (`check_credentials`).
KNOWN_DEFAULT_PASSWORDS = frozenset({"", "hotline", "asterisk", "password", "secret", "changeme", "admin"})


class AriSettings(Section):
    url: str = "http://127.0.0.1:8088"
    username: str = "hotline"
    #: No default: set it (HOTLINE_ARI_PASSWORD) to Asterisk's ari.conf password. The sandbox
    #: (devtools/sandbox.py) generates a random one for each instance.
    password: str = ""
    app: str = "hotline"
    connect_timeout: float = Field(default=3.0, gt=0)
    #: Longest wait for one ARI REST request (connecting included) before it fails typed.
    request_timeout: float = Field(default=5.0, gt=0, le=60)
    #: Kept-alive HTTP connections to ARI at most. Asterisk's HTTP server counts every
    #: connection against `sessionlimit` (http.conf, 100 by default), media websockets of live
    #: calls included: a REST pool as large as aiohttp's default (100) starves it at peak.
    http_connections: int = Field(default=32, ge=1, le=512)

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"ARI url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    def check_credentials(self) -> None:
        """Refuse to start with a known or empty ARI password (ConfigError naming the key):
        whoever reaches Asterisk's HTTP port with it can list, snoop and place calls."""
        if self.password in KNOWN_DEFAULT_PASSWORDS or self.password == self.username:
            raise ConfigError("ari.password", "empty or a known default: set Asterisk's ARI password "
                              "(HOTLINE_ARI_PASSWORD), the same as in ari.conf")


class SoftphoneSettings(Section):
    """Where the agents' browser softphones reach SIP over WebSocket."""

    #: The address the pages' softphones use. Empty: the backend's own `/sip` relay
    #: (telephony/sip_proxy.py), so agents' PCs reach only the backend, never Asterisk's HTTP
    #: port, which also serves ARI. A deployment with its own SIP edge names it here (wss://...).
    ws_url: str = ""
    #: Where `/sip` relays to: Asterisk's SIP websocket. Empty: `/ws` on the ARI server.
    upstream: str = ""

    @field_validator("ws_url", "upstream")
    @classmethod
    def _ws_scheme(cls, value: str) -> str:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError(f"a SIP websocket address starts with ws:// or wss://, got {value!r}")
        return value

    def upstream_for(self, ari_url: str) -> str:
        if self.upstream:
            return self.upstream
        scheme, _, rest = ari_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest.split('/')[0]}/ws"


class SpecialLineSettings(Section):
    """One special line (专线): a number the dialplan sends to the backend, and its hours."""

    number: str = Field(pattern=r"^[0-9]{3,16}$")
    name: str = ""
    #: Beijing time, `HH:MM-HH:MM` (`22:00-06:00` spans midnight; `00:00-24:00` always open).
    service_hours: str = "00:00-24:00"

    @field_validator("service_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        try:
            parse_hours(value)
        except ValueError as exc:
            raise ValueError(f"service hours are HH:MM-HH:MM, got {value!r}") from exc
        return value


class CallFlowSettings(Section):
    greeting: str = "sound:hotline/greeting"
    recording_format: str = "wav"
    recording_dir: Path = Path("/var/spool/asterisk/recording")
    #: Where the dialplan leaves messages of callers who called while the backend was away
    #: (`HOTLINE_SPOOL` in extensions.conf), as this process sees it; adopted on every connect.
    message_spool_dir: Path = Path("/var/spool/asterisk/hotline-messages")
    #: How often the spool is looked at besides each ARI (re)connect.
    message_spool_interval_seconds: float = Field(default=5.0, gt=0, le=600)
    #: Finished calls wait here, on disk, while the database is away (`telephony/outbox.py`);
    #: relative to the project root. One directory per node.
    outbox_dir: Path = Path("var/outbox")
    #: Longest wait for one write of a finished call before it goes to the outbox.
    persist_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    #: Calls this node handles at once. A caller beyond it is still answered: the call goes
    #: on in the dialplan's `[hotline-overflow]` (greeting, message, adopted as a ticket by the
    #: message spool), never left ringing or dropped. 0: no limit.
    max_concurrent_calls: int = Field(default=250, ge=0, le=10000)
    #: Dialplan context that takes callers beyond `max_concurrent_calls`.
    overflow_context: str = "hotline-overflow"
    #: On SIGTERM the node stops within this many seconds: it gives up the application (new
    #: calls go to another node or the dialplan fallback), hands live calls over through the
    #: call mirror and exits.
    stop_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: Special lines (专线) with service hours: outside them a caller leaves a message, which
    #: becomes a ticket with a callback task (`telephony/special_lines.py`).
    special_lines: tuple[SpecialLineSettings, ...] = ()


class QueueSettings(Section):
    """The `[queue]` section: how callers wait for an agent (ACD)."""

    #: How long an agent's softphone rings before the offer moves on (the agent is then set
    #: on a "no answer" break so the next caller is not offered to an absent desk).
    offer_timeout_seconds: float = Field(default=15.0, gt=1, le=120)
    #: A caller who waited this long without an agent is offered to leave a message, which
    #: becomes a ticket with a callback task (GB/T 33358: answer within 15 s; never a dead end).
    max_wait_seconds: float = Field(default=120.0, gt=1, le=3600)
    #: How often a waiting caller hears their place in the queue.
    announce_every_seconds: float = Field(default=30.0, ge=5, le=600)
    #: After-call work (wrap-up) an agent may take before being made available again.
    wrap_up_limit_seconds: float = Field(default=60.0, ge=0, le=3600)
    #: Asterisk's music-on-hold class for waiting and held callers.
    moh_class: str = "default"
    #: Agents who also serve the senior queue (callers the anti-abuse ladder routes there).
    senior_agents: tuple[str, ...] = ()


class TransferSettings(Section):
    """The `[transfer]` section: how the hotline reaches handling units and emergency lines."""

    #: Dial string for a unit's number from the unit directory (三方连线); `{number}` is replaced.
    #: A directory entry naming one PJSIP endpoint (`PJSIP/unit-housing`) is dialled as it is.
    unit_dial: str = "PJSIP/{number}@units"
    #: How long a unit's phone rings before the desk hears "no answer" and carries on.
    unit_ring_seconds: float = Field(default=25.0, gt=1, le=120)
    #: Dial string of the emergency lines (110/119/120/122 on the emergency trunk).
    emergency_dial: str = "PJSIP/{number}@emergency"
    emergency_lines: tuple[str, ...] = ("110", "119", "120", "122")
    emergency_ring_seconds: float = Field(default=60.0, gt=1, le=300)

    @field_validator("unit_dial", "emergency_dial")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if "{number}" not in value:
            raise ValueError("a dial string needs {number}")
        return value


class CallbackSettings(Section):
    """The `[callback]` section: the automatic satisfaction survey (回访) calls."""

    enabled: bool = True
    #: Dial string of a citizen's number (`{number}` is replaced); the hotline's caller id.
    dial: str = "PJSIP/{number}@citizens"
    caller_id: str = '"12345" <12345>'
    ring_seconds: float = Field(default=30.0, gt=1, le=120)
    #: How long the survey waits for a key after the question.
    answer_seconds: float = Field(default=10.0, gt=1, le=60)
    #: When to try again a citizen not reached; after the last, the task goes to an agent.
    retry_after_seconds: tuple[float, ...] = (1800.0, 7200.0)
    poll_seconds: float = Field(default=15.0, gt=0, le=3600)
    #: At most this many survey calls at once (a share of the trunk, not all of it).
    max_concurrent: int = Field(default=4, ge=1, le=100)


class RelaySettings(Section):
    """The `[relay]` section: the confidential relay (保密联络). A unit phones one of `numbers`
    (the dialplan sends them to the ARI application), keys in the ticket's one-time code, and
    the hotline calls the confidential caller with its own caller id and bridges the two."""

    enabled: bool = True
    #: The relay numbers (dialled extensions) units phone; the first is shown on tickets.
    numbers: tuple[str, ...] = ("12346",)
    #: Dial string of a citizen's number (`{number}` is replaced), and the hotline's caller id.
    dial: str = "PJSIP/{number}@citizens"
    caller_id: str = '"12345" <12345>'
    ring_seconds: float = Field(default=30.0, gt=1, le=120)
    #: Digits of a code; a code keyed in is checked once this many digits are in (or at #).
    code_digits: int = Field(default=8, ge=6, le=12)
    #: How long a code issued by hotline staff may be keyed in.
    code_hours: float = Field(default=168.0, gt=0, le=24 * 90)
    #: Wrong or expired codes from one calling number within `lockout_minutes` that lock the
    #: number out for the rest of that window (counted from the access audit).
    max_failures: int = Field(default=5, ge=1, le=100)
    #: Wrong or expired codes from all calling numbers together within `lockout_minutes` that
    #: refuse every code for the rest of that window, with an alert (a caller id can be spoofed).
    global_max_failures: int = Field(default=50, ge=1, le=10_000)
    lockout_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    #: Codes a unit may try in one call before the hotline hangs up.
    tries_per_call: int = Field(default=3, ge=1, le=10)
    #: Time to key in a code after the prompt.
    key_seconds: float = Field(default=20.0, gt=1, le=120)
    #: Time a refusal or "not reached" notice plays before the hotline hangs up.
    notice_seconds: float = Field(default=4.0, ge=0, le=30)

    @field_validator("dial")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if "{number}" not in value:
            raise ValueError("a dial string needs {number}")
        return value
