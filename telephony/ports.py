"""What the call path needs from other capabilities, stated as protocols (ports).

The call flow records finished calls, screens callers, hands audio to a consumer, puts callers
in front of agents and routes the events of calls placed by others; it does not know who does
that. Intake (`tickets.intake`), the anti-abuse screen (`abuse.limiter`), live transcription
(`asr.live_calls`), the queue (`call_queue.distributor`) and the outbound calls (`outbound/`)
implement these protocols, and only the composition root (`hotline.composition`) joins the two
sides, so none of them is imported by the call path. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from telephony.active_call import ActiveCall
from telephony.ari.models import Channel
from telephony.call_record import CallRecord

#: Where a call's audio goes: `sink(speaker, frame)` with speaker "caller" or "agent".
AudioSink = Callable[[str, bytes], Awaitable[None] | None]


class ScreenDecision(Protocol):
    """The screen's answer for one call, as the call path uses it."""

    @property
    def decision_id(self) -> str: ...

    @property
    def level(self) -> str: ...

    @property
    def prompt(self) -> str | None: ...

    @property
    def offers_message(self) -> bool:
        """The caller hears a restriction notice and may leave a message (no agent)."""
        ...

    @property
    def routes_to_senior_queue(self) -> bool: ...

    @property
    def reasons(self) -> Sequence[str]:
        """Why: `emergency` when the caller's words matched the emergency rules."""
        ...


class CallScreen(Protocol):
    """The anti-abuse screen (implemented by `abuse.limiter.AbuseScreen`)."""

    async def decide(self, caller_number: str | None, *, request_text: str | None = None,
                     call_id: str | None = None) -> ScreenDecision: ...

    async def record_call_end(self, caller_number: str, *, call_id: str, duration: timedelta,
                              new_content: bool) -> object: ...

    async def hear_request(self, caller_number: str, request_text: str, *,
                           call_id: str) -> ScreenDecision:
        """What the caller said, once transcribed (emergency words override every measure)."""
        ...


class CallRecorder(Protocol):
    """Writes a finished call and its draft ticket (implemented by `tickets.intake.CallIntake`)."""

    async def record_finished_call(self, record: CallRecord) -> str:
        """Store the call; return the ticket number. Idempotent per channel."""
        ...


#: Seals a finished call's recording at rest and returns the record naming the sealed file (the
#: composition's `SealingRecorder.sealed`), for calls stored outside `CallRecorder` (the desk's
#: callbacks, the confidential relay).
SealRecording = Callable[[CallRecord], Awaitable[CallRecord]]

#: Seals a short recording that is not a call's (a spoken survey answer) at rest, removes the
#: plain file and returns the sealed file's path (the composition's `seal_recording_file`).
SealFile = Callable[[Path], Awaitable[Path]]


class CallAudioConsumer(Protocol):
    """Receives a call's audio per speaker (live transcription plugs in here)."""

    def call_started(self, call_id: str, caller_number: str, since: float = 0.0) -> AudioSink | None:
        """Return where to send audio, or None when this call gets no live consumer.

        `since`: seconds the call has lasted before this audio (a call adopted after a restart,
        or a caller the dialplan's fallback answered and recorded before handing them over)."""

    async def call_ended(self, call_id: str, ticket_no: str | None) -> None:
        """The call is over and its frames are all delivered."""


class CallQueue(Protocol):
    """Puts answered callers in front of agents (the ACD: `call_queue.distributor.CallDistributor`).

    The flow hands it a caller once set up, routes the agent legs' events to it, and tells it
    when the call ends; what happens in between (offers, music, position announcements, the
    overflow to a message) is the queue's."""

    async def enqueue(self, call: ActiveCall) -> None:
        """The caller waits for an agent from now on; safe to repeat after a restart."""
        ...

    async def flag_emergency(self, call: ActiveCall) -> None:
        """Emergency words were heard: the agent on (or offered) the call is told at once."""
        ...

    async def agent_answered(self, channel: Channel) -> None:
        """An agent's leg (`telephony.resource_ids.agent_channel_id`) entered the application."""
        ...

    async def agent_channel_gone(self, channel_id: str) -> None:
        """An agent's leg ended: an offer not answered, or the agent hung up."""
        ...

    async def call_ending(self, call: ActiveCall) -> None:
        """The caller hung up: out of the queue, offers withdrawn, the agent's leg released."""
        ...

    async def call_finished(self, call: ActiveCall, ticket_no: str | None) -> None:
        """The call is recorded (its ticket number, when written)."""
        ...

    def footprint(self) -> dict[str, int]:
        """Entries kept for calls in progress ("offers", "announced"): all 0 when none is."""
        ...


