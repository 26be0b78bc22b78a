"""Call flow v0: every call to 12345 is answered, greeted, bridged, recorded and becomes a ticket.

No IVR menu (GB/T 33358): the caller hears one short greeting and stays in a mixing bridge. The
dialplan answered the caller and records the call from its first frame before the call reached
us (`telephony/fallback_recording.py`), so nothing here can make a caller unrecorded; a call that
came without it is answered and its bridge recorded here. On hang-up the call record and a
draft ticket are written in one transaction.

A set-up step whose ARI request fails or times out is tried again, for as long as the caller is
on the line, after the channel's real state is read again (`_ensure_setup`).

Every set-up step is recorded in `ActiveCall.steps_done` and mirrored to Redis, so a bridge
process that dies mid-call is replaced by one that finishes exactly the missing steps
(`reconcile`) instead of answering twice or losing the recording. Events for one channel are
handled in arrival order (a lock per channel); different calls never wait for each other, and
the event reader never waits for any handler (Asterisk drops slow ARI websockets).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kernel.errors import AriError, HotlineError
from telephony import setup_retry
from telephony.active_call import ActiveCall
from telephony.ari.models import AriEvent, Channel, ChannelEvent, Connected, StasisEnd, StasisStart
from telephony.ari.rest import AriRest
from telephony.call_metrics import CallLoad, CallMetrics
from telephony.call_record import CallRecord
from telephony.call_state import CallStateStore
from telephony.conference import UNIT, ThreeWayCalls
from telephony.fallback_recording import fallback_answer, handed_back_by_fallback
from telephony.fallback_recording import take as take_fallback_recording
from telephony.media_tap import MediaTap, StasisWaiter
from telephony.monitor import CallMonitor
from telephony.outbox import CallOutbox
from telephony.ports import CallAudioConsumer, CallQueue, CallRecorder, CallScreen, SideCalls, SurveyCalls
from telephony.prompts import BEEP, LEAVE_MESSAGE, LINE_CLOSED
from telephony.recording_length import recording_seconds
from telephony.resource_ids import (
    OWN_PREFIX,
    call_bridge_id,
    call_of_party_channel,
    is_agent_channel,
    is_call_bridge,
    is_callback_channel,
    is_monitor_leg,
    is_own_resource,
    is_party_channel,
)
from telephony.settings import AriSettings, CallFlowSettings
from telephony.special_lines import closed_line

log = logging.getLogger(__name__)

ANSWERED, BRIDGED, RECORDING, SCREENED, GREETED, PROMPTED, QUEUED = (
    "answered", "bridged", "recording", "screened", "greeted", "prompted", "queued")


@dataclass
class _ChannelQueue:
    """Serialises one channel's event handling."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0


