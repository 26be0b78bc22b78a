"""The `[unit_push]` section of the settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from kernel.errors import ConfigError
from kernel.settings import Section

#: The shortest signing secret accepted (as the API's).
MIN_SECRET_CHARS = 32


class ConfiguredWebhook(Section):
    """A unit's webhook set by the operators in the settings (rather than through the API)."""

    unit: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=8, max_length=500)
    #: A file holding the signing secret (the secret never sits in the settings file itself).
    secret_file: Path


def read_secret(webhook: ConfiguredWebhook, path: Path) -> str:
    """The secret in `path` (the webhook's `secret_file`, resolved by the caller)."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError("unit_push.webhooks", f"{webhook.unit}: cannot read {path}: {exc}") from exc
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError("unit_push.webhooks", f"{webhook.unit}: the secret in {path} is shorter than "
                                                f"{MIN_SECRET_CHARS} characters")
    return secret


class UnitPushSettings(Section):
    #: The push worker (files events into the units' feeds, POSTs them to their webhooks); one
    #: node at a time runs it (a Redis lease). Off: the feed is not filled and nothing is pushed.
    enabled: bool = True
    poll_seconds: float = Field(default=2.0, ge=0.05, le=60)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    backoff_first_seconds: float = Field(default=2.0, gt=0, le=3600)
    backoff_cap_seconds: float = Field(default=600.0, gt=0, le=86400)
    #: How long a gap in the event log's ids holds the feed back (tickets/event_log.py).
    gap_grace_seconds: float = Field(default=60.0, ge=0, le=3600)
    #: Webhooks the operators set here; written at start-up over what the API set for the unit.
    webhooks: tuple[ConfiguredWebhook, ...] = ()