class SurveyCalls(Protocol):
    """The satisfaction-survey calls the hotline places (回访, `outbound.callback_dialer`).

    Their channels carry `telephony.resource_ids.callback_channel_id`; the flow routes their
    events here."""

    @property
    def attempts(self) -> Container[str]:
        """Channels of the survey calls this process has placed and not finished."""
        ...

    async def answered(self, channel: Channel) -> None: ...

    async def key_pressed(self, channel_id: str, digit: str) -> None: ...

    async def gone(self, channel_id: str, cause: int | None) -> None:
        """The call's leg ended (`cause`: Q.850, when known)."""
        ...


class DeskNotifier(Protocol):
    """Tells one agent's desk what happens to the calls offered to them (`agent_desk`)."""

    async def notify_agent(self, agent_id: str, event: dict[str, object]) -> None:
        """Best effort: a desk that is away catches up from the agent's state on reconnect."""
        ...


class DueCallback(Protocol):
    """A callback the hotline owes a citizen, as the dialer needs it."""

    @property
    def id(self) -> str: ...

    @property
    def ticket_no(self) -> str: ...

    @property
    def caller_number(self) -> str: ...


class CallbackTasks(Protocol):
    """The callback tasks and their effect on tickets (implemented by `tickets.callbacks`)."""

    async def take_for_agent(self, task_id: str, agent_id: str) -> DueCallback | None:
        """A task on the agents' list, taken for a call the agent places from the desk; None
        when it is not on the list (done, or being called)."""
        ...

    async def agent_call_over(self, task_id: str, reached: bool, reason: str,
                              record: CallRecord | None = None) -> None:
        """The agent's call ended: the citizen was reached (the agent records the answer on
        the ticket), or not (the task stays on the list). `record`: the call and its recording."""
        ...

    async def due_surveys(self, limit: int = 10) -> Sequence[DueCallback]: ...

    async def claim(self, task_id: str) -> bool:
        """Take a due task for one attempt; False when another node took it first."""
        ...

    async def answered(self, task_id: str, digit: str | None,
                       recording: Path | None = None) -> str:
        """The citizen answered and pressed `digit` (None: no key; `recording`: what they
        said instead, for an agent to confirm)."""
        ...

    async def transcribed(self, task_id: str, transcript: str) -> None:
        """What the ASR heard in a spoken answer."""
        ...

    async def answer_sealed(self, task_id: str, sealed: Path) -> None:
        """The spoken answer's recording now lives sealed at rest at `sealed`."""
        ...

    async def not_reached(self, task_id: str, reason: str) -> str:
        """Busy, no answer, failed: retried later or handed to an agent."""
        ...


class RelayGrant(Protocol):
    """A one-time code accepted for one relay call (保密联络): whom to dial, for which ticket."""

    @property
    def code_id(self) -> str: ...

    @property
    def ticket_no(self) -> str: ...

    @property
    def citizen_number(self) -> str: ...


class RelayDirectory(Protocol):
    """Checks relay codes and writes relay calls on tickets (implemented by `tickets.relay`)."""

    async def open(self, code: str, calling_number: str) -> tuple[RelayGrant | None, str]:
        """(grant, "accepted"), or (None, "wrong_code" | "expired" | "locked_out")."""
        ...

    async def release_code(self, code_id: str) -> None:
        """The caller was not reached: the code may be keyed in again."""
        ...

    async def record_relay_call(self, code_id: str, ticket_no: str, record: CallRecord, *,
                                connected: bool, talk_seconds: float) -> None:
        """The relay call is over: its call record and a ticket event."""
        ...


class SideCalls(Protocol):
    """Calls beside the citizens' calls to 12345, with channels and bridges of their own (the
    confidential relay, callbacks placed from the desk). The call flow routes their events."""

    def owns(self, resource_id: str) -> bool:
        """A channel or bridge of one of its calls in progress."""
        ...

    def claims(self, channel: Channel) -> bool:
        """A new call into the application that is its, not a citizen's (e.g. the number dialled)."""
        ...

    async def started(self, channel: Channel) -> None:
        """The channel entered the application: a new call it claims, or a leg it placed answered."""
        ...

    async def key_pressed(self, channel_id: str, digit: str) -> None: ...

    async def gone(self, channel_id: str, cause: int | None) -> None:
        """One of its legs ended (`cause`: Q.850, when known)."""
        ...

    def footprint(self) -> int:
        """Entries kept for calls in progress: 0 when none is."""
        ...


class AnswerTranscriber(Protocol):
    """Post-call speech recognition of a short recording (a spoken survey answer)."""

    async def transcribe_answer(self, path: Path, task_id: str) -> str | None:
        """The words heard; None when no speech recognition is available."""
        ...
