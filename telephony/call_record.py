"""What the hotline keeps about one finished call (a plain value; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    channel_id: str
    bridge_id: str | None
    caller_number: str
    caller_name: str
    dialed_number: str
    node_id: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    end_reason: str
    recording_path: Path | None
    recording_seconds: float | None
    screen_level: str | None = None
    screen_decision_id: str | None = None
    queue: str = "general"
    #: A recorded message (it still becomes a ticket): the caller was restricted, or no agent
    #: was free within the queue's limit. The hotline owes them a call back.
    is_message: bool = False
    #: The agent who answered the call, and how long the caller waited in the queue.
    agent_id: str | None = None
    queue_seconds: float | None = None
    #: The emergency line (110/119/120/122) the agent transferred the caller to.
    transferred_to: str | None = None
    #: The SHA-256 of the sealed recording as stored, once it is sealed (kernel/sealed_files.py).
    recording_sha256: str | None = None

    @property
    def duration_seconds(self) -> float:
        """Talk time: from answer (or start, if never answered) to the end."""
        return (self.ended_at - (self.answered_at or self.started_at)).total_seconds()
