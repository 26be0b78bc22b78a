"""The `[abuse]` section of the settings: where the policy is and how the screen is reached."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator

from kernel.settings import Section


class AbuseSettings(Section):
    policy_file: Path = Path("config/abuse_policy.toml")
    decision_timeout: float = Field(default=0.25, gt=0, le=5)
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = Field(default=4573, ge=0, le=65535)
    #: Who may open a FastAGI session (Asterisk's addresses, as networks): anyone else who
    #: reaches the port could claim any caller id.
    fastagi_allowed_peers: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    #: When set, the dialplan passes `secret=<it>` as an AGI argument, or the session is refused.
    fastagi_secret: str = ""
    fastagi_max_connections: int = Field(default=64, ge=1, le=10_000)
    #: A whole session's deadline (the screen itself answers in `decision_timeout`).
    fastagi_session_seconds: float = Field(default=10.0, gt=0, le=60)
    message_max_seconds: float = Field(default=60.0, gt=0, le=600)

    @field_validator("fastagi_allowed_peers")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for peer in value:
            ipaddress.ip_network(peer, strict=False)  # ValueError: a setting error naming it
        return value
