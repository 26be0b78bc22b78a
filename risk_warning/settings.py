"""The `[risk_warning]` section of the settings: the detector's thresholds (their reasoning is
in `config/hotline.toml` and `risk_warning/policy.py`)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from kernel.settings import Section
from risk_warning.policy import Thresholds


class RiskWarningSettings(Section):
    enabled: bool = True
    poll_seconds: float = Field(default=5.0, ge=0.1, le=300)
    window_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)
    min_count: int = Field(default=6, ge=2, le=1000)
    ratio: float = Field(default=4.0, ge=1.0, le=1000)
    baseline_days: float = Field(default=28.0, gt=0, le=366)

    def thresholds(self) -> Thresholds:
        return Thresholds(window=timedelta(minutes=self.window_minutes), min_count=self.min_count,
                          ratio=self.ratio, baseline=timedelta(days=self.baseline_days))
