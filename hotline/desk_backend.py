"""The agent desk's backend (`agent_desk.ports.DeskBackend`), joined from the capabilities.

The desk asks for agents' states, their softphone accounts and their calls; the answers come
from the ACD (`call_queue.acd`), the call flow and the queue's distributor, the softphone provisioning
(ARI push configuration) and the anti-abuse screen (the wrap-up's "no new content" and
"harassment" marks). Only the application package may know all of these, so the adapter
lives here. An agent can only act on their own call: anything else is `not_found`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from abuse.limiter import AbuseScreen
from agent_desk.ports import DeskError
from call_queue.acd import AcdStore
from call_queue.agent_state import AgentState, AgentStatus, BreakReason, Skill, Trigger
from call_queue.distributor import CallDistributor
from kernel.clock import utc_now
from kernel.errors import AriError, Conflict, IllegalTransition, NotFound
from kernel.schema import calls
from outbound.desk_callback import DeskCallbacks
from telephony.call_flow import CallFlow
from telephony.conference import ThreeWayCalls
from telephony.softphone import SoftphonePasswords, SoftphoneProvisioner
from tickets.unit_directory import UnitDirectoryStore

log = logging.getLogger(__name__)


def agent_json(state: AgentState) -> dict[str, Any]:
    return {"agent_id": state.agent_id, "status": state.status.value,
            "since": state.since.isoformat(), "call_id": state.call_id,
            "break_reason": state.break_reason.value if state.break_reason else None,
            "skills": sorted(s.value for s in state.skills)}


async def sign_out_idle_agent(acd: AcdStore, agent_id: str) -> bool:
    """The agent's desk is gone: sign them out unless they are on a call (a desk phone may still
    be up). True when they are now offline (or unknown)."""
    try:
        state = await acd.agent(agent_id)
    except NotFound:
        return True
    if state.status in (AgentStatus.AVAILABLE, AgentStatus.BREAK):
        with suppress(IllegalTransition, Conflict):
            state = await acd.set_status(agent_id, Trigger.SIGN_OUT)
            log.info("agent signed out: their desk closed", extra={"agent": agent_id})
    return state.status is AgentStatus.OFFLINE


class AcdDeskBackend:
    def __init__(self, acd: AcdStore, provisioner: SoftphoneProvisioner,
                 screen: AbuseScreen | None, engine: AsyncEngine, *, passwords: SoftphonePasswords,
                 senior_agents: frozenset[str] = frozenset(),
                 units: UnitDirectoryStore | None = None,
                 is_senior: Callable[[str], Awaitable[bool]] | None = None) -> None:
        self.acd = acd
        self.units = units
        self._flow: CallFlow | None = None
        self._distributor: CallDistributor | None = None
        self.provisioner = provisioner
        self.screen = screen
        self.engine = engine
        self.passwords = passwords
        self.senior_agents = senior_agents
        #: Whether a person's account is a senior agent's (accounts/), besides `queue.senior_agents`.
        self.is_senior = is_senior

    def attach(self, flow: CallFlow, distributor: CallDistributor | None = None) -> None:
        """The call flow and the queue's distributor, once the telephony context has built them
        (without a distributor, calls are recorded, not queued)."""
        self._flow = flow
        self._distributor = distributor

    @property
    def flow(self) -> CallFlow:
        if self._flow is None:
            raise DeskError("unavailable", "电话服务正在启动，请稍后重试")
        return self._flow

    async def reprovision(self) -> None:
        """Push every signed-in agent's softphone again (an Asterisk restart forgets them),
        with the password their session was given; one whose password is gone (their session
        ended) is not pushed: their next desk gets a new one."""
        for state in await self.acd.agents():
            if state.status is not AgentStatus.OFFLINE:
                try:
                    password = await self.passwords.current(state.agent_id)
                    if password is not None:
                        await self.provisioner.provision(state.agent_id, password)
                except AriError as exc:
                    log.warning("softphone not re-provisioned",
                                extra={"agent": state.agent_id, "error": str(exc)})

    # --- agents -----------------------------------------------------------------------------
    async def sign_in(self, agent_id: str) -> dict[str, Any]:
        """At the desk: signed in on break (a person chooses when to take calls); a reconnect
        keeps whatever state the agent is in (ringing, on a call, wrapping up)."""
        try:
            state = await self.acd.agent(agent_id)
        except NotFound:
            state = None
        if state is None or state.status is AgentStatus.OFFLINE:
            senior = agent_id in self.senior_agents or (
                self.is_senior is not None and await self.is_senior(agent_id))
            skills = frozenset({Skill.GENERAL}) | ({Skill.SENIOR} if senior else set())
            await self.acd.sign_in(agent_id, skills)
            state = await self.acd.set_status(agent_id, Trigger.TAKE_BREAK, reason=BreakReason.REST)
        return agent_json(state)

    async def agent_view(self, agent_id: str) -> dict[str, Any]:
        return agent_json(await self.acd.agent(agent_id))

    async def set_status(self, agent_id: str, status: str, reason: str | None) -> dict[str, Any]:
        trigger = Trigger.GO_AVAILABLE if status == "available" else Trigger.TAKE_BREAK
        try:
            state = await self.acd.set_status(
                agent_id, trigger, reason=BreakReason(reason) if reason else None)
        except (IllegalTransition, Conflict) as exc:
            wanted = "就绪" if status == "available" else "小休"
            raise DeskError("not_allowed", f"当前状态下不能切换为{wanted}") from exc
        if self._distributor is not None:
            self._distributor.wake()
        return agent_json(state)

    async def softphone(self, agent_id: str) -> dict[str, Any]:
        try:
            account = await self.provisioner.provision(agent_id, await self.passwords.issue(agent_id))
        except AriError as exc:
            log.warning("softphone not provisioned", extra={"agent": agent_id, "error": str(exc)})
            raise DeskError("unavailable", "话机账号暂时无法开通，请稍后重试") from exc
        return {"ws_url": account.ws_url, "sip_uri": account.sip_uri,
                "username": account.username, "password": account.password,
                "endpoint": account.endpoint}

    async def current_call(self, agent_id: str) -> dict[str, Any] | None:
        state = await self.acd.agent(agent_id)
        if state.call_id is None:
            return None
        flow = self.flow
        if self._distributor is None:
            return None
        call = flow.state.by_call_id(state.call_id)
        if call is None:
            return {"call_id": state.call_id, "answered": state.status is not AgentStatus.RINGING}
        return {**self._distributor.call_view(call), "answered": call.agent_id == agent_id}

    async def softphone_ended(self, agent_id: str) -> None:
        """The agent's session ended (signed out, revoked, disabled, expired): their SIP password
        stops working now, a call in progress goes on; the next sign-in gets a new one."""
        await self.provisioner.withdraw(agent_id, self.passwords)

    async def desk_closed(self, agent_id: str) -> None:
        if await sign_out_idle_agent(self.acd, agent_id):
            # No desk and not on a call: the softphone goes, with its password.
            try:
                await self.passwords.forget(agent_id)
                await self.provisioner.remove(agent_id)
            except (AriError, RedisError) as exc:
                log.warning("softphone not removed", extra={"agent": agent_id, "error": str(exc)})

    # --- calls ------------------------------------------------------------------------------
    def _own_call(self, agent_id: str, call_id: str) -> tuple[str, str]:
        call = self.flow.state.by_call_id(call_id)
        if call is None or call.agent_id != agent_id:
            raise DeskError("not_found", "没有这通电话，或它不是您的通话")
        return call.channel_id, call.caller_number

    async def hangup(self, agent_id: str, call_id: str) -> None:
        channel_id, _ = self._own_call(agent_id, call_id)
        await self.flow.rest.hangup(channel_id)

    async def hold(self, agent_id: str, call_id: str, on: bool) -> None:
        """The caller hears music and the agent no longer hears the caller (or both undone)."""
        channel_id, _ = self._own_call(agent_id, call_id)
        moh = self._distributor.settings.moh_class if self._distributor is not None else "default"
        if on:
            await self.flow.rest.mute(channel_id, "in")
            await self.flow.rest.start_channel_moh(channel_id, moh)
        else:
            await self.flow.rest.stop_channel_moh(channel_id)
            await self.flow.rest.unmute(channel_id, "in")

    async def three_way(self, agent_id: str, call_id: str, unit: str) -> None:
        self._own_call(agent_id, call_id)
        conference = self._conference()
        if self.units is None:
            raise DeskError("unavailable", "单位通讯录不可用")
        try:
            contact = await self.units.get(unit)
        except NotFound as exc:
            raise DeskError("not_found", "该单位没有登记电话") from exc
        if not contact.in_service(utc_now()):
            raise DeskError("not_allowed", f"该单位的电话服务时间为 {contact.service_hours}，请转为工单办理")
        try:
            await conference.invite_unit(call_id, agent_id, unit, contact.dial)
        except AriError as exc:
            raise DeskError("unavailable", "单位电话呼叫失败，请转为工单办理") from exc

    async def transfer(self, agent_id: str, call_id: str, line: str, warm: bool) -> None:
        self._own_call(agent_id, call_id)
        try:
            await self._conference().transfer_emergency(call_id, agent_id, line, warm=warm)
        except AriError as exc:
            raise DeskError("unavailable", f"转接 {line} 失败，请立即重试或口头指引来电人拨打") from exc

    async def leave(self, agent_id: str, call_id: str) -> None:
        self._own_call(agent_id, call_id)
        call = self.flow.state.by_call_id(call_id)
        if call is None or not any(p.get("answered") for p in call.parties.values()):
            raise DeskError("not_allowed", "只有在单位已接通后才能退出三方通话")
        if call.agent_channel_id:
            await self.flow.rest.hangup(call.agent_channel_id)

    async def place_callback(self, agent_id: str, task_id: str, *, endpoint: str | None = None) -> str:
        """The desk's callback (`endpoint`: which of the person's softphones rings, the desk's
        unless told; the callback page's is its own)."""
        try:
            state: AgentState | None = await self.acd.agent(agent_id)
        except NotFound:  # not at a queue desk (a callback agent on the callback page): no
            state = None  # inbound call can be offered to them meanwhile
        if state is not None and state.status in (AgentStatus.AVAILABLE, AgentStatus.RINGING,
                                                  AgentStatus.ON_CALL):
            raise DeskError("not_allowed", "请先小休再回访，以免同时分配来电")
        desk_callbacks = next((s for s in self.flow.side_calls if isinstance(s, DeskCallbacks)), None)
        if desk_callbacks is None:
            raise DeskError("unavailable", "回访呼叫不可用")
        try:
            return await desk_callbacks.place(agent_id, task_id, endpoint=endpoint)
        except NotFound as exc:
            raise DeskError("not_found", "该回访任务已不在待回访列表中") from exc
        except AriError as exc:
            raise DeskError("unavailable", "无法呼叫您的话机，请检查话机是否在线") from exc

    def _conference(self) -> ThreeWayCalls:
        if self.flow.conference is None:
            raise DeskError("unavailable", "三方通话不可用")
        return self.flow.conference

    async def wrap_up(self, agent_id: str, call_id: str, *, no_new_content: bool,
                      harassment: bool, note: str) -> dict[str, Any]:
        state = await self.acd.agent(agent_id)
        if state.status is not AgentStatus.AFTER_CALL_WORK:
            raise DeskError("not_allowed", "当前不在话后处理状态")
        row = None
        if call_id:
            async with self.engine.connect() as conn:
                row = (await conn.execute(select(
                    calls.c.caller_number, calls.c.answered_at, calls.c.ended_at, calls.c.agent_id)
                    .where(calls.c.id == call_id))).first()
        if row is not None and row.agent_id == agent_id and self.screen is not None:
            duration = (row.ended_at - row.answered_at) if row.answered_at else timedelta(0)
            # The agent, who heard the call, says whether it brought anything new (anti-abuse:
            # long occupation without new content) and whether staff were harassed.
            await self.screen.record_call_end(row.caller_number, call_id=call_id,
                                              duration=duration, new_content=not no_new_content)
            if harassment:
                await self.screen.flag_harassment(row.caller_number, agent=agent_id,
                                                  call_id=call_id, note=note)
        new = await self.acd.set_status(agent_id, Trigger.WRAP_UP_DONE)
        if self._distributor is not None:
            self._distributor.wake()
        return agent_json(new)
