"""Three-way calls (三方连线) and emergency transfers: a third party joins the caller's bridge.

临沂条例: when the agent cannot answer, "with the caller's consent, contact the handling unit by
three-way call and answer online"; emergencies go to 110/119/120/122. The agent asks; the
backend rings the unit (or the emergency line) by ARI originate; when it answers, its channel
joins the caller's recorded bridge, so all three talk and everything stays recorded. The desk
hears every outcome (ringing, answered, busy, no answer, failed). The agent may then leave: the
caller-unit call goes on, still recorded, because the call belongs to the hotline, not to the
agent's leg (Wazo's three-way call dies with its owner; this one does not). A blind emergency
transfer hangs the agent's leg up as soon as the line is ringing; a warm one keeps the agent.

The parties are mirrored with the call (`ActiveCall.parties`), so a restart finds them again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from kernel.errors import AriError, InvalidInput, NotFound, PermissionDenied
from kernel.phone_number import PhoneNumber
from telephony.active_call import ActiveCall
from telephony.ari.models import Channel
from telephony.ari.rest import AriRest
from telephony.call_state import CallStateStore
from telephony.dial import dial_string, directory_dial
from telephony.ports import DeskNotifier
from telephony.resource_ids import call_of_party_channel, party_channel_id
from telephony.settings import TransferSettings

log = logging.getLogger(__name__)

#: Q.850 causes of a party that never answered, as the desk names them.
_NOT_ANSWERED = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}

UNIT, EMERGENCY = "unit", "emergency"


class ThreeWayCalls:
    def __init__(self, rest: AriRest, state: CallStateStore, settings: TransferSettings, *,
                 notifier: DeskNotifier | None = None) -> None:
        self.rest = rest
        self.state = state
        self.settings = settings
        self.notifier = notifier
        #: Puts a caller left alone back in the queue (`CallDistributor.requeue`; None: the
        #: call is ended instead).
        self.requeue: Callable[[ActiveCall, str], Awaitable[None]] | None = None

    # --- what the agent asks ----------------------------------------------------------------
    async def invite_unit(self, call_id: str, agent_id: str, unit: str, number: str) -> str:
        """Ring the unit; its channel joins the call when it answers. Returns the party's id."""
        call = self._agents_call(call_id, agent_id)
        endpoint = directory_dial(self.settings.unit_dial, number, unit=unit)
        return await self._ring(call, UNIT, unit, endpoint, self.settings.unit_ring_seconds)

    async def transfer_emergency(self, call_id: str, agent_id: str, line: str, *,
                                 warm: bool = False) -> str:
        """Bring in 110/119/120/122. Blind: the agent leaves as soon as the line rings."""
        if line not in self.settings.emergency_lines:
            raise InvalidInput("not an emergency line", line=line[:8],
                               allowed=list(self.settings.emergency_lines))
        call = self._agents_call(call_id, agent_id)
        call.transferred_to = line
        party = await self._ring(call, EMERGENCY, line, dial_string(self.settings.emergency_dial,
                                                             PhoneNumber.parse(line, field="line")),
                                 self.settings.emergency_ring_seconds)
        if not warm and call.agent_channel_id:
            # The caller is never alone: the line is ringing and the bridge plays on.
            with suppress(AriError):
                await self.rest.hangup(call.agent_channel_id)
        log.info("emergency transfer", extra={"call_id": call.call_id, "line": line, "warm": warm})
        return party

    async def hang_up_party(self, call_id: str, agent_id: str, party_id: str) -> None:
        call = self._agents_call(call_id, agent_id)
        if party_id not in call.parties:
            raise NotFound("no such party on the call", call_id=call_id)
        with suppress(AriError):
            await self.rest.hangup(party_id)

    # --- ARI events -------------------------------------------------------------------------
    async def party_answered(self, channel: Channel) -> None:
        call = self._call_of(channel.id)
        party = call.parties.get(channel.id) if call else None
        if call is None or party is None or call.bridge_id is None:
            with suppress(AriError):
                await self.rest.hangup(channel.id)  # the call ended meanwhile
            return
        await self.rest.add_channel(call.bridge_id, channel.id)
        party["answered"] = True
        await self.state.save(call)
        log.info("third party joined", extra={"call_id": call.call_id, "kind": party["kind"],
                                               "target": party["target"]})
        await self._notify(call, "answered", party)

    async def party_gone(self, channel_id: str, cause: int | None) -> None:
        """A party's leg ended: it never answered (busy, no answer...), or it left the call."""
        call = self._call_of(channel_id)
        if call is None:
            return
        party = call.parties.pop(channel_id, None)
        if party is None:
            return
        await self.state.save(call)
        if not party.get("answered"):
            outcome = _NOT_ANSWERED.get(cause or 0, "failed")
            log.info("third party did not answer", extra={"call_id": call.call_id,
                                                           "target": party["target"], "outcome": outcome})
            await self._notify(call, outcome, party)
            if party["kind"] == EMERGENCY and call.transferred_to == party["target"]:
                call.transferred_to = None
                await self.state.save(call)
        else:
            await self._notify(call, "left", party)
        if not self.someone_with_the_caller(call):
            if not party.get("answered") and self.requeue is not None:
                # A blind transfer the line never answered (busy, no answer): the caller has
                # talked to nobody there, so they wait for the next agent, never cut off.
                await self.requeue(call, f"{party['kind']}_{_NOT_ANSWERED.get(cause or 0, 'failed')}")
                return
            # Nobody is left to talk to the caller: end the call rather than leave them alone.
            with suppress(AriError):
                await self.rest.hangup(call.channel_id)

    async def call_ending(self, call: ActiveCall) -> None:
        """The caller hung up: every third party's leg goes too (no orphan channel)."""
        for channel_id in list(call.parties):
            with suppress(AriError):
                await self.rest.hangup(channel_id)

    @staticmethod
    def someone_with_the_caller(call: ActiveCall) -> bool:
        """An agent's leg, or a third party that answered or is still ringing."""
        return bool(call.agent_channel_id) or bool(call.parties)

    # --- helpers ----------------------------------------------------------------------------
    def _agents_call(self, call_id: str, agent_id: str) -> ActiveCall:
        call = self.state.by_call_id(call_id)
        if call is None:
            raise NotFound("no such call", call_id=call_id)
        if call.agent_id != agent_id or not call.agent_channel_id:
            raise PermissionDenied("only the agent on the call may bring others in",
                                   call_id=call_id, agent=agent_id)
        return call

    def _call_of(self, channel_id: str) -> ActiveCall | None:
        call_id = call_of_party_channel(channel_id)
        return self.state.by_call_id(call_id) if call_id else None

    async def _ring(self, call: ActiveCall, kind: str, target: str, endpoint: str,
                    timeout: float) -> str:
        channel_id = party_channel_id(call.call_id)
        call.parties[channel_id] = {"kind": kind, "target": target, "answered": False}
        await self.state.save(call)
        party = call.parties[channel_id]
        await self._notify(call, "ringing", party)
        try:
            await self.rest.originate(endpoint, channel_id=channel_id, app_args=f"{kind},{call.call_id}",
                                      caller_id='"12345" <12345>', timeout=timeout)
        except AriError as exc:
            call.parties.pop(channel_id, None)
            await self.state.save(call)
            log.warning("third party could not be rung", extra={"call_id": call.call_id,
                                                                "target": target, "error": str(exc)})
            await self._notify(call, "failed", party)
            raise
        return channel_id

    async def _notify(self, call: ActiveCall, outcome: str, party: dict[str, Any]) -> None:
        if self.notifier is None or call.agent_id is None:
            return
        try:
            await self.notifier.notify_agent(call.agent_id, {
                "type": f"three_way.{outcome}", "call_id": call.call_id, "kind": party["kind"],
                "target": party["target"]})
        except Exception:  # noqa: BLE001 - a desk notice never affects the call
            log.warning("desk not notified", extra={"call_id": call.call_id})
