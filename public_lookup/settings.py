"""The `[public_lookup]` section of the settings."""

from __future__ import annotations

from pydantic import Field

from kernel.settings import Section


class PublicLookupSettings(Section):
    #: Digits of a lookup code (查询码), and how long one works.
    code_digits: int = Field(default=6, ge=4, le=12)
    code_days: int = Field(default=180, ge=1, le=3650)
    #: Wrong answers allowed per ticket number and per client address within the window.
    failures_per_ticket: int = Field(default=5, ge=1, le=100)
    failures_per_address: int = Field(default=20, ge=1, le=10000)
    failure_window_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    #: Requests of one client address per minute, whatever their answer.
    requests_per_minute: int = Field(default=30, ge=1, le=10000)
    #: Public knowledge searches (/kb) of one client address per minute.
    kb_searches_per_minute: int = Field(default=30, ge=1, le=10000)
