"""Fans backend events out to the desks connected to this process, filtered per person.

Events reach Redis pub/sub from any backend node (`kernel.event_bus`); this hub holds ONE
subscription per process, whatever the number of desks, and hands each event to the desks it
concerns: an agent's own events (`events:agent:<id>`), their status from the ACD
(`events:agents`), and the live transcript of the calls they are offered or on (`events:asr`,
matched by call id). An agent never receives another agent's calls or words.

A call's transcription mode (`asr.mode`: live or post-call, per speaker) is published when a
stream opens, which for the caller is before the call is offered to anyone. The hub keeps the
last mode of each speaker of recent calls and hands it to an agent when the call is offered
to (or answered by) them, so the desk always knows whether words will come live.

The live assist (`events:assist`, `assist.update`: suggestions read from the caller's words,
computed once per call on the node that transcribes it) is routed like the transcript, to the
agents on the call only; the floor's live feed never subscribes to it. Each update is complete,
so the hub keeps the last one of each call and hands it to an agent the call is offered to
(the caller spoke while queued) or whose desk reconnects, until the call has ended.

How many callers wait (`queue.length`, all queues) goes to every desk: the ACD's queue events
carry the count; the hub keeps the last one and hands it to a desk that joins.

Each desk has a bounded outbox drained by its own writer: a slow browser only slows (and at
worst loses events of) its own socket, never the hub or another desk.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

#: Per-desk outbox; past this the oldest events are dropped (the page resyncs on reconnect).
OUTBOX_LIMIT = 500
#: Call events after which the call's transcript no longer goes to the agent.
_CALL_OVER = frozenset({"call.ended", "call.withdrawn", "call.missed"})
_CALL_START = frozenset({"call.offered", "call.answered"})
#: Calls whose last `asr.mode` per speaker the hub remembers (the oldest are forgotten first).
MODES_KEPT = 4096
#: Calls whose last `assist.update` the hub remembers (forgotten at `call.ended`, else oldest first).
ASSISTS_KEPT = 512


def agent_topic(agent_id: str) -> str:
    """The event-bus topic of one agent's desk (`RedisEventBus.publish(topic, ...)`)."""
    return f"agent:{agent_id}"


