"""Typed ARI events and resources.

Only the fields the hotline uses are lifted into attributes; the raw JSON stays on every
object (`raw`) so new features need no parser change. Unknown event types become
`UnknownEvent`, never an exception: Asterisk adds event types between versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kernel.phone_number import caller_id_digits


def parse_ari_time(value: str | None) -> datetime | None:
    """ARI timestamps look like 2026-11-25T06:40:01.123+0000."""
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str
    caller_name: str
    dialed_exten: str
    created_at: datetime | None
    channelvars: dict[str, str] = field(default_factory=dict)
    #: The dialplan context the channel is in (for a channel in Stasis: the one it entered from).
    context: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Channel:
        caller = data.get("caller") or {}
        dialplan = data.get("dialplan") or {}
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            state=data.get("state", ""),
            # Checked here, where ARI's text enters: every consumer (screen, relay, ticket) sees
            # national digits or "" (withheld), never a string a caller's phone made up.
            caller_number=caller_id_digits(caller.get("number")),
            caller_name=caller.get("name", "") or "",
            dialed_exten=dialplan.get("exten", "") or "",
            created_at=parse_ari_time(data.get("creationtime")),
            channelvars=data.get("channelvars") or {},
            context=dialplan.get("context", "") or "",
        )


@dataclass(frozen=True)
class Bridge:
    id: str
    bridge_type: str
    channels: tuple[str, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bridge:
        return cls(id=data["id"], bridge_type=data.get("bridge_type", ""),
                   channels=tuple(data.get("channels", [])))


@dataclass(frozen=True)
class ApplicationState:
    """What Asterisk says an ARI application owns right now (used to reconcile)."""

    name: str
    channel_ids: frozenset[str]
    bridge_ids: frozenset[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApplicationState:
        return cls(name=data["name"], channel_ids=frozenset(data.get("channel_ids", [])),
                   bridge_ids=frozenset(data.get("bridge_ids", [])))


@dataclass(frozen=True)
class AriEvent:
    type: str
    application: str
    timestamp: datetime | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class Connected(AriEvent):
    """Synthetic: the event websocket is (re)connected. Handlers reconcile on it."""

    reconnect: bool = False


@dataclass(frozen=True)
class StasisStart(AriEvent):
    channel: Channel = None  # type: ignore[assignment]
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True)
class StasisEnd(AriEvent):
    channel: Channel = None  # type: ignore[assignment]


@dataclass(frozen=True)
class ChannelEvent(AriEvent):
    """ChannelDestroyed, ChannelStateChange, ChannelHangupRequest, ChannelDtmfReceived..."""

    channel: Channel = None  # type: ignore[assignment]


@dataclass(frozen=True)
class PlaybackEvent(AriEvent):
    playback_id: str = ""
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""


@dataclass(frozen=True)
class RecordingEvent(AriEvent):
    name: str = ""
    state: str = ""
    duration: int | None = None
    target_uri: str = ""
    cause: str = ""


@dataclass(frozen=True)
class UnknownEvent(AriEvent):
    pass


def parse_event(data: dict[str, Any]) -> AriEvent:
    kind = data.get("type", "")
    base: dict[str, Any] = {
        "type": kind,
        "application": data.get("application", ""),
        "timestamp": parse_ari_time(data.get("timestamp")),
        "raw": data,
    }
    if kind == "StasisStart":
        replaced = data.get("replace_channel")
        return StasisStart(**base, channel=Channel.from_json(data["channel"]),
                           args=tuple(data.get("args", [])),
                           replace_channel=Channel.from_json(replaced) if replaced else None)
    if kind == "StasisEnd":
        return StasisEnd(**base, channel=Channel.from_json(data["channel"]))
    if kind.startswith("Channel") and "channel" in data:
        return ChannelEvent(**base, channel=Channel.from_json(data["channel"]))
    if kind.startswith("Playback"):
        playback = data.get("playback", {})
        return PlaybackEvent(**base, playback_id=playback.get("id", ""),
                             media_uri=playback.get("media_uri", ""),
                             target_uri=playback.get("target_uri", ""),
                             state=playback.get("state", ""))
    if kind.startswith("Recording"):
        recording = data.get("recording", {})
        return RecordingEvent(**base, name=recording.get("name", ""),
                              state=recording.get("state", ""),
                              duration=recording.get("duration"),
                              target_uri=recording.get("target_uri", ""),
                              cause=recording.get("cause", ""))
    return UnknownEvent(**base)
