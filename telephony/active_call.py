"""A call in progress, as the call path keeps it: set-up steps done, screening, queue, agent, parties.

Pure data and its JSON form. The call flow owns it, the Redis mirror (`telephony.call_state`)
stores it, and the capabilities the flow reaches through its ports (the queue, three-way calls,
supervisors) read and update it, so it sits apart from the mirror: importing it does no I/O.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass
class ActiveCall:
    call_id: str
    channel_id: str
    caller_number: str
    caller_name: str
    dialed_number: str
    started_at: datetime
    answered_at: datetime | None = None
    bridge_id: str | None = None
    recording_name: str | None = None
    steps_done: list[str] = field(default_factory=list)
    screen_level: str | None = None
    screen_decision_id: str | None = None
    screen_prompt: str | None = None
    queue: str = "general"
    takes_message: bool = False  # restricted: the caller leaves a message instead of queueing
    hangup_at: float | None = None  # epoch seconds: end of a restricted caller's message
    queued_at: float | None = None  # epoch seconds: when the caller started waiting for an agent
    agent_id: str | None = None  # the agent who answered
    agent_channel_id: str | None = None  # the agent's leg while it is in the call
    agent_answered_at: float | None = None
    #: Third parties brought in by the agent (三方连线, emergency transfer), by channel id:
    #: {"kind": "unit" | "emergency", "target": unit code or line, "answered": bool}.
    parties: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The emergency line the call was transferred to, if any (the ticket closes as out of scope).
    transferred_to: str | None = None
    #: The caller's words matched the emergency rules: never restricted, flagged on the desk.
    emergency: bool = False
    #: A special line (专线) called outside its service hours: the caller leaves a message.
    out_of_hours: bool = False
    #: Answered and recorded by the dialplan before the backend saw it ([hotline-answer] in
    #: config/asterisk/extensions.conf; also a caller the fallback answered and handed back):
    #: that recording (from the answer, both directions) is the call's, so the backend neither
    #: answers nor records the call (`telephony/fallback_recording.py`).
    recorded_in_dialplan: bool = False
    #: Handed back by the dialplan's fallback after its greeting or prompt: the call (and its
    #: recording) began seconds before the backend's audio tap, whose transcript continues the
    #: call's time line from the fallback's answer.
    handed_back: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["answered_at"] = self.answered_at.isoformat() if self.answered_at else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> ActiveCall:
        """Raises ValueError when the entry cannot be read."""
        try:
            data = json.loads(text)
            data["started_at"] = datetime.fromisoformat(data["started_at"])
            if data.get("answered_at"):
                data["answered_at"] = datetime.fromisoformat(data["answered_at"])
            if "recorded_by_fallback" in data:  # its name before issue 26, in older mirrors
                data["recorded_in_dialplan"] = data.pop("recorded_by_fallback")
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"unreadable call state: {type(exc).__name__}: {exc}") from exc
