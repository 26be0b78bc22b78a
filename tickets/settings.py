"""The ticket capability's sections of the settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from kernel.settings import Section
from tickets.workflow import WorkflowPolicy


class EvidenceSettings(Section):
    #: Evidence files (tickets/evidence_store.py), named by their SHA-256. Put this on storage
    #: that is backed up; with several nodes, on storage they share.
    dir: Path = Path("var/evidence")
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=2**31)


class WorkflowSettings(Section):
    """`[workflow]`: the numbers the regulations leave to the hotline centre
    (`tickets.workflow.WorkflowPolicy`, where each is explained with its article)."""

    joint_meeting_after_returns: int = Field(default=2, ge=1, le=10)
    max_reopens: int = Field(default=2, ge=0, le=10)
    max_extensions: int = Field(default=2, ge=0, le=10)
    max_extension_days: int = Field(default=30, ge=0, le=365)
    callback_attempts: int = Field(default=3, ge=1, le=10)
    return_window_working_days: int = Field(default=2, ge=1, le=30)
    #: 济南条例: 承办单位应当在5个工作日内与来电人联系并答复 (要求不回复的除外).
    first_contact_working_days: int = Field(default=5, ge=1, le=30)
    review_feedback: bool = False

    def policy(self) -> WorkflowPolicy:
        return WorkflowPolicy(
            joint_meeting_after_returns=self.joint_meeting_after_returns,
            max_reopens=self.max_reopens, max_extensions=self.max_extensions,
            max_extension_total=timedelta(days=self.max_extension_days),
            callback_attempts=self.callback_attempts,
            return_window_working_days=self.return_window_working_days,
            first_contact_working_days=self.first_contact_working_days,
            review_feedback=self.review_feedback,
        )