class CallFlow:
    def __init__(self, rest: AriRest, state: CallStateStore, intake: CallRecorder,
                 settings: CallFlowSettings, node_id: str, *,
                 ari: AriSettings | None = None,
                 audio_consumer: CallAudioConsumer | None = None,
                 media_format: str = "slin16",
                 screen: CallScreen | None = None,
                 message_max_seconds: float = 60.0,
                 distributor: CallQueue | None = None,
                 conference: ThreeWayCalls | None = None,
                 callbacks: SurveyCalls | None = None,
                 outbox: CallOutbox | None = None,
                 persist_timeout: float = 5.0,
                 metrics: CallMetrics | None = None) -> None:
        self.rest = rest
        self.ari = ari
        self.audio_consumer = audio_consumer
        self.media_format = media_format  # slin (8 kHz) or slin16: what the consumer decodes
        self.screen = screen
        #: Puts answered callers in front of agents (None: calls are recorded, not queued).
        self.distributor = distributor
        #: Brings handling units and emergency lines into calls (三方连线).
        self.conference = conference
        #: Calls citizens back for the satisfaction survey (回访).
        self.callbacks = callbacks
        #: Where finished calls wait, on disk, while the database is away (None: in the mirror).
        self.outbox = outbox
        self.persist_timeout = persist_timeout
        self.metrics = metrics if metrics is not None else CallMetrics()
        #: Run after every ARI (re)connect, beside `reconcile` (e.g. re-provision softphones:
        #: an Asterisk restart forgets what was pushed to it).
        self.on_connected: list[Callable[[], Awaitable[None]]] = []
        self.message_max_seconds = message_max_seconds
        self._message_timers: dict[str, asyncio.TimerHandle] = {}
        self.waiter = StasisWaiter()
        #: Supervisors listening, whispering or barging (set by the composition root; None: none).
        self.monitor: CallMonitor | None = None
        #: Calls that are not citizens' calls to 12345 and keep their own channels and bridges:
        #: the confidential relay (保密联络), callbacks placed from the desk (回访). Each is
        #: asked whether it owns an event's channel before the flow handles it.
        self.side_calls: list[SideCalls] = []
        self.taps: dict[str, MediaTap] = {}
        self.state = state
        self.intake = intake
        self.settings = settings
        self.node_id = node_id
        self._locks: dict[str, _ChannelQueue] = {}
        self.event_failures = 0
        self.last_event_failure_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Channels whose StasisStart arrived but whose call is not in `state.calls` yet: they
        #: count against the limit, so a burst cannot overshoot it.
        self._arriving: set[str] = set()
        #: Set when a call's channel leaves (StasisEnd, ChannelDestroyed): a set-up that is
        #: waiting to try again stops at once and lets the call's end run.
        self._gone: dict[str, asyncio.Event] = {}
        self.overflowed = 0
        self.accepting = True

    def load(self) -> CallLoad:
        """The node's admission limit and current load (cheap; no I/O)."""
        arriving = sum(1 for channel_id in self._arriving if channel_id not in self.state.calls)
        return CallLoad(active=len(self.state.calls) + arriving,
                        limit=self.settings.max_concurrent_calls, overflowed=self.overflowed,
                        accepting=self.accepting)

    # --- event intake -----------------------------------------------------------------------
    async def run(self, events: AsyncIterator[AriEvent]) -> None:
        async for event in events:
            try:
                self.dispatch(event)
            except Exception:
                # One event the flow cannot route costs that event only; readiness shows it.
                self.event_failures += 1
                self.last_event_failure_at = datetime.now(UTC).timestamp()
                log.exception("ARI event not handled", extra={"event_type": event.type})

    def dispatch(self, event: AriEvent) -> None:
        """Route one event to a task; never awaits (the websocket reader must not block)."""
        if isinstance(event, Connected):
            self._spawn(self.reconcile())
            for hook in self.on_connected:
                self._spawn(hook())
        elif isinstance(event, ChannelEvent) and event.type == "ChannelDtmfReceived":
            if (side := self._side_call(event.channel.id)) is not None:
                self._serial(event.channel.id, side.key_pressed(
                    event.channel.id, str(event.raw.get("digit", ""))))
            elif is_callback_channel(event.channel.id) and self.callbacks is not None:
                self._serial(event.channel.id, self.callbacks.key_pressed(
                    event.channel.id, str(event.raw.get("digit", ""))))
        elif isinstance(event, StasisStart):
            if (side := self._side_call(event.channel.id)) is not None:
                self._serial(event.channel.id, side.started(event.channel))
            elif is_callback_channel(event.channel.id):
                if self.callbacks is not None:
                    self._serial(event.channel.id, self.callbacks.answered(event.channel))
            elif is_party_channel(event.channel.id):
                if self.conference is not None:
                    self._serial(event.channel.id, self._party_answered(event.channel))
            elif is_agent_channel(event.channel.id):
                if self.distributor is not None:
                    self._serial(event.channel.id, self.distributor.agent_answered(event.channel))
            elif is_own_resource(event.channel.id):
                self.waiter.arrived(event.channel)
            elif event.channel.id not in self.state.calls and self.load().at_capacity:
                self._spawn(self._overflow(event.channel))
            else:
                self._arriving.add(event.channel.id)
                self._serial(event.channel.id, self.on_call_start(event.channel))
        elif isinstance(event, StasisEnd) or (
                isinstance(event, ChannelEvent) and event.type == "ChannelDestroyed"):
            channel_id = event.channel.id
            if (side := self._side_call(channel_id)) is not None:
                cause = event.raw.get("cause") if isinstance(event, ChannelEvent) else None
                self._serial(channel_id, side.gone(
                    channel_id, int(cause) if isinstance(cause, int) else None))
                return
            if is_callback_channel(channel_id):
                if self.callbacks is not None:
                    cause = event.raw.get("cause") if isinstance(event, ChannelEvent) else None
                    self._serial(channel_id, self.callbacks.gone(
                        channel_id, int(cause) if isinstance(cause, int) else None))
                return
            if is_party_channel(channel_id):
                if self.conference is not None:
                    cause = event.raw.get("cause") if isinstance(event, ChannelEvent) else None
                    self._serial(channel_id, self.conference.party_gone(
                        channel_id, int(cause) if isinstance(cause, int) else None))
                return
            if is_agent_channel(channel_id):
                if self.distributor is not None:
                    self._serial(channel_id, self.distributor.agent_channel_gone(channel_id))
                return
            if is_monitor_leg(channel_id):
                if self.monitor is not None:
                    self._serial(channel_id, self.monitor.leg_gone(channel_id))
                return
            reason = "hangup" if isinstance(event, StasisEnd) else str(
                event.raw.get("cause_txt", "hangup"))
            if (gone := self._gone.get(channel_id)) is not None:
                gone.set()
            # Asterisk's time of the hang-up, not the time this process gets to it: the call's
            # length is measured on the same clock as the dialplan's answer and recording.
            self._serial(channel_id, self.on_call_end(channel_id, reason, event.timestamp))

    def _side_call(self, resource_id: str) -> SideCalls | None:
        return next((side for side in self.side_calls if side.owns(resource_id)), None)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call flow task failed", exc_info=task.exception())

    def _serial(self, channel_id: str, work: Awaitable[None]) -> None:
        """Run `work` after the channel's earlier work; the channel's lock lives only while
        work for it is pending, so finished calls leave nothing behind."""
        queue = self._locks.get(channel_id)
        if queue is None:
            queue = self._locks[channel_id] = _ChannelQueue()
        queue.pending += 1

        async def locked() -> None:
            try:
                async with queue.lock:
                    await work
            finally:
                queue.pending -= 1
                if queue.pending == 0 and self._locks.get(channel_id) is queue:
                    del self._locks[channel_id]

        self._spawn(locked())

    def footprint(self) -> dict[str, int]:
        """Sizes of the per-call structures: all return to 0 when no call is in progress."""
        queue = self.distributor.footprint() if self.distributor is not None else {}
        return {"calls": len(self.state.calls), "arriving": len(self._arriving),
                "setups": len(self._gone),
                "channel_queues": len(self._locks),
                "tasks": len(self._tasks), "taps": len(self.taps),
                "message_timers": len(self._message_timers), "awaited_channels": self.waiter.pending,
                "queue_offers": queue.get("offers", 0), "queue_announced": queue.get("announced", 0),
                "monitors": len(self.monitor.monitors) if self.monitor else 0}

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for handlers in flight (used at shutdown and in tests); True when all ended.

        With `timeout`, handlers still running then are cancelled: a call's set-up steps and
        its end are mirrored step by step, so the next owner of the application finishes what
        was cut short (`reconcile`), and the process's stop stays bounded."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                return False
            await asyncio.wait(list(self._tasks), timeout=left)
        return True

    # --- call start -------------------------------------------------------------------------
    async def _overflow(self, channel: Channel) -> None:
        """The node is full: the caller goes on in the dialplan's message path (answered,
        greeted, recorded as a message that the message spool makes a ticket of)."""
        self.overflowed += 1
        log.warning("node at capacity; the caller leaves a message through the dialplan",
                    extra={"channel_id": channel.id, "caller": channel.caller_number,
                           "limit": self.settings.max_concurrent_calls})
        try:
            await self.rest.continue_in_dialplan(channel.id, self.settings.overflow_context)
        except AriError as exc:
            # Never leave the caller ringing: take the call after all, above the limit.
            log.error("overflow to the dialplan failed; taking the call above the limit",
                      extra={"channel_id": channel.id, "error": str(exc)})
            self._arriving.add(channel.id)
            self._serial(channel.id, self.on_call_start(channel))

    async def on_call_start(self, channel: Channel) -> None:
        try:
            await self._start_call(channel)
        finally:
            self._arriving.discard(channel.id)

    async def _start_call(self, channel: Channel) -> None:
        for side in self.side_calls:
            if side.claims(channel):  # e.g. a unit phoning the relay number
                await side.started(channel)
                return
        call = self.state.calls.get(channel.id)
        if call is None:
            # Answered and recorded by the dialplan before Stasis ([hotline-answer]; also a
            # caller the fallback answered and hands back): recorded from then on.
            dialplan = fallback_answer(channel.channelvars)
            call = ActiveCall(
                call_id=str(uuid.uuid4()),
                channel_id=channel.id,
                caller_number=channel.caller_number,
                caller_name=channel.caller_name,
                dialed_number=channel.dialed_exten,
                started_at=channel.created_at or datetime.now(UTC),
                answered_at=dialplan.answered_at if dialplan else None,
                recorded_in_dialplan=dialplan is not None,
                handed_back=handed_back_by_fallback(channel.context),
            )
            self.metrics.call_started()
            # The working copy only: the answer comes first and its step mirrors the call. A
            # Redis round trip before the answer was on every caller's answer delay; a crash
            # between the two leaves an answered channel in Stasis that no mirror knows, which
            # `reconcile` adopts ("arrived while the bridge was away") and answers idempotently.
            self.state.calls[call.channel_id] = call
            log.info("call arrived", extra={"call_id": call.call_id, "channel_id": channel.id,
                                            "caller": call.caller_number,
                                            "recorded_in_dialplan": call.recorded_in_dialplan,
                                            "handed_back_by_fallback": call.handed_back})
        await self._ensure_setup(call)

    async def _ensure_setup(self, call: ActiveCall) -> None:
        """Do whichever set-up steps are not done yet; safe to repeat after a restart.

        A failed or timed-out ARI request is tried again, after a wait, for as long as the
        caller is on the line (`telephony/setup_retry.py`): first the channel's real state is
        read again (Asterisk may have carried the request out late, or the caller hung up),
        and every step checks what Asterisk already did before asking again."""
        resumed = ANSWERED in call.steps_done  # set up (partly) by a process before this one
        gone = self._gone.setdefault(call.channel_id, asyncio.Event())
        retry = 0
        while True:
            try:
                await self._setup_steps(call, resumed=resumed, retrying=retry > 0)
                if retry:
                    log.info("call set-up completed after retries",
                             extra={"call_id": call.call_id, "retries": retry})
                return
            except AriError as exc:
                failure = exc
            retry += 1
            if gone.is_set():
                return  # the caller hung up: the call's end, queued behind us, records it
            reread: AriError | None = None
            try:
                channel = await self.rest.get_channel(call.channel_id)
            except AriError as exc:
                channel, reread = None, exc
            else:
                if channel is None:
                    await self.on_call_end(call.channel_id, "gone_during_setup")
                    return
            delay = setup_retry.delay_before(retry)
            (log.error if setup_retry.persistent(retry) else log.warning)(
                "call set-up step failed; the caller stays connected (answered and recorded "
                "by the dialplan: %s) and the set-up is tried again", call.recorded_in_dialplan,
                extra={"call_id": call.call_id, "error": str(failure),
                       "cause": failure.context.get("cause"), "status": failure.status,
                       "retry": retry, "retry_in_seconds": delay,
                       "channel_state": channel.state if channel else None,
                       "reread_error": str(reread) if reread else None})
            if channel is not None and ANSWERED not in call.steps_done and channel.state == "Up":
                # The answer that "failed" was carried out (late): take it as done.
                await self._answered(call)
            with suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), delay)
            if gone.is_set():
                return

    async def _answered(self, call: ActiveCall) -> None:
        call.answered_at = call.answered_at or datetime.now(UTC)
        self.metrics.call_answered(call)
        await self._step(call, ANSWERED)

    async def _setup_steps(self, call: ActiveCall, *, resumed: bool, retrying: bool) -> None:
        """One pass over the set-up steps not done yet; raises AriError at the first failure.

        A request that may have been sent before (this pass retries one that failed, or a
        process before this one sent it) is sent again only if Asterisk shows it was not done."""
        sent_before = retrying or resumed
        if ANSWERED not in call.steps_done:
            if not call.recorded_in_dialplan:  # else answered by the dialplan already
                await self.rest.answer(call.channel_id)
            await self._answered(call)
        if BRIDGED not in call.steps_done:
            call.bridge_id = call.bridge_id or call_bridge_id(call.call_id)
            bridge = await self.rest.get_bridge(call.bridge_id)
            if bridge is None:
                await self.rest.create_bridge(call.bridge_id)
            if bridge is None or call.channel_id not in bridge.channels:
                await self.rest.add_channel(call.bridge_id, call.channel_id)
            await self._step(call, BRIDGED)
        if RECORDING not in call.steps_done:
            assert call.bridge_id is not None
            if not call.recorded_in_dialplan:  # else recorded since the dialplan's answer
                call.recording_name = f"call-{call.call_id}"
                if not (sent_before and await self.rest.live_recording(call.recording_name)):
                    await self.rest.record_bridge(call.bridge_id, call.recording_name,
                                                  self.settings.recording_format)
            await self._step(call, RECORDING)
        if call.channel_id not in self.taps:
            # Before the greeting, so the transcript holds everything the caller heard.
            await self._start_tap(call, resumed=resumed)
        if SCREENED not in call.steps_done:
            await self._screen(call)
            self._check_line_hours(call)
            await self._step(call, SCREENED)
        if GREETED not in call.steps_done:
            assert call.bridge_id is not None
            greeting = f"{OWN_PREFIX}greeting-{call.call_id}"
            if not (sent_before and await self.rest.playback_exists(greeting)):
                await self.rest.play_on_bridge(call.bridge_id, self.settings.greeting, greeting)
            await self._step(call, GREETED)
        if PROMPTED not in call.steps_done:
            await self._play_screen_prompts(call)
            await self._step(call, PROMPTED)
        if (self.distributor is not None and not call.takes_message
                and QUEUED not in call.steps_done):
            await self.distributor.enqueue(call)
            await self._step(call, QUEUED)
        self._arm_message_timer(call)

    async def _screen(self, call: ActiveCall) -> None:
        """Anti-abuse screening before queueing. Fails open inside the screen; never drops."""
        if self.screen is None:
            call.screen_level = "allow"
            return
        decision = await self.screen.decide(call.caller_number, call_id=call.call_id)
        call.screen_level = str(decision.level)
        call.screen_decision_id = decision.decision_id
        call.screen_prompt = decision.prompt
        call.queue = "senior" if decision.routes_to_senior_queue else "general"
        call.takes_message = decision.offers_message
        log.info("caller screened", extra={"call_id": call.call_id, "level": call.screen_level,
                                           "decision_id": decision.decision_id})

    def _check_line_hours(self, call: ActiveCall) -> None:
        """A special line called outside its service hours: the caller leaves a message."""
        line = closed_line(self.settings.special_lines, call.dialed_number, datetime.now(UTC))
        if line is not None:
            call.out_of_hours = call.takes_message = True
            log.info("special line out of hours: message", extra={
                "call_id": call.call_id, "line": line.number, "hours": line.service_hours})

    async def _play_screen_prompts(self, call: ActiveCall) -> None:
        """Education first (warn), and for restricted callers the notice plus a message."""
        assert call.bridge_id is not None
        if call.screen_prompt and call.screen_level != "allow":
            await self.rest.play_on_bridge(call.bridge_id, f"sound:{call.screen_prompt}")
        if call.out_of_hours:
            await self.rest.play_on_bridge(call.bridge_id, LINE_CLOSED)
            await self.rest.play_on_bridge(call.bridge_id, BEEP)
            call.hangup_at = datetime.now(UTC).timestamp() + self.message_max_seconds
        elif call.takes_message:
            await self.rest.play_on_bridge(call.bridge_id, LEAVE_MESSAGE)
            await self.rest.play_on_bridge(call.bridge_id, BEEP)
            # The bridge recording keeps the message; the call becomes a ticket at hang-up.
            call.hangup_at = datetime.now(UTC).timestamp() + self.message_max_seconds

    def _arm_message_timer(self, call: ActiveCall) -> None:
        """End a restricted caller's message after its maximum length (survives restarts)."""
        if call.hangup_at is None or call.channel_id in self._message_timers:
            return
        delay = max(0.0, call.hangup_at - datetime.now(UTC).timestamp())

        def hang_up() -> None:
            self._message_timers.pop(call.channel_id, None)
            self._spawn(self.rest.hangup(call.channel_id))

        self._message_timers[call.channel_id] = asyncio.get_running_loop().call_later(delay, hang_up)

    async def _start_tap(self, call: ActiveCall, *, resumed: bool = False) -> None:
        """Feed the call's audio to the consumer; failure here never affects the call itself.

        A resumed call's audio continues the call's time line (the consumer continues what the
        process before us handed over); so does a call handed back by the dialplan's fallback,
        whose recording began at the fallback's answer, seconds earlier. A call answered by
        [hotline-answer] just before Stasis starts its transcript at the tap, as calls always
        did: the offset would be a fraction of a second, and with a non-zero one the desk's live
        assist missed the caller's district in tests/e2e/test_desk_assist.py (measured; the
        cause is not found yet: the consumer reads `since > 0` as a call handed over)."""
        if self.audio_consumer is None or self.ari is None:
            return
        since = 0.0
        if (resumed or call.handed_back) and call.answered_at is not None:
            since = max(0.001, (datetime.now(UTC) - call.answered_at).total_seconds())
        sink = self.audio_consumer.call_started(call.call_id, call.caller_number, since)
        if sink is None:
            return
        tap = MediaTap(self.rest, self.ari, self.waiter, call.call_id, call.channel_id, sink,
                       media_format=self.media_format,
                       hears_person=lambda: self._person_on_call(call.channel_id))
        self.taps[call.channel_id] = tap
        try:
            await tap.start()
        except (AriError, TimeoutError) as exc:
            log.warning("media tap failed; the call continues without live audio: %s", exc,
                        extra={"call_id": call.call_id, "error": str(exc) or type(exc).__name__})

    async def _party_answered(self, channel: Channel) -> None:
        """A third party answered and joins the call; a unit's words become their own speaker.

        The agent stream is paused before the unit enters the bridge: from then on what the
        caller hears mixes agent and unit, so the agent's words come from the agent's channel
        (`MediaTap.tap_unit`). A tap failure never affects the call: the agent stream then goes
        back to what the caller hears (the unit's words mixed in, as before).
        """
        assert self.conference is not None
        call_id = call_of_party_channel(channel.id)
        call = self.state.by_call_id(call_id) if call_id else None
        party = call.parties.get(channel.id) if call is not None else None
        tap = self.taps.get(call.channel_id) if call is not None else None
        unit = (tap is not None and party is not None and party.get("kind") == UNIT
                and not party.get("answered"))
        if unit and tap is not None:
            tap.pause("agent")
        await self.conference.party_answered(channel)
        if not unit or tap is None or call is None or party is None:
            return
        if not party.get("answered"):
            tap.source.pop("agent", None)
            return
        try:
            await tap.tap_unit(channel.id, call.agent_channel_id)
        except (AriError, TimeoutError) as exc:
            tap.source.pop("agent", None)
            log.warning("unit tap failed; the unit's words stay in the agent stream: %s", exc,
                        extra={"call_id": call.call_id, "error": str(exc) or type(exc).__name__})

    def _person_on_call(self, channel_id: str) -> bool:
        """An agent or an answered third party (unit) is on the call: the caller hears a person."""
        call = self.state.calls.get(channel_id)
        return call is not None and (call.agent_channel_id is not None
                                     or any(p.get("answered") for p in call.parties.values()))

    async def _step(self, call: ActiveCall, step: str) -> None:
        call.steps_done.append(step)
        await self.state.save(call)

    # --- call end ---------------------------------------------------------------------------
    async def on_call_end(self, channel_id: str, reason: str,
                          ended_at: datetime | None = None) -> None:
        """The call's end: its record and ticket. `ended_at`: when Asterisk says it ended."""
        self._gone.pop(channel_id, None)
        call = self.state.calls.get(channel_id)
        if call is None:
            return
        ended_at = ended_at or datetime.now(UTC)
        self.metrics.call_ended(reason)
        timer = self._message_timers.pop(channel_id, None)
        if timer is not None:
            timer.cancel()
        if self.conference is not None:
            await self.conference.call_ending(call)
        if self.distributor is not None:
            try:
                await self.distributor.call_ending(call)
            except Exception:
                log.exception("queue clean-up failed at call end", extra={"call_id": call.call_id})
        if self.monitor is not None:
            try:
                await self.monitor.call_ending(call)
            except Exception:
                log.exception("supervisor clean-up failed at call end", extra={"call_id": call.call_id})
        tap = self.taps.pop(channel_id, None)
        if tap is not None:
            await tap.stop()
        recording_path: Path | None = None
        if call.recorded_in_dialplan:
            recording_path = await self._take_dialplan_recording(call)
        elif call.recording_name:
            with suppress(AriError):
                await self.rest.stop_recording(call.recording_name)
            recording_path = self.settings.recording_dir / (
                f"{call.recording_name}.{self.settings.recording_format}")
        if call.bridge_id:
            with suppress(AriError):
                await self.rest.destroy_bridge(call.bridge_id)
        seconds = await self._wait_for_recording(recording_path) if recording_path else None
        talk_seconds = (ended_at - (call.answered_at or call.started_at)).total_seconds()
        if recording_path is not None and seconds is None:
            log.error("recording file missing or unreadable",
                      extra={"call_id": call.call_id, "path": str(recording_path)})
        elif seconds is not None and abs(seconds - talk_seconds) > 1.0:
            # Asterisk records only while frames flow: a silent (DTX) line or a bridge outage
            # shortens the file. Keep it, but say so: supervisors rely on recordings.
            log.warning("recording length differs from the call",
                        extra={"call_id": call.call_id, "recording_seconds": seconds,
                               "talk_seconds": round(talk_seconds, 2)})
        record = CallRecord(
            call_id=call.call_id, channel_id=call.channel_id, bridge_id=call.bridge_id,
            caller_number=call.caller_number, caller_name=call.caller_name,
            dialed_number=call.dialed_number, node_id=self.node_id,
            started_at=call.started_at, answered_at=call.answered_at, ended_at=ended_at,
            end_reason=reason, recording_path=recording_path, recording_seconds=seconds,
            screen_level=call.screen_level, screen_decision_id=call.screen_decision_id,
            queue=call.queue, is_message=call.takes_message, agent_id=call.agent_id,
            transferred_to=call.transferred_to,
            queue_seconds=self._queue_seconds(call, ended_at),
        )
        ticket_no, kept = await self._persist(record)
        if self.distributor is not None:
            await self.distributor.call_finished(call, ticket_no)
        # With an agent, whether the call brought new content is the agent's call to make at
        # wrap-up (the desk reports it); without one, no call counts as "long occupation".
        if self.screen is not None and call.caller_number and call.agent_id is None:
            try:
                # Whether the call brought new content is the agent's call to make; until the
                # desk reports it, no call counts as "long occupation without new content".
                await self.screen.record_call_end(call.caller_number, call_id=call.call_id,
                                                  duration=timedelta(seconds=record.duration_seconds),
                                                  new_content=True)
            except Exception:  # noqa: BLE001 - screening trouble never affects the call record
                log.warning("call end not reported to the screen", extra={"call_id": call.call_id})
        if tap is not None and self.audio_consumer is not None:
            try:
                await self.audio_consumer.call_ended(record.call_id, ticket_no)
            except Exception:
                log.exception("audio consumer failed at call end", extra={"call_id": call.call_id})
        if not kept:
            return  # kept in the Redis mirror; the next reconcile tries again
        await self.state.forget(channel_id)

    @staticmethod
    def _queue_seconds(call: ActiveCall, ended_at: datetime) -> float | None:
        if call.queued_at is None:
            return None
        until = call.agent_answered_at or ended_at.timestamp()
        return round(max(0.0, until - call.queued_at), 2)

    async def request_heard(self, call_id: str, caller_number: str, text: str) -> object:
        """The caller's words, transcribed live, go to the screen. Words that match the
        emergency rules lift any restriction (a caller leaving a message is queued for an
        agent after all) and flag the call on the agent's desk (`call.emergency`)."""
        if self.screen is None:
            return None
        decision = await self.screen.hear_request(caller_number, text, call_id=call_id)
        if "emergency" in decision.reasons:
            await self.emergency_heard(call_id)
        return decision

    async def emergency_heard(self, call_id: str) -> None:
        call = self.state.by_call_id(call_id)
        if call is None or call.emergency:
            return
        call.emergency = True
        if call.takes_message:
            # Never restricted: the message ends and the caller waits for an agent instead.
            call.takes_message, call.hangup_at = False, None
            timer = self._message_timers.pop(call.channel_id, None)
            if timer is not None:
                timer.cancel()
            if self.distributor is not None and QUEUED not in call.steps_done:
                await self.state.save(call)
                await self.distributor.enqueue(call)
                call.steps_done.append(QUEUED)
        await self.state.save(call)
        log.warning("emergency words heard", extra={"call_id": call_id, "agent": call.agent_id})
        if self.distributor is not None:
            await self.distributor.flag_emergency(call)

    async def start_message(self, call: ActiveCall) -> None:
        """The caller leaves a message from now on (the distributor's overflow): the line is
        closed after the maximum message length, a timer that survives restarts."""
        call.hangup_at = datetime.now(UTC).timestamp() + self.message_max_seconds
        await self.state.save(call)
        self._arm_message_timer(call)

    async def _take_dialplan_recording(self, call: ActiveCall) -> Path | None:
        """The recording the dialplan made of the call from its answer, moved among the calls'
        recordings under the call's name (the dialplan closes it at hang-up)."""
        target = self.settings.recording_dir / f"call-{call.call_id}.wav"
        taken = await take_fallback_recording(self.settings.message_spool_dir, call.channel_id, target)
        if taken is None:
            log.error("the call's recording, made by the dialplan, not found",
                      extra={"call_id": call.call_id, "channel_id": call.channel_id,
                             "spool": str(self.settings.message_spool_dir)})
        return taken

    async def _wait_for_recording(self, path: Path, timeout: float = 3.0) -> float | None:
        return await recording_seconds(path, timeout)

    async def _persist(self, record: CallRecord, attempts: int = 3) -> tuple[str | None, bool]:
        """Write the finished call: (ticket number or None, whether it is safe).

        Each attempt is bounded (`persist_timeout`): a hung database must not hold the call's
        end. When the database does not answer, the record goes to the outbox on disk, with
        its true end time, and is replayed from there; while the outbox holds calls, new ones
        queue behind them, so they are written in the order they ended."""
        outbox = self.outbox
        if outbox is not None and outbox.pending():
            return None, await self._keep_in_outbox(record)
        for attempt in range(attempts):
            try:
                async with asyncio.timeout(self.persist_timeout):
                    return await self.intake.record_finished_call(record), True
            except (HotlineError, OSError, Exception) as exc:  # noqa: BLE001 - the call must not be lost
                log.warning("writing the call record failed; retrying",
                            extra={"call_id": record.call_id, "attempt": attempt + 1,
                                   "error": str(exc) or type(exc).__name__})
                if attempt + 1 < attempts:
                    await asyncio.sleep(0.25 * (2 ** attempt))
        if outbox is not None:
            return None, await self._keep_in_outbox(record)
        log.error("call record not written; kept for the next reconcile",
                  extra={"call_id": record.call_id})
        return None, False

    async def _keep_in_outbox(self, record: CallRecord) -> bool:
        assert self.outbox is not None
        try:
            await asyncio.to_thread(self.outbox.put, record)
        except OSError:
            log.exception("outbox write failed; the call stays in the mirror",
                          extra={"call_id": record.call_id})
            return False
        return True

    # --- restart / reconnect ----------------------------------------------------------------
    async def reconcile(self) -> None:
        """Align our view with what Asterisk says the app owns after a (re)connect."""
        try:
            app = await self.rest.application()
        except AriError as exc:
            log.warning("reconcile skipped: application state unavailable", extra={"error": str(exc)})
            return
        known = await self.state.load_mirror()
        for channel_id, call in known.items():
            if channel_id in app.channel_ids:
                log.info("resuming call after reconnect", extra={"call_id": call.call_id})
                self._serial(channel_id, self._ensure_setup(call))
                leg = call.agent_channel_id
                if leg and leg not in app.channel_ids and self.distributor is not None:
                    self._serial(leg, self.distributor.agent_channel_gone(leg))
                for party in list(call.parties):
                    # Answered parties are in Stasis; ringing ones are not yet: only an answered
                    # party that is gone left while we were away.
                    if (call.parties[party].get("answered") and party not in app.channel_ids
                            and self.conference is not None):
                        self._serial(party, self.conference.party_gone(party, None))
            else:
                log.info("call ended while the bridge was away", extra={"call_id": call.call_id})
                self._serial(channel_id, self.on_call_end(channel_id, "ended_while_bridge_away"))
        agent_legs = {c.agent_channel_id for c in known.values() if c.agent_channel_id}
        party_legs = {p for c in known.values() for p in c.parties}
        for channel_id in app.channel_ids - known.keys():
            if self._side_call(channel_id) is not None:
                continue  # a relay call or desk callback of this process, still going
            if is_callback_channel(channel_id) and self.callbacks is not None \
                    and channel_id in self.callbacks.attempts:
                continue  # a survey call of this process, still going
            if is_party_channel(channel_id):
                if channel_id not in party_legs and self.conference is not None:
                    channel = await self.rest.get_channel(channel_id)
                    if channel is not None:  # answered while we were away: join it, or end it
                        self._serial(channel_id, self.conference.party_answered(channel))
                continue
            if is_agent_channel(channel_id):
                if channel_id not in agent_legs and self.distributor is not None:
                    # Answered while we were away: join it if the offer still stands.
                    channel = await self.rest.get_channel(channel_id)
                    if channel is not None:
                        self._serial(channel_id, self.distributor.agent_answered(channel))
                continue
            if is_own_resource(channel_id):
                if not self._belongs_to_live_tap(channel_id):
                    # A tap of a process that died: its websocket is gone, so is its use.
                    with suppress(AriError):
                        await self.rest.hangup(channel_id)
                continue
            channel = await self.rest.get_channel(channel_id)
            if channel is not None:
                log.info("adopting call that arrived while the bridge was away",
                         extra={"channel_id": channel_id})
                self._serial(channel_id, self.on_call_start(channel))
        referenced = {c.bridge_id for c in known.values() if c.bridge_id}
        for bridge_id in app.bridge_ids - referenced:
            if self._side_call(bridge_id) is not None:
                continue
            orphan_call_bridge = is_call_bridge(bridge_id)
            stale_tap = is_own_resource(bridge_id) and not orphan_call_bridge and \
                not self._belongs_to_live_tap(bridge_id)
            if orphan_call_bridge or stale_tap:
                log.info("destroying orphan bridge", extra={"bridge_id": bridge_id})
                with suppress(AriError):
                    await self.rest.destroy_bridge(bridge_id)

    def _belongs_to_live_tap(self, resource_id: str) -> bool:
        return any(resource_id == rid for tap in self.taps.values() for _, rid in tap.resources)
