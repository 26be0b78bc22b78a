"""The `[unit_push]` section of the settings."""

from __future__ import annotations

from pydantic import Field

from kernel.settings import Section


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
