"""The telephony sections of the settings: where Asterisk's ARI is and how a call is handled."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from kernel.settings import Section


class AriSettings(Section):
    url: str = "http://127.0.0.1:8088"
    username: str = "hotline"
    password: str = "hotline"
    app: str = "hotline"
    connect_timeout: float = Field(default=3.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"ARI url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


class CallFlowSettings(Section):
    greeting: str = "sound:hotline/greeting"
    recording_format: str = "wav"
    recording_dir: Path = Path("/var/spool/asterisk/recording")
