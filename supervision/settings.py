"""The `[supervision]` section of the settings."""

from __future__ import annotations

from pydantic import Field

from kernel.settings import Section


class SupervisionSettings(Section):
    #: The scanner (tickets/supervision_job.py) flags overdue, unsigned, repeated and clustered
    #: tickets; one node per round runs it (a Redis lease).
    enabled: bool = True
    interval_seconds: float = Field(default=300.0, ge=5, le=86400)
    #: The hotline's own reviews are due within this many hours of the request.
    review_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    #: Drafts untouched this long are reported.
    draft_max_age_hours: float = Field(default=24.0, gt=0, le=24 * 90)
    #: A complaint about hotline staff waits this many hours for the quality team's finding
    #: (济南: 5 working days; 168 hours is a week, the calendar's usual span of five of them).
    quality_check_hours: float = Field(default=168.0, gt=0, le=24 * 90)