class DeskOutbox:
    """One desk's queue of outgoing text frames, drained by `run(send)`."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self._queue: asyncio.Queue[str] = asyncio.Queue(OUTBOX_LIMIT)
        self.dropped = 0

    def put(self, text: str) -> None:
        if self._queue.full():
            with suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(text)

    def put_json(self, message: dict[str, Any]) -> None:
        self.put(json.dumps(message, ensure_ascii=False, default=str))

    async def run(self, send: Callable[[str], Awaitable[None]]) -> None:
        while True:
            await send(await self._queue.get())


class DeskHub:
    def __init__(self, redis: aioredis.Redis, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._desks: dict[str, set[DeskOutbox]] = {}
        #: Which agents' desks show a call's transcript.
        self._call_agents: dict[str, set[str]] = {}
        #: call id -> speaker -> last `asr.mode` event (text), for desks that follow it later.
        self._modes: collections.OrderedDict[str, dict[str, str]] = collections.OrderedDict()
        #: call id -> its last `assist.update` (text).
        self._assists: collections.OrderedDict[str, str] = collections.OrderedDict()
        #: Agents whose last desk closed, signed out unless a desk comes back in time.
        self._closing: dict[str, asyncio.TimerHandle] = {}
        #: The last `queue.length` message (text), for desks that join.
        self._queue_length: str | None = None
        self.connected = asyncio.Event()

    # --- desks ------------------------------------------------------------------------------
    def attach(self, outbox: DeskOutbox) -> None:
        self._desks.setdefault(outbox.agent_id, set()).add(outbox)
        if self._queue_length is not None:
            outbox.put(self._queue_length)

    def detach(self, outbox: DeskOutbox) -> None:
        desks = self._desks.get(outbox.agent_id)
        if desks is not None:
            desks.discard(outbox)
            if not desks:
                del self._desks[outbox.agent_id]
                for agents in self._call_agents.values():
                    agents.discard(outbox.agent_id)
                self._call_agents = {c: a for c, a in self._call_agents.items() if a}

    def has_desk(self, agent_id: str) -> bool:
        return bool(self._desks.get(agent_id))

    def close_later(self, agent_id: str, close: Callable[[str], Awaitable[None]],
                    grace: float) -> None:
        """Run `close(agent_id)` after `grace` seconds unless a desk of the agent attaches."""
        self.cancel_close(agent_id)

        def fire() -> None:
            self._closing.pop(agent_id, None)
            task = asyncio.ensure_future(close(agent_id))
            task.add_done_callback(_log_failure)

        self._closing[agent_id] = asyncio.get_running_loop().call_later(grace, fire)

    def cancel_close(self, agent_id: str) -> None:
        handle = self._closing.pop(agent_id, None)
        if handle is not None:
            handle.cancel()

    def follow_call(self, agent_id: str, call_id: str) -> None:
        self._call_agents.setdefault(call_id, set()).add(agent_id)

    def replay(self, outbox: DeskOutbox, call_id: str) -> None:
        """What a desk that (re)joins a call is owed: each speaker's transcription mode and
        the last assist update (events published before it followed the call)."""
        for text in self._remembered(call_id):
            outbox.put(text)

    def _remembered(self, call_id: str) -> list[str]:
        assist = self._assists.get(call_id)
        return [*self._modes.get(call_id, {}).values(), *([assist] if assist else [])]

    def footprint(self) -> dict[str, int]:
        return {"agents": len(self._desks), "desks": sum(len(d) for d in self._desks.values()),
                "followed_calls": len(self._call_agents), "closing": len(self._closing),
                "call_modes": len(self._modes), "call_assists": len(self._assists)}

    # --- the subscription -------------------------------------------------------------------
    async def run(self) -> None:
        """Subscribe and route until cancelled; resubscribes after a Redis outage."""
        events = f"{self._prefix}events:"
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(f"{events}agent:*")
                await pubsub.subscribe(f"{events}agents", f"{events}asr", f"{events}assist")
                self.connected.set()
                async for message in pubsub.listen():
                    if message.get("type") in ("message", "pmessage"):
                        self._route(_text(message["channel"])[len(events):], _text(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    # The Redis client turns a cancellation mid-command into an error.
                    raise asyncio.CancelledError from exc
                self.connected.clear()
                log.warning("desk event subscription lost; retrying", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
            finally:
                with suppress(Exception):
                    await pubsub.aclose()

    def _route(self, topic: str, text: str) -> None:
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        if topic.startswith("agent:"):
            agent_id = topic[len("agent:"):]
            call_id = event.get("call_id")
            starts = isinstance(call_id, str) and event.get("type") in _CALL_START
            if isinstance(call_id, str):
                if starts:
                    self.follow_call(agent_id, call_id)
                elif event.get("type") in _CALL_OVER:
                    self._unfollow(agent_id, call_id)
                if event.get("type") == "call.ended":
                    self._assists.pop(call_id, None)
            self._deliver({agent_id}, text)
            if starts:
                for remembered in self._remembered(str(call_id)):
                    self._deliver({agent_id}, remembered)  # after the call event: the desk knows the call
        elif topic == "agents":
            subject = event.get("agent_id")
            if event.get("type") == "queue.changed":
                self._queue_changed(event)
            if isinstance(subject, str):
                self._deliver({subject}, text)
        elif topic == "asr":
            call_id = event.get("call_id")
            if isinstance(call_id, str):
                if event.get("type") == "asr.mode":
                    self._remember_mode(call_id, str(event.get("speaker")), text)
                self._deliver(self._call_agents.get(call_id, set()), text)
        elif topic == "assist":
            call_id = event.get("call_id")
            if isinstance(call_id, str) and event.get("type") == "assist.update":
                self._remember_assist(call_id, text)
                self._deliver(self._call_agents.get(call_id, set()), text)

    def _queue_changed(self, event: dict[str, Any]) -> None:
        waiting = event.get("waiting")
        if not isinstance(waiting, int) or isinstance(waiting, bool):
            return  # an ACD that could not count: the desks keep the last figure
        self._queue_length = json.dumps({"type": "queue.length", "waiting": waiting})
        self._deliver(set(self._desks), self._queue_length)

    def _remember_mode(self, call_id: str, speaker: str, text: str) -> None:
        modes = self._modes.setdefault(call_id, {})
        self._modes.move_to_end(call_id)
        modes[speaker] = text
        while len(self._modes) > MODES_KEPT:
            self._modes.popitem(last=False)

    def _remember_assist(self, call_id: str, text: str) -> None:
        self._assists[call_id] = text
        self._assists.move_to_end(call_id)
        while len(self._assists) > ASSISTS_KEPT:
            self._assists.popitem(last=False)

    def _unfollow(self, agent_id: str, call_id: str) -> None:
        agents = self._call_agents.get(call_id)
        if agents is not None:
            agents.discard(agent_id)
            if not agents:
                del self._call_agents[call_id]

    def _deliver(self, agent_ids: set[str], text: str) -> None:
        for agent_id in agent_ids:
            for outbox in self._desks.get(agent_id, ()):
                outbox.put(text)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing an agent's desk failed", exc_info=task.exception())


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class BusDeskNotifier:
    """Tells an agent's desk about their calls through the event bus (any node's hub delivers).

    Implements the call path's `DeskNotifier` port; `publish` is `RedisEventBus.publish`.
    """

    def __init__(self, publish: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        self._publish = publish

    async def notify_agent(self, agent_id: str, event: dict[str, object]) -> None:
        await self._publish(agent_topic(agent_id), {**event, "agent_id": agent_id})
