"""Call distribution (ACD): a screened, greeted caller waits for the longest-idle agent.

After the greeting the caller waits in their own (recorded) bridge with music on hold and hears
their place in the queue now and then (zh-CN prompts). Who gets which call is decided by the
pure policy (`call_queue.queue_policy`) inside the shared ACD store (`call_queue.acd`, Redis), so
that state survives a backend restart and two nodes never offer one agent two calls. An offer
rings the agent's softphone (an ARI originate to `PJSIP/agent-<id>`); when the agent answers,
their channel joins the caller's bridge, so recording, snooping and transcription go on as
before. An offer that is not answered in time moves on and puts the agent on a "no answer"
break; a caller who waits longer than the limit is offered to leave a message instead, which
becomes a ticket with a callback task. Nothing here drops a caller.

The distributor never blocks the ARI event reader: CallFlow routes the agent channels' events
here through its per-channel queues, and the distribution round runs in its own task, woken by
every change and at least once a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime

from call_queue.acd import AcdStore
from call_queue.agent_state import AgentStatus
from call_queue.queue_policy import Offer
from kernel.clock import Clock, utc_now
from kernel.errors import AriError, Conflict, HotlineError, IllegalTransition, NotFound, Unavailable
from kernel.privacy import mask_phone
from telephony.active_call import ActiveCall
from telephony.ari.models import Channel
from telephony.ari.rest import AriRest
from telephony.call_metrics import CallMetrics
from telephony.call_state import CallStateStore
from telephony.ports import DeskNotifier
from telephony.prompts import BEEP, QUEUE_OVERFLOW, PromptSet
from telephony.resource_ids import agent_channel_id, parse_agent_channel
from telephony.settings import QueueSettings
from telephony.softphone import agent_endpoint

log = logging.getLogger(__name__)

#: Extra time after the softphone's own ring timeout before an offer is declared missed
#: (Asterisk ends the ringing channel itself; this covers a lost event or a restart).
OFFER_GRACE_SECONDS = 3.0


class CallDistributor:
    def __init__(self, rest: AriRest, acd: AcdStore, state: CallStateStore,
                 settings: QueueSettings, prompts: PromptSet, *,
                 notifier: DeskNotifier | None = None,
                 start_message: Callable[[ActiveCall], Awaitable[None]] | None = None,
                 clock: Clock = utc_now, metrics: CallMetrics | None = None) -> None:
        self.rest = rest
        self.acd = acd
        self.state = state
        self.settings = settings
        self.prompts = prompts
        self.notifier = notifier
        #: Turns a caller into a message-leaver (CallFlow.start_message), set by the root.
        self.start_message = start_message
        self._clock = clock
        self.metrics = metrics if metrics is not None else CallMetrics()
        self._wake = asyncio.Event()
        #: Offers ringing now, by the agent channel's id -> (call id, agent id).
        self.offers: dict[str, tuple[str, str]] = {}
        #: Last position announcement per waiting call (monotonic seconds).
        self.announced: dict[str, float] = {}

    # --- the caller's side ------------------------------------------------------------------
    async def enqueue(self, call: ActiveCall) -> None:
        """Music on hold, then the queue; safe to repeat after a restart."""
        assert call.bridge_id is not None
        with suppress(AriError):
            await self.rest.start_bridge_moh(call.bridge_id, self.settings.moh_class)
        if call.queued_at is None:
            call.queued_at = self._clock().timestamp()
            await self.state.save(call)
        try:
            with suppress(Conflict):  # already waiting (a restart mid-enqueue): keep its place
                await self.acd.enqueue(call.call_id, call.queue, enqueued_at=datetime.fromtimestamp(
                    call.queued_at, UTC))
        except Unavailable as exc:
            # No queue without Redis: no agent can be offered the call. The caller is not left
            # in music on hold; they leave a message (a ticket with a callback task) at once.
            self._redis_failed("enqueue", call.call_id, exc)
            await self._leave_message(call, "Redis is unavailable; the caller leaves a message")
            return
        log.info("caller queued", extra={"call_id": call.call_id, "queue": call.queue})
        self.wake()

    async def flag_emergency(self, call: ActiveCall) -> None:
        """Emergency words: the agent on (or offered) the call sees the flag at once."""
        agents = {agent for _, (cid, agent) in self.offers.items() if cid == call.call_id}
        if call.agent_id:
            agents.add(call.agent_id)
        for agent in agents:
            await self._notify(agent, {"type": "call.emergency", "call_id": call.call_id})

    async def requeue(self, call: ActiveCall, reason: str) -> None:
        """The caller is alone again (a blind transfer the line never answered): back in the
        queue for the next agent, never hung up on. The agent who sent them on is told."""
        previous = call.agent_id
        call.agent_id, call.agent_channel_id, call.agent_answered_at = None, None, None
        # A fresh wait: the time they spent talking must not count against the queue's limit.
        call.queued_at = None
        await self.state.save(call)
        await self.enqueue(call)
        log.info("caller back in the queue", extra={"call_id": call.call_id, "reason": reason,
                                                    "agent": previous})
        if previous:
            await self._notify(previous, {"type": "call.requeued", "call_id": call.call_id,
                                          "reason": reason})

    async def call_ending(self, call: ActiveCall) -> None:
        """The caller hung up: leave the queue, stop any offer, release the agent's leg."""
        self.announced.pop(call.call_id, None)
        try:
            with suppress(NotFound):  # answered or never queued: nothing to take back
                # A call ringing an agent is withdrawn: the agent is available again, in place.
                await self.acd.dequeue(call.call_id)
        except Unavailable as exc:
            # The queue entry stays behind; an agent offered it is sent back (`_place`).
            self._redis_failed("dequeue", call.call_id, exc)
        for channel_id, (call_id, agent_id) in list(self.offers.items()):
            if call_id == call.call_id:
                self.offers.pop(channel_id, None)
                await self._hangup(channel_id)
                await self._notify(agent_id, {"type": "call.withdrawn", "call_id": call_id})
        if call.agent_id and call.agent_channel_id:
            channel_id, call.agent_channel_id = call.agent_channel_id, None
            await self._hangup(channel_id)
            await self._agent_call_over(call.agent_id, call.call_id)
        self.wake()

    async def call_finished(self, call: ActiveCall, ticket_no: str | None) -> None:
        """The call is recorded: the agent's desk learns its ticket (for the wrap-up form)."""
        if call.agent_id:
            await self._notify(call.agent_id, {"type": "call.ended", "call_id": call.call_id,
                                               "ticket_no": ticket_no})

    # --- the agent's side -------------------------------------------------------------------
    async def agent_answered(self, channel: Channel) -> None:
        """An agent's softphone answered an offer: join them to the caller."""
        parsed = parse_agent_channel(channel.id)
        if parsed is None:
            return
        agent_id, call_id = parsed
        offered_here = self.offers.pop(channel.id, None) is not None
        call = self.state.by_call_id(call_id)
        try:
            agent = await self.acd.agent(agent_id)
            offered = agent.status is AgentStatus.RINGING and agent.call_id == call_id
        except NotFound:
            offered = False
        except Unavailable as exc:
            # The ACD cannot confirm the offer; this node's own record of it can.
            self._redis_failed("agent", call_id, exc)
            offered = offered_here
        if call is None or call.agent_id is not None or call.bridge_id is None or not offered:
            log.info("late answer to a finished offer; releasing the agent's leg",
                     extra={"call_id": call_id, "agent": agent_id})
            await self._hangup(channel.id)
            return
        with suppress(AriError):
            await self.rest.stop_bridge_moh(call.bridge_id)
        await self.rest.add_channel(call.bridge_id, channel.id)
        now = self._clock()
        waited = now.timestamp() - call.queued_at if call.queued_at is not None else None
        try:
            await self.acd.offer_answered(call_id, agent_id, waited_seconds=waited)
        except Unavailable as exc:
            self._redis_failed("offer_answered", call_id, exc)
        call.agent_id, call.agent_channel_id = agent_id, channel.id
        call.agent_answered_at = now.timestamp()
        await self.state.save(call)
        self.announced.pop(call_id, None)
        log.info("agent answered", extra={"call_id": call_id, "agent": agent_id})
        await self._notify(agent_id, {"type": "call.answered", **self.call_view(call)})

    async def agent_channel_gone(self, channel_id: str) -> None:
        """An agent's leg ended: an offer not answered, or the agent hung up."""
        offer = self.offers.pop(channel_id, None)
        if offer is not None:
            await self._missed(channel_id, *offer)
            return
        call = next((c for c in self.state.calls.values() if c.agent_channel_id == channel_id), None)
        if call is None or call.agent_id is None:
            return
        call.agent_channel_id = None
        await self.state.save(call)
        await self._agent_call_over(call.agent_id, call.call_id)
        if call.parties:
            return  # a unit (or an emergency line) is with the caller: their call goes on
        # The agent ends the service; the citizen is not left alone in a silent bridge.
        await self._hangup(call.channel_id)

    # --- the distribution round -------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Distribute until cancelled: on every change, and at least once a second."""
        while True:
            with suppress(TimeoutError):  # asyncio.timeout: never swallows a cancellation
                async with asyncio.timeout(1.0):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.distribute()
            except (HotlineError, OSError) as exc:
                log.warning("distribution round failed; retrying", extra={"error": str(exc)})
            except Exception:
                log.exception("distribution round failed; retrying")

    async def distribute(self) -> None:
        now = self._clock()
        # First, what needs no Redis: a caller waits no longer than the limit, Redis or not.
        await self._overflow(now)
        await self._apply_limits(now)
        while (offer := await self.acd.claim_next_offer(now)) is not None:
            await self._place(offer)
        await self._announce_positions()

    async def _place(self, offer: Offer) -> None:
        call = self.state.by_call_id(offer.call_id)
        if call is None or call.bridge_id is None or call.takes_message or call.agent_id is not None:
            # Not a call of this process (ended meanwhile): give the agent back at once.
            with suppress(NotFound, Conflict):
                await self.acd.dequeue(offer.call_id)
            return
        channel_id = agent_channel_id(call.call_id, offer.agent_id)
        self.offers[channel_id] = (call.call_id, offer.agent_id)
        await self._notify(offer.agent_id, {"type": "call.offered", **self.call_view(call)})
        try:
            await self.rest.originate(
                agent_endpoint(offer.agent_id), channel_id=channel_id,
                app_args=f"agent,{call.call_id}",
                caller_id=f'"12345 {mask_phone(call.caller_number)}" <12345>',
                timeout=self.settings.offer_timeout_seconds)
        except AriError as exc:
            log.warning("agent could not be rung; the offer moves on",
                        extra={"call_id": call.call_id, "agent": offer.agent_id, "error": str(exc)})
            self.offers.pop(channel_id, None)
            await self._missed(channel_id, call.call_id, offer.agent_id)
            return
        log.info("call offered", extra={"call_id": call.call_id, "agent": offer.agent_id})

    async def _missed(self, channel_id: str, call_id: str, agent_id: str) -> None:
        await self._hangup(channel_id)
        try:
            with suppress(NotFound, Conflict, IllegalTransition):  # already moved on (sweep, restart)
                await self.acd.offer_missed(call_id, agent_id)
        except Unavailable as exc:  # the ACD's sweep counts the offer missed when Redis is back
            self._redis_failed("offer_missed", call_id, exc)
        log.info("offer not answered; moving on", extra={"call_id": call_id, "agent": agent_id})
        await self._notify(agent_id, {"type": "call.missed", "call_id": call_id})
        self.wake()

    async def _apply_limits(self, now: datetime) -> None:
        """The ACD's limits (`sweep`): wrap-ups past their limit end; offers left ringing past
        theirs (a lost event, a restart) count as missed. Ringing legs of those are hung up."""
        for agent in await self.acd.sweep(now):
            if agent.status is AgentStatus.RINGING:
                continue
            for channel_id, (call_id, agent_id) in list(self.offers.items()):
                if agent_id == agent.agent_id:
                    self.offers.pop(channel_id, None)
                    await self._hangup(channel_id)
                    await self._notify(agent_id, {"type": "call.missed", "call_id": call_id})
            if agent.status is AgentStatus.AVAILABLE:
                await self._notify(agent.agent_id, {"type": "agent.wrap_up_expired"})

    async def _overflow(self, now: datetime) -> None:
        """Callers who waited past the limit leave a message (a ticket with a callback task)."""
        for call in list(self.state.calls.values()):
            if (call.queued_at is None or call.agent_id is not None or call.takes_message
                    or call.bridge_id is None or self._offered(call.call_id)):
                continue
            if now.timestamp() - call.queued_at <= self.settings.max_wait_seconds:
                continue
            try:
                with suppress(NotFound):
                    await self.acd.dequeue(call.call_id)
            except Unavailable as exc:  # the entry left behind is sent back by `_place`
                self._redis_failed("dequeue", call.call_id, exc)
            await self._leave_message(call, "no agent within the limit; the caller leaves a message")

    async def _leave_message(self, call: ActiveCall, why: str) -> None:
        """The caller leaves a message instead of waiting (a ticket with a callback task)."""
        assert call.bridge_id is not None
        self.announced.pop(call.call_id, None)
        call.takes_message = True
        log.info(why, extra={"call_id": call.call_id})
        with suppress(AriError):
            await self.rest.stop_bridge_moh(call.bridge_id)
            await self.rest.play_on_bridge(call.bridge_id, QUEUE_OVERFLOW)
            await self.rest.play_on_bridge(call.bridge_id, BEEP)
        if self.start_message is not None:
            await self.start_message(call)
        await self.state.save(call)

    async def _announce_positions(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        every = self.settings.announce_every_seconds
        # A call can end while a round awaits Redis for it (and be re-noted after its end's
        # clean-up): notes of calls that are gone go here, so none outlives its call.
        live = {call.call_id for call in self.state.calls.values()}
        for call_id in self.announced.keys() - live:
            del self.announced[call_id]
        for call in list(self.state.calls.values()):
            if (call.queued_at is None or call.agent_id is not None or call.takes_message
                    or self._offered(call.call_id)):
                continue
            last = self.announced.get(call.call_id)
            if last is not None and loop_now - last < every:
                continue
            if last is None and self._clock().timestamp() - call.queued_at < 1.0:
                continue  # give the first distribution round its chance to find an agent
            try:
                position = await self.acd.position(call.call_id)
            except NotFound:
                continue  # ringing an agent right now
            if self.state.calls.get(call.channel_id) is not call or call.agent_id is not None:
                continue  # ended (or answered) while we asked
            self.announced[call.call_id] = loop_now
            with suppress(AriError):
                # On the caller's channel: the bridge's music goes on for the recording, the
                # caller hears the announcement over it. "您前面还有N位": N callers ahead.
                await self.rest.play_on_channel(call.channel_id,
                                                self.prompts.position_prompt(position - 1))
            log.info("queue position announced",
                     extra={"call_id": call.call_id, "position": position})

    # --- helpers ----------------------------------------------------------------------------
    def footprint(self) -> dict[str, int]:
        """Offers ringing and position notes kept on this node: both 0 when no call waits."""
        return {"offers": len(self.offers), "announced": len(self.announced)}

    def _redis_failed(self, operation: str, call_id: str, exc: Unavailable) -> None:
        """The ACD did not answer within its bound; the call goes on without it."""
        self.metrics.queue_redis_failures.labels(operation).inc()
        log.warning("queue state unavailable (Redis); the call goes on without it",
                    extra={"call_id": call_id, "operation": operation,
                           "error": exc.message, **exc.context})

    def _offered(self, call_id: str) -> bool:
        return any(cid == call_id for cid, _ in self.offers.values())

    async def _agent_call_over(self, agent_id: str, call_id: str) -> None:
        try:
            with suppress(NotFound, IllegalTransition, Conflict):
                await self.acd.call_ended(agent_id)
        except Unavailable as exc:  # the agent's desk can end the call again once Redis is back
            self._redis_failed("call_ended", call_id, exc)
        await self._notify(agent_id, {"type": "call.hung_up", "call_id": call_id})

    async def _hangup(self, channel_id: str) -> None:
        if channel_id:
            with suppress(AriError):
                await self.rest.hangup(channel_id)

    async def _notify(self, agent_id: str, event: dict[str, object]) -> None:
        if self.notifier is None:
            return
        try:
            await self.notifier.notify_agent(agent_id, event)
        except Exception:  # noqa: BLE001 - a desk notice never affects the call
            log.warning("desk not notified", extra={"agent": agent_id, "type": event.get("type")})

    def call_view(self, call: ActiveCall) -> dict[str, object]:
        """What the agent's desk shows of a call (hotline staff see the caller's number)."""
        waited = None
        if call.queued_at is not None:
            waited = round((call.agent_answered_at or self._clock().timestamp()) - call.queued_at, 1)
        return {"call_id": call.call_id, "caller_number": call.caller_number,
                "caller_name": call.caller_name, "queue": call.queue,
                "screen_level": call.screen_level, "waited_seconds": waited,
                "started_at": call.started_at.isoformat(), "emergency": call.emergency}
