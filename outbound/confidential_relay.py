"""The confidential relay call (保密联络): a unit reaches a confidential caller, never their number.

临沂条例第十七条第四项: a caller may ask that the units handling their request never learn who
they are. A unit that must speak to such a caller phones the hotline's relay number and keys in
the ticket's one-time code (`tickets/relay.py` checks it: only from a line the unit directory
registers for one of the ticket's units, expiry, single use, wrong codes limited per calling
number and for all callers together, every attempt audited). The hotline then calls the caller itself,
with the hotline's caller id, and bridges the two in a recorded bridge of its own. The unit's
leg only ever talks to Asterisk: the caller's number appears in no message the unit's phone
receives, and in no API answer the unit can read.

Every way out (wrong code, caller busy or not answering, either side hanging up during set-up
or during the call) ends with both legs hung up and the bridge destroyed. A call that got as
far as a valid code is written on the ticket: its call record (with the recording) and a
`RelayCallHeld` event.

State is kept in this process only: after a restart the call flow's reconcile hangs up the
relay legs and bridges it no longer knows (the unit can phone again; the code was not used).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kernel.errors import AriError, HotlineError
from kernel.privacy import mask_phone
from telephony.ari.models import Channel
from telephony.ari.rest import AriRest
from telephony.call_record import CallRecord
from telephony.dial import number_dial
from telephony.ports import RelayDirectory, RelayGrant, SealRecording
from telephony.prompts import (
    RELAY_CONNECTING,
    RELAY_ENTER_CODE,
    RELAY_NOT_REACHED,
    RELAY_REFUSED,
    RELAY_WRONG_CODE,
)
from telephony.recording_length import recording_seconds
from telephony.resource_ids import is_relay_citizen_channel, relay_call_of, relay_ids
from telephony.settings import RelaySettings

log = logging.getLogger(__name__)

ACCEPTED = "accepted"


@dataclass
class _Relay:
    """One relay call, from the unit's arrival to both legs gone."""

    call_id: str
    unit_channel: str
    calling_number: str
    calling_name: str
    dialed: str
    started_at: datetime
    bridge_id: str
    citizen_channel: str
    answered_at: datetime | None = None
    digits: str = ""
    tries: int = 0
    checking: bool = False
    grant: RelayGrant | None = None
    recording_name: str | None = None
    citizen_ringing: bool = False
    connected_at: datetime | None = None
    finished: bool = False
    timer: asyncio.TimerHandle | None = None
    #: The prompt playing to the unit: stopped before the next one, or before bridging
    #: (Asterisk runs a channel's commands in order, after its playbacks).
    playback: str | None = None


