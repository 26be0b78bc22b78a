"""State of calls in progress, mirrored to Redis so a restarted bridge can pick them up.

The process's own dictionary is the working copy; Redis is the mirror a new process reads
after a crash or restart (the ARI reconnect reconciles against it). Redis trouble never
stops a call: a failed mirror write is logged and the call goes on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


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

    def to_json(self) -> str:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["answered_at"] = self.answered_at.isoformat() if self.answered_at else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> ActiveCall:
        data = json.loads(text)
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        if data.get("answered_at"):
            data["answered_at"] = datetime.fromisoformat(data["answered_at"])
        return cls(**data)


class CallStateStore:
    """Redis hash `<prefix>calls:active` of channel id -> ActiveCall JSON."""

    def __init__(self, redis: aioredis.Redis, key_prefix: str) -> None:
        self._redis = redis
        self._key = f"{key_prefix}calls:active"
        self.calls: dict[str, ActiveCall] = {}

    async def save(self, call: ActiveCall) -> None:
        self.calls[call.channel_id] = call
        try:
            await self._redis.hset(self._key, call.channel_id, call.to_json())
        except (RedisError, OSError) as exc:
            log.warning("call state not mirrored to Redis", extra={"call_id": call.call_id,
                                                                   "error": str(exc)})

    async def forget(self, channel_id: str) -> None:
        self.calls.pop(channel_id, None)
        try:
            await self._redis.hdel(self._key, channel_id)
        except (RedisError, OSError) as exc:
            log.warning("call state not removed from Redis", extra={"channel_id": channel_id,
                                                                    "error": str(exc)})

    def by_call_id(self, call_id: str) -> ActiveCall | None:
        return next((c for c in self.calls.values() if c.call_id == call_id), None)

    async def load_mirror(self) -> dict[str, ActiveCall]:
        """Calls a previous process left in progress (merged into the working copy)."""
        try:
            raw = await self._redis.hgetall(self._key)
        except (RedisError, OSError) as exc:
            log.warning("cannot read call state mirror", extra={"error": str(exc)})
            return dict(self.calls)
        for channel_id, text in raw.items():
            key = channel_id.decode() if isinstance(channel_id, bytes) else channel_id
            self.calls.setdefault(key, ActiveCall.from_json(text))
        return dict(self.calls)
