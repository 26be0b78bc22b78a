"""The `[abuse]` section of the settings: where the policy is and how the screen is reached."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from kernel.settings import Section


class AbuseSettings(Section):
    policy_file: Path = Path("config/abuse_policy.toml")
    decision_timeout: float = Field(default=0.25, gt=0, le=5)
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = Field(default=4573, ge=0, le=65535)
    message_max_seconds: float = Field(default=60.0, gt=0, le=600)
