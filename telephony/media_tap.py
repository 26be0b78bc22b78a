"""Taps a call's audio, one direction at a time, into our process over a websocket.

Per direction: an ARI snoop channel on the caller's channel (`spy=in`: what the caller says;
`spy=out`: what the caller hears, i.e. the agent or unit) and a chan_websocket externalMedia
channel meet in a small private bridge; the media channel streams slin16 frames to
`receive_media`. The tap never touches the call's own bridge, so a failing tap (ASR overload,
a crash) can never cut or disturb the conversation.

The agent direction carries a person only once an agent or a unit is on the call; before that
it is the greeting, prompts and silence of the queue. `hears_person` (from the call flow) says
whether someone is there. Until it first does, the agent direction is not even tapped: a call
waiting in the queue costs Asterisk one snoop, one media channel and one bridge fewer, and our
event loop half the media frames (issue 14: at 100 calls that is 5,000 frames a second for
prompts nobody transcribes). The caller direction's frames check, every 20 ms, whether a person
joined, and then the agent direction is tapped (a few ARI requests; a person's first words come
later than that). From then on its frames flow without gaps (the consumer's time line must not
jump).

Both new channels enter Stasis in our app; they may only be bridged after THEIR OWN
StasisStart (earlier gives 422), which the call flow routes back here through `StasisWaiter`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field

from kernel.errors import AriError
from telephony.ari.models import Channel
from telephony.ari.rest import AriRest
from telephony.media_socket import receive_media
from telephony.ports import AudioSink
from telephony.resource_ids import tap_ids
from telephony.settings import AriSettings

log = logging.getLogger(__name__)

SPY_FOR_SPEAKER = {"caller": "in", "agent": "out", "unit": "in"}


class StasisWaiter:
    """Futures for channels we create, resolved when their StasisStart arrives."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Channel]] = {}

    def expect(self, channel_id: str) -> asyncio.Future[Channel]:
        future: asyncio.Future[Channel] = asyncio.get_running_loop().create_future()
        self._waiting[channel_id] = future
        return future

    def arrived(self, channel: Channel) -> bool:
        future = self._waiting.pop(channel.id, None)
        if future is None or future.done():
            return False
        future.set_result(channel)
        return True

    def forget(self, channel_id: str) -> None:
        self._waiting.pop(channel_id, None)

    @property
    def pending(self) -> int:
        return len(self._waiting)




