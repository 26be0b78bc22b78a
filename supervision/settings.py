"""The `[supervision]` section of the settings."""

from __future__ import annotations

from pydantic import Field

from kernel.settings import Section


class SupervisionSettings(Section):
    #: The scanner (tickets/supervision_job.py) flags overdue, unsigned, repeated and clustered
    #: tickets; one node per round runs it (a Redis lease).
    enabled: bool = True
    interval_seconds: float = Field(default=300.0, ge=5, le=86400)
