"""The live assist of each call: fed by the ASR events, it publishes `assist.update` to the desk.

One per process, on the node that transcribes the call, so there is one computation per call
and every desk following the call sees the same suggestions (`agent_desk/hub.py` routes them
by call id, like the transcript). Per call it keeps the caller's final results and the current
partial **in memory only**: partial results are never stored as transcript (the transcript
store keeps finals at hang-up, as before), and everything of a call is forgotten when its
transcript is complete.

Never blocking the transcript: `hear` is called by the ASR event sink for every event and only
notes the words (O(1)); reading them (`asr.assist.read_assist`, pure) runs later in a task of its
own, at most once per `interval` per call (the latest words win: updates in between are
merged), and the knowledge search when the caller's final words change (`knowledge_query`), at
most once per `knowledge_interval`, with a timeout; a failing search keeps the previous answers.
An update identical to the last one is not sent.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from asr.assist import CallerWords, KnowledgeCandidate, SuggestUnits, knowledge_query, read_assist
from asr.extract import Gazetteer
from asr.segments import AsrEvent, Segment, Speaker, TranscriptReady

log = logging.getLogger(__name__)

#: (query, district or None) -> published, in-force articles, best first. Joined at the root
#: (`KnowledgeStore.search`).
KnowledgeLookup = Callable[[str, str | None], Awaitable[Sequence[KnowledgeCandidate]]]
#: Sends one `assist.update` event (a JSON-able dict) to the desks: the event bus's topic
#: `assist`, which only the desks' hub reads (never the floor's live feed).
PublishAssist = Callable[[dict[str, Any]], Awaitable[None]]

#: At most this many updates per second per call reach the desk (the page is read by a person).
INTERVAL_SECONDS = 0.4
KNOWLEDGE_INTERVAL_SECONDS = 1.5
KNOWLEDGE_TIMEOUT_SECONDS = 2.0
#: Calls followed at once; the oldest is forgotten first (a call whose transcript never
#: completes must not stay forever).
MAX_CALLS = 2000


@dataclass(slots=True)
class _Call:
    call_id: str
    finals: list[str] = field(default_factory=list)
    partial: str = ""
    dirty: bool = False
    last_run: float = float("-inf")
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None
    seq: int = 0
    last_sent: dict[str, Any] | None = None
    knowledge_key: tuple[str, str | None] | None = None
    knowledge_at: float = float("-inf")
    candidates: Sequence[KnowledgeCandidate] = ()

    def words(self) -> CallerWords:
        return CallerWords(tuple(self.finals), self.partial)


class LiveAssist:
    def __init__(self, gazetteer: Gazetteer, suggest_units: SuggestUnits | None,
                 knowledge: KnowledgeLookup | None, publish: PublishAssist, *,
                 interval: float = INTERVAL_SECONDS,
                 knowledge_interval: float = KNOWLEDGE_INTERVAL_SECONDS,
                 knowledge_timeout: float = KNOWLEDGE_TIMEOUT_SECONDS,
                 max_calls: int = MAX_CALLS) -> None:
        self.gazetteer = gazetteer
        self.suggest_units = suggest_units
        self.knowledge = knowledge
        self.publish = publish
        self.interval = interval
        self.knowledge_interval = knowledge_interval
        self.knowledge_timeout = knowledge_timeout
        self.max_calls = max_calls
        self._calls: collections.OrderedDict[str, _Call] = collections.OrderedDict()
        #: Last updates of calls already forgotten (their transcript completed meanwhile).
        self._last: set[asyncio.Task[None]] = set()
        self.updates = 0  # sent, for metrics and tests
        self.failures = 0

    @property
    def calls(self) -> int:
        return len(self._calls)

    # --- input: the ASR event sink --------------------------------------------------------
    def hear(self, event: AsrEvent) -> None:
        """Note the caller's words (live results only); the reading is scheduled, never done here."""
        if isinstance(event, TranscriptReady):
            self._finish(event.transcript.call_id)
            return
        if not isinstance(event, Segment) or event.speaker is not Speaker.CALLER or not event.live:
            return
        call = self._calls.get(event.call_id)
        if call is None:
            call = self._calls[event.call_id] = _Call(event.call_id)
            while len(self._calls) > self.max_calls:
                _, oldest = self._calls.popitem(last=False)
                self._cancel(oldest)
        else:
            self._calls.move_to_end(event.call_id)
        if event.final:
            if event.text.strip():
                call.finals.append(event.text)
            call.partial = ""
        else:
            call.partial = event.text
        call.dirty = True
        self._schedule(call)

    # --- the throttle -------------------------------------------------------------------
    def _schedule(self, call: _Call, *, at: float | None = None) -> None:
        if call.timer is not None or (call.task is not None and not call.task.done()):
            return  # an update is due or running; it re-schedules itself if words came meanwhile
        loop = asyncio.get_running_loop()
        due = call.last_run + self.interval if at is None else at
        call.timer = loop.call_later(max(0.0, due - time.monotonic()), self._start, call)

    def _start(self, call: _Call) -> None:
        call.timer = None
        if self._calls.get(call.call_id) is not call:
            return
        call.task = asyncio.create_task(self._update(call), name=f"assist-{call.call_id}")
        call.task.add_done_callback(lambda _: self._after(call))

    def _after(self, call: _Call) -> None:
        if self._calls.get(call.call_id) is not call:
            return
        if call.dirty:
            self._schedule(call)
        elif self._knowledge_stale(call):  # the words changed, the search was too recent
            self._schedule(call, at=max(call.knowledge_at + self.knowledge_interval, call.last_run + self.interval))

    # --- one update ---------------------------------------------------------------------
    async def _update(self, call: _Call) -> None:
        call.dirty = False
        call.last_run = time.monotonic()
        words = call.words()
        try:
            if self._knowledge_stale(call) and time.monotonic() >= call.knowledge_at + self.knowledge_interval:
                await self._search(call)
            assist = read_assist(words, self.gazetteer, self.suggest_units, call.candidates)
            payload = assist.to_dict()
            if payload == call.last_sent:
                return
            call.last_sent = payload
            call.seq += 1
            await self.publish({"type": "assist.update", "call_id": call.call_id, "seq": call.seq, **payload})
            # The next update is due `interval` after this one went out, not after this one
            # started: a slow reading (a busy node) would otherwise let two updates reach
            # the desk back to back.
            call.last_run = time.monotonic()
            self.updates += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # the assist must never disturb the call or its transcript
            self.failures += 1
            log.exception("live assist update failed", extra={"call_id": call.call_id})

    def _knowledge_key(self, call: _Call) -> tuple[str, str | None] | None:
        if self.knowledge is None:
            return None
        query = knowledge_query(call.words())
        if not query:
            return None
        district = call.last_sent.get("district") if call.last_sent else None
        return query, district["value"] if isinstance(district, dict) else None

    def _knowledge_stale(self, call: _Call) -> bool:
        key = self._knowledge_key(call)
        return key is not None and key != call.knowledge_key

    async def _search(self, call: _Call) -> None:
        assert self.knowledge is not None
        key = self._knowledge_key(call)
        if key is None:
            return
        call.knowledge_key, call.knowledge_at = key, time.monotonic()
        try:
            async with asyncio.timeout(self.knowledge_timeout):
                call.candidates = tuple(await self.knowledge(*key))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database away or slow: the answers found before stay
            self.failures += 1
            log.warning("knowledge search for the live assist failed",
                        extra={"call_id": call.call_id, "error": str(exc) or type(exc).__name__})

    # --- the end of a call ----------------------------------------------------------------
    def _finish(self, call_id: str) -> None:
        """The call's transcript is complete: send the last words' update if one is owed,
        then forget the call."""
        call = self._calls.get(call_id)
        if call is None:
            return
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        del self._calls[call_id]
        if call.dirty:
            running = call.task if call.task is not None and not call.task.done() else None
            last = asyncio.create_task(self._last_update(call, running), name=f"assist-{call_id}-last")
            self._last.add(last)
            last.add_done_callback(self._last.discard)

    async def _last_update(self, call: _Call, running: asyncio.Task[None] | None) -> None:
        if running is not None:
            await asyncio.wait({running})  # in order: the newest words are sent last
        await self._update(call)

    def _cancel(self, call: _Call) -> None:
        if call.timer is not None:
            call.timer.cancel()
        if call.task is not None:
            call.task.cancel()

    async def aclose(self) -> None:
        calls, self._calls = list(self._calls.values()), collections.OrderedDict()
        tasks = [c.task for c in calls if c.task is not None] + list(self._last)
        for task in self._last:
            task.cancel()
        for call in calls:
            self._cancel(call)
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