class ConfidentialRelay:
    def __init__(self, rest: AriRest, directory: RelayDirectory, settings: RelaySettings, *,
                 node_id: str, recording_dir: Path, recording_format: str = "wav",
                 seal: SealRecording | None = None) -> None:
        self.rest = rest
        #: Seals the relay call's recording at rest before it is stored (kernel/sealed_files.py).
        self.seal = seal
        self.directory = directory
        self.settings = settings
        self.node_id = node_id
        self.recording_dir = recording_dir
        self.recording_format = recording_format
        #: Relay calls in progress, by call id; `_by_unit` finds them from the unit's channel.
        self.calls: dict[str, _Relay] = {}
        self._by_unit: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- routing (asked by the call flow) ---------------------------------------------------
    def claims(self, channel: Channel) -> bool:
        """A call into the application that dialled a relay number."""
        return bool(channel.dialed_exten) and channel.dialed_exten in self.settings.numbers

    async def started(self, channel: Channel) -> None:
        if is_relay_citizen_channel(channel.id):
            await self.citizen_answered(channel)
        else:
            await self.unit_arrived(channel)

    def owns(self, resource_id: str) -> bool:
        """A unit's leg, the citizen's leg or the bridge of a relay call in progress here."""
        if resource_id in self._by_unit:
            return True
        call_id = relay_call_of(resource_id)
        return call_id is not None and call_id in self.calls

    def footprint(self) -> int:
        return len(self.calls) + len(self._by_unit)

    # --- the unit's leg ---------------------------------------------------------------------
    async def unit_arrived(self, channel: Channel) -> None:
        if channel.id in self._by_unit:
            return  # seen again after a reconnect
        call_id = str(uuid.uuid4())
        bridge_id, citizen_channel = relay_ids(call_id)
        relay = _Relay(call_id, channel.id, channel.caller_number, channel.caller_name,
                       channel.dialed_exten, channel.created_at or datetime.now(UTC),
                       bridge_id, citizen_channel)
        self.calls[call_id] = relay
        self._by_unit[channel.id] = call_id
        log.info("relay call arrived", extra={"call_id": call_id,
                                              "caller": mask_phone(channel.caller_number)})
        try:
            await self.rest.answer(channel.id)
            relay.answered_at = datetime.now(UTC)
            await self._say(relay, RELAY_ENTER_CODE)
        except AriError:
            await self._end(relay, "gone_during_setup")
            return
        self._arm(relay, self.settings.key_seconds, self._no_code)

    async def key_pressed(self, channel_id: str, digit: str) -> None:
        relay = self._relay_of_unit(channel_id)
        if relay is None or relay.grant is not None or relay.finished:
            return  # keys during the call are the unit's business, not a code
        if relay.checking:
            if digit.isdigit():
                relay.digits += digit  # the next try, keyed while the last one is checked
            return
        if relay.playback is not None and not relay.digits:
            await self._quiet(relay)  # the unit knows what to do: no need to hear it all
        if digit == "*":
            relay.digits = ""
            return
        if digit != "#":
            relay.digits += digit
        if digit == "#" or len(relay.digits) >= self.settings.code_digits:
            await self._check(relay)

    async def _check(self, relay: _Relay) -> None:
        code, relay.digits = relay.digits, ""
        relay.tries += 1
        relay.checking = True
        self._disarm(relay)
        try:
            grant, outcome = await self.directory.open(code, relay.calling_number)
        except (HotlineError, OSError) as exc:
            log.warning("relay code not checked", extra={"call_id": relay.call_id, "error": str(exc)})
            grant, outcome = None, "unavailable"
        finally:
            relay.checking = False
        if relay.finished:
            if grant is not None:
                await self.directory.release_code(grant.code_id)
            return
        if grant is not None and outcome == ACCEPTED:
            relay.grant = grant
            await self._connect(relay)
            return
        if outcome == "locked_out" or relay.tries >= self.settings.tries_per_call:
            await self._notice_then_end(relay, RELAY_REFUSED, f"refused_{outcome}")
            return
        await self._say(relay, RELAY_WRONG_CODE)
        if len(relay.digits) >= self.settings.code_digits:
            await self._check(relay)
            return
        self._arm(relay, self.settings.key_seconds, self._no_code)

    async def _no_code(self, relay: _Relay) -> None:
        if relay.grant is None and not relay.finished and not relay.checking:
            if relay.digits:
                await self._check(relay)
            else:
                await self._notice_then_end(relay, RELAY_REFUSED, "no_code")

    # --- the citizen's leg ------------------------------------------------------------------
    async def _connect(self, relay: _Relay) -> None:
        """Bridge the unit, record, and ring the citizen with the hotline's caller id."""
        grant = relay.grant
        assert grant is not None
        try:
            await self._quiet(relay)
            await self.rest.create_bridge(relay.bridge_id)
            await self.rest.add_channel(relay.bridge_id, relay.unit_channel)
            relay.recording_name = f"relay-{relay.call_id}"
            await self.rest.record_bridge(relay.bridge_id, relay.recording_name,
                                          self.recording_format)
            await self.rest.play_on_bridge(relay.bridge_id, RELAY_CONNECTING)
            relay.citizen_ringing = True
            await self.rest.originate(
                number_dial(self.settings.dial, grant.citizen_number, field="citizen_number"),
                channel_id=relay.citizen_channel, app_args=f"relay,{relay.call_id}",
                caller_id=self.settings.caller_id, timeout=self.settings.ring_seconds)
        except (AriError, HotlineError) as exc:
            relay.citizen_ringing = False
            log.warning("relay call not placed", extra={"call_id": relay.call_id,
                                                        "ticket_no": grant.ticket_no,
                                                        "error": str(exc)})
            if await self.rest.get_channel(relay.unit_channel) is None:
                await self._end(relay, "gone_during_setup")
            else:
                await self._notice_then_end(relay, RELAY_NOT_REACHED, "not_placed")
            return
        log.info("relay: ringing the caller", extra={"call_id": relay.call_id,
                                                     "ticket_no": grant.ticket_no})

    async def citizen_answered(self, channel: Channel) -> None:
        call_id = relay_call_of(channel.id)
        relay = self.calls.get(call_id) if call_id else None
        if relay is None or relay.finished:
            with suppress(AriError):
                await self.rest.hangup(channel.id)  # the unit left meanwhile
            return
        try:
            await self.rest.add_channel(relay.bridge_id, channel.id)
        except AriError:
            await self._end(relay, "bridge_failed")
            return
        relay.connected_at = datetime.now(UTC)
        log.info("relay: unit and caller connected", extra={"call_id": relay.call_id})

    # --- either leg gone --------------------------------------------------------------------
    async def gone(self, channel_id: str, cause: int | None) -> None:
        if channel_id in self._by_unit:
            relay = self.calls.get(self._by_unit[channel_id])
            if relay is not None:
                await self._end(relay, "hangup")
            return
        call_id = relay_call_of(channel_id)
        relay = self.calls.get(call_id) if call_id else None
        if relay is None or relay.finished or channel_id != relay.citizen_channel:
            return
        relay.citizen_ringing = False
        if relay.connected_at is None:
            outcome = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}.get(
                cause or 0, "failed")
            log.info("relay: caller not reached", extra={"call_id": relay.call_id,
                                                         "outcome": outcome})
            await self._notice_then_end(relay, RELAY_NOT_REACHED, f"caller_{outcome}")
        else:
            await self._end(relay, "caller_hangup")

    # --- the end ----------------------------------------------------------------------------
    async def _notice_then_end(self, relay: _Relay, prompt: str, reason: str) -> None:
        if relay.grant is not None and relay.recording_name:
            with suppress(AriError):
                await self.rest.play_on_bridge(relay.bridge_id, prompt)
        else:
            await self._say(relay, prompt)

        async def end(r: _Relay) -> None:
            await self._end(r, reason)

        self._arm(relay, self.settings.notice_seconds, end)

    async def _end(self, relay: _Relay, reason: str) -> None:
        """Both legs hung up, the bridge gone, the call on the ticket. Runs once; the call is
        forgotten only once all that is done (so an empty `footprint` means "all written")."""
        if relay.finished:
            return
        relay.finished = True
        try:
            await self._finish(relay, reason)
        finally:
            self.calls.pop(relay.call_id, None)
            self._by_unit.pop(relay.unit_channel, None)

    async def _finish(self, relay: _Relay, reason: str) -> None:
        self._disarm(relay)
        ended_at = datetime.now(UTC)
        for channel_id in (relay.citizen_channel, relay.unit_channel):
            with suppress(AriError):
                await self.rest.hangup(channel_id)
        recording_path: Path | None = None
        if relay.recording_name:
            with suppress(AriError):
                await self.rest.stop_recording(relay.recording_name)
            recording_path = self.recording_dir / f"{relay.recording_name}.{self.recording_format}"
        with suppress(AriError):
            await self.rest.destroy_bridge(relay.bridge_id)
        grant = relay.grant
        if grant is None:
            log.info("relay call ended without a valid code", extra={"call_id": relay.call_id,
                                                                     "reason": reason})
            return
        seconds = await recording_seconds(recording_path) if recording_path else None
        connected = relay.connected_at is not None
        talk = (ended_at - relay.connected_at).total_seconds() if relay.connected_at else 0.0
        record = CallRecord(
            call_id=relay.call_id, channel_id=relay.unit_channel, bridge_id=relay.bridge_id,
            caller_number=relay.calling_number, caller_name=relay.calling_name,
            dialed_number=relay.dialed, node_id=self.node_id, started_at=relay.started_at,
            answered_at=relay.answered_at, ended_at=ended_at, end_reason=reason,
            recording_path=recording_path, recording_seconds=seconds, queue="relay")
        if self.seal is not None:
            record = await self.seal(record)
        try:
            await self.directory.record_relay_call(grant.code_id, grant.ticket_no, record,
                                                   connected=connected, talk_seconds=talk)
        except Exception:
            log.exception("relay call not written", extra={"call_id": relay.call_id,
                                                           "ticket_no": grant.ticket_no,
                                                           "reason": reason})
        log.info("relay call ended", extra={"call_id": relay.call_id, "ticket_no": grant.ticket_no,
                                            "connected": connected, "reason": reason})

    # --- helpers ----------------------------------------------------------------------------
    async def _say(self, relay: _Relay, prompt: str) -> None:
        """Play `prompt` to the unit, instead of whatever it was hearing."""
        await self._quiet(relay)
        with suppress(AriError):
            relay.playback = await self.rest.play_on_channel(relay.unit_channel, prompt)

    async def _quiet(self, relay: _Relay) -> None:
        playback, relay.playback = relay.playback, None
        if playback is not None:
            with suppress(AriError):
                await self.rest.stop_playback(playback)

    def _relay_of_unit(self, channel_id: str) -> _Relay | None:
        call_id = self._by_unit.get(channel_id)
        return self.calls.get(call_id) if call_id else None

    def _arm(self, relay: _Relay, delay: float,
             action: Callable[[_Relay], Awaitable[None]]) -> None:
        self._disarm(relay)

        def fire() -> None:
            relay.timer = None
            task = asyncio.ensure_future(action(relay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        relay.timer = asyncio.get_running_loop().call_later(delay, fire)

    @staticmethod
    def _disarm(relay: _Relay) -> None:
        if relay.timer is not None:
            relay.timer.cancel()
            relay.timer = None