@dataclass
class MediaTap:
    rest: AriRest
    ari: AriSettings
    waiter: StasisWaiter
    call_id: str
    channel_id: str
    on_audio: AudioSink
    media_format: str = "slin16"
    #: Is an agent or a unit on the call? None: deliver the agent direction from the start.
    hears_person: Callable[[], bool] | None = None
    readers: dict[str, asyncio.Task[object]] = field(default_factory=dict)
    resources: list[tuple[str, str]] = field(default_factory=list)
    #: Directions delivering frames (the agent direction joins once a person is on the call).
    delivering: set[str] = field(default_factory=set)
    #: Which tap feeds each speaker now (a tap is named `<channel id>:<spy>`); a speaker not
    #: in here is fed by the caller channel's tap of its `SPY_FOR_SPEAKER` direction.
    source: dict[str, str | None] = field(default_factory=dict)
    #: loop time at which a speaker was paused (its source is being replaced)
    paused_at: dict[str, float] = field(default_factory=dict)
    #: The agent direction waits for a person (`hears_person`) before it is tapped.
    agent_waits: bool = False
    #: The agent direction being tapped because a person joined (awaited by `tap_unit`, `stop`).
    agent_starting: asyncio.Task[None] | None = None

    def _source_of(self, speaker: str) -> str | None:
        return self.source.get(speaker, f"{self.channel_id}:{SPY_FOR_SPEAKER[speaker]}")

    def pause(self, speaker: str) -> None:
        """Stop delivering `speaker` until a new source is set (see `tap_unit`)."""
        if speaker not in self.paused_at:
            self.paused_at[speaker] = asyncio.get_running_loop().time()
        self.source[speaker] = None

    async def tap_unit(self, unit_channel_id: str, agent_channel_id: str | None,
                       timeout: float = 5.0) -> None:
        """The unit answered a three-way call: its words become the `unit` speaker, and the
        agent's come from the agent's own channel (call `pause("agent")` before the unit joins)."""
        await self._agent_started()
        self.pause("agent")
        await self._start_direction("unit", timeout, channel_id=unit_channel_id)
        if agent_channel_id is not None and self._source_of("agent") is None:
            await self._start_direction("agent", timeout, channel_id=agent_channel_id, spy="in")

    def _delivers(self, speaker: str, source: str) -> bool:
        if self._source_of(speaker) != source:
            return False
        if speaker in self.delivering:
            return True
        if speaker == "caller" or self.hears_person is None or self.hears_person():
            self.delivering.add(speaker)
            return True
        return False

    async def start(self, speakers: tuple[str, ...] = ("caller", "agent"),
                    timeout: float = 5.0) -> None:
        for speaker in speakers:
            if speaker == "agent" and self.hears_person is not None and not self.hears_person():
                self.agent_waits = True  # tapped when a person joins (`_check_person`)
                continue
            await self._start_direction(speaker, timeout)

    def _check_person(self, timeout: float = 5.0) -> None:
        """Called with every caller frame: a person joined, so tap the agent direction now."""
        if not self.agent_waits or self.hears_person is None or not self.hears_person():
            return
        self.agent_waits = False
        if "agent" in self.source:
            return  # `tap_unit` gave the agent speaker another source already

        async def tap_agent() -> None:
            try:
                await self._start_direction("agent", timeout)
            except (AriError, TimeoutError) as exc:
                log.warning("agent direction not tapped; the call continues without its live words: %s",
                            exc, extra={"call_id": self.call_id, "error": str(exc) or type(exc).__name__})

        self.agent_starting = asyncio.get_running_loop().create_task(
            tap_agent(), name=f"media-tap-agent-{self.call_id}")

    async def _agent_started(self) -> None:
        """Wait for an agent direction being tapped (its resources must be known first)."""
        self.agent_waits = False
        task, self.agent_starting = self.agent_starting, None
        if task is not None:
            with suppress(asyncio.CancelledError):
                await task

    async def _start_direction(self, speaker: str, timeout: float, *, channel_id: str | None = None,
                               spy: str | None = None) -> None:
        """Tap `channel_id` (default: the caller's) in direction `spy` (default: the speaker's)
        and make that tap the speaker's source once it is bridged."""
        channel_id = channel_id or self.channel_id
        spy = spy or SPY_FOR_SPEAKER[speaker]
        source = f"{channel_id}:{spy}"
        snoop_id, media_id, bridge_id = tap_ids(self.call_id, speaker)
        snoop_arrived = self.waiter.expect(snoop_id)
        media_arrived = self.waiter.expect(media_id)
        try:
            await self.rest.create_bridge(bridge_id)
            self.resources.append(("bridge", bridge_id))
            await self.rest.snoop(channel_id, spy=spy, app_args="tap", snoop_id=snoop_id)
            self.resources.append(("channel", snoop_id))
            media = await self.rest.external_media_websocket(channel_id=media_id,
                                                             format=self.media_format)
            self.resources.append(("channel", media_id))
            connection_id = media.channelvars.get("MEDIA_WEBSOCKET_CONNECTION_ID")
            if not connection_id:
                raise AriError("externalMedia channel has no MEDIA_WEBSOCKET_CONNECTION_ID",
                               call_id=self.call_id)

            def deliver(frame: bytes, speaker: str = speaker, source: str = source) -> Awaitable[None] | None:
                # Sync: a coroutine per 20 ms frame per direction was, at 200 calls, 20,000
                # coroutines a second on the event loop for a sink that returns nothing.
                if speaker == "caller" and self.agent_waits:
                    self._check_person(timeout)
                if not self._delivers(speaker, source):
                    return None  # prompts before anyone answers, or a replaced source
                paused = self.paused_at.pop(speaker, None)
                if paused is not None and speaker in self.delivering:
                    # The time the source was being replaced, as silence: no jump in time.
                    missing = round((asyncio.get_running_loop().time() - paused) / 0.02)
                    frame = bytes(len(frame) * missing) + frame
                return self.on_audio(speaker, frame)

            # In server mode the media channel enters Stasis only once we are connected.
            self.readers[source] = asyncio.create_task(
                receive_media(self.ari.url, self.ari.username, self.ari.password, connection_id,
                              on_audio=deliver), name=f"media-{self.call_id}-{speaker}")
            await asyncio.wait_for(asyncio.gather(snoop_arrived, media_arrived), timeout)
        finally:
            self.waiter.forget(snoop_id)
            self.waiter.forget(media_id)
        await self.rest.add_channel(bridge_id, snoop_id)
        await self.rest.add_channel(bridge_id, media_id)
        if speaker in self.source or channel_id != self.channel_id:
            self.source[speaker] = source
        log.info("media tap started", extra={"call_id": self.call_id, "speaker": speaker,
                                             "channel_id": channel_id, "spy": spy})

    async def stop(self) -> None:
        """Tear down channels and bridges; wait for the readers to drain what was sent."""
        await self._agent_started()
        for kind, resource_id in reversed(self.resources):
            with suppress(AriError):
                if kind == "channel":
                    await self.rest.hangup(resource_id)
                else:
                    await self.rest.destroy_bridge(resource_id)
        self.resources.clear()
        for task in self.readers.values():
            with suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(task, 5.0)
        self.readers.clear()
