"""Callback tasks (回访 / 回电): calls the hotline owes citizens, and what came of them.

Two kinds: `left_message` (a caller left a message: an agent calls back) and `survey` (the unit
gave its feedback: the hotline asks the citizen whether they are satisfied, 临沂条例 回访). A
survey task is due as soon as the feedback is on the ticket (written in the same transaction,
`tickets/store.py`); the automatic dialer (`outbound/callback_dialer.py`) calls the citizen,
plays the survey, and the key pressed is recorded on the ticket by `record_answer`: 1 satisfied,
2 basically satisfied, 3 unsatisfied. An unsatisfied answer waits for the hotline's judgement
(临沂条例第二十条): a callback agent or supervisor judges it reasonable (re-opened to the unit
with a new deadline from the catalogue) or not (closed, with why). A citizen not reached is
tried again at the configured delays, then the task goes to the callback agents' list
(`agent`); after the policy's attempts the outcome 未回访成功 closes the ticket
(`close_unreached`), never as a completed callback.

A third kind, `deadline` (时限届满回访, 北京条例第二十三条): the unit's deadline expired without its
feedback, and the supervision job (`owe_deadline_callback`) puts one task per ticket straight on
the callback agents' list, never the automatic dialer's: the dialer plays a survey of the
finished handling, while here a person asks the caller how the handling stands, and the ticket
stays with the unit. What the caller says goes on the ticket as `RecordDeadlineCallback`
(unsatisfied: the unit under 热线督办); not reached, that too is recorded, and nothing closes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import Clock, utc_now
from kernel.errors import Conflict, NotFound
from kernel.privacy import mask_phone
from kernel.roles import Actor, Role
from kernel.schema import DEADLINE_CALLBACK_REASON, callback_tasks, calls, tickets, visible_to
from tickets import workflow
from tickets.deadlines import WorkingCalendar
from tickets.dispatch import DispatchCatalogue, reopen_deadline
from tickets.intake import FinishedCall, call_row
from tickets.model import Satisfaction, Ticket, TicketStatus
from tickets.store import TicketStore

log = logging.getLogger(__name__)

#: The robot that records a survey answer keyed in by the citizen.
SURVEY_ACTOR = Actor("callback-dialer", Role.CALLBACK_AGENT)
ANSWERS = {"1": Satisfaction.SATISFIED, "2": Satisfaction.BASICALLY_SATISFIED,
           "3": Satisfaction.UNSATISFIED}

DUE, CALLING, DONE, AGENT = "due", "calling", "done", "agent"
#: An agent is calling the citizen from the desk: not the automatic dialer's, however long.
AGENT_CALLING = "agent_calling"
#: An attempt `calling` for longer than this belonged to a process that died: take it again.
STALE_ATTEMPT = timedelta(minutes=5)
#: The result of a task whose citizen a person reached by phone, until the answer is recorded.
AGENT_REACHED = "agent_reached"
#: The result of a person's call that did not reach the citizen (`PLACED` + why): its attempt was
#: counted when it was placed, so the 稍后重拨 that follows does not count another.
PLACED = "placed:"
#: Tasks a callback agent may finish or reschedule from their page: all but the robot's call.
PERSON_MAY_TAKE = (DUE, AGENT, AGENT_CALLING)


@dataclass(frozen=True)
class CallbackTask:
    id: str
    ticket_no: str
    caller_number: str
    reason: str
    status: str
    due_at: datetime
    attempts: int
    result: str | None
    #: A spoken answer (no key): its recording, and what the ASR heard in it (to confirm).
    answer_recording: str | None = None
    answer_transcript: str | None = None
    #: The ticket's caller is confidential (保密): the number is never listed in full.
    confidential: bool = False

    def to_json(self, *, shown: bool = True) -> dict[str, Any]:
        """The task as listed; `shown`: the caller's number in full (else masked)."""
        return {"id": self.id, "ticket_no": self.ticket_no,
                "caller_number": self.caller_number if shown else mask_phone(self.caller_number),
                "confidential": self.confidential,
                "reason": self.reason, "status": self.status, "due_at": self.due_at.isoformat(),
                "attempts": self.attempts, "result": self.result,
                "spoken_answer": self.answer_recording is not None,
                "answer_transcript": self.answer_transcript}


def _task(row: Any) -> CallbackTask:
    return CallbackTask(row.id, row.ticket_no, row.caller_number, row.reason, row.status,
                        row.due_at, row.attempts, row.result, row.answer_recording,
                        row.answer_transcript, bool(getattr(row, "caller_confidential", False)))




class CallbackService:
    """The tasks' store and the survey's effect on tickets (the dialer's `CallbackTasks` port)."""

    def __init__(self, engine: AsyncEngine, tickets: TicketStore, catalogue: DispatchCatalogue,
                 calendar: WorkingCalendar, *, retry_delays: Sequence[timedelta] = (
                     timedelta(minutes=30), timedelta(hours=2)), clock: Clock = utc_now) -> None:
        self._engine = engine
        self._tickets = tickets
        self._catalogue = catalogue
        self._calendar = calendar
        self.retry_delays = tuple(retry_delays)
        self._clock = clock

    def _takeable(self) -> Any:
        """Due now, or left `calling` by a process that died mid-attempt."""
        now = self._clock()
        return or_(and_(callback_tasks.c.status == DUE, callback_tasks.c.due_at <= now),
                   and_(callback_tasks.c.status == CALLING,
                        callback_tasks.c.updated_at < now - STALE_ATTEMPT))

    async def due_surveys(self, limit: int = 10) -> list[CallbackTask]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(callback_tasks).where(callback_tasks.c.reason == "survey", self._takeable())
                .order_by(callback_tasks.c.due_at).limit(limit))).all()
        return [_task(r) for r in rows]

    async def claim(self, task_id: str) -> bool:
        """Take a due task for one call attempt; False when another node took it first."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(callback_tasks)
                .where(callback_tasks.c.id == task_id, self._takeable())
                .values(status=CALLING, attempts=callback_tasks.c.attempts + 1,
                        updated_at=self._clock()))
        return result.rowcount == 1

    async def answered(self, task_id: str, digit: str | None,
                       recording: Path | None = None) -> str:
        """The citizen answered. A key 1-3 is recorded on the ticket; anything else (a spoken
        answer, no key) goes to the callback agents to confirm, with the recording of what the
        citizen said. Returns the task's status."""
        task = await self._get(task_id)
        satisfaction = ANSWERS.get(digit or "")
        if satisfaction is None:
            async with self._engine.begin() as conn:
                await conn.execute(update(callback_tasks).where(callback_tasks.c.id == task_id).values(
                    status=AGENT, result="spoken" if recording else "no_key",
                    answer_recording=str(recording) if recording else None,
                    updated_at=self._clock()))
            return AGENT
        await self.record_answer(task.ticket_no, satisfaction)
        await self._set(task_id, DONE, satisfaction.value)
        return DONE

    async def not_reached(self, task_id: str, reason: str) -> str:
        """Busy, no answer, failed: try again later, or hand it to an agent."""
        task = await self._get(task_id)
        if task.attempts <= len(self.retry_delays):
            delay = self.retry_delays[task.attempts - 1]
            async with self._engine.begin() as conn:
                await conn.execute(update(callback_tasks).where(callback_tasks.c.id == task_id)
                                   .values(status=DUE, due_at=self._clock() + delay, result=reason,
                                           updated_at=self._clock()))
            return DUE
        await self._set(task_id, AGENT, reason)
        return AGENT

    async def transcribed(self, task_id: str, transcript: str) -> None:
        """What the ASR heard in a spoken answer, shown on the agents' list to confirm."""
        async with self._engine.begin() as conn:
            await conn.execute(update(callback_tasks).where(callback_tasks.c.id == task_id)
                               .values(answer_transcript=transcript, updated_at=self._clock()))

    async def answer_sealed(self, task_id: str, sealed: Path) -> None:
        """The spoken answer's recording was sealed at rest (PIPL): the task names the sealed file."""
        async with self._engine.begin() as conn:
            await conn.execute(update(callback_tasks).where(callback_tasks.c.id == task_id)
                               .values(answer_recording=str(sealed), updated_at=self._clock()))

    async def take_for_agent(self, task_id: str, agent_id: str) -> CallbackTask | None:
        """A person calls the citizen of a task (回访 by a person, from the desk or the callback
        page): one on the agents' list, or one still due for the automatic dialer, which then no
        longer takes it (both take a task by the same one-row update, so never both)."""
        async with self._engine.begin() as conn:
            taken = await conn.execute(
                update(callback_tasks)
                .where(callback_tasks.c.id == task_id, callback_tasks.c.status.in_((AGENT, DUE)))
                .values(status=AGENT_CALLING, attempts=callback_tasks.c.attempts + 1,
                        result=f"agent:{agent_id}"[:32], updated_at=self._clock()))
        return await self._get(task_id) if taken.rowcount == 1 else None

    async def agent_call_over(self, task_id: str, reached: bool, reason: str,
                              record: FinishedCall | None = None) -> None:
        """Reached: on the agents' list as reached until the answer is recorded (on the ticket
        by the desk's callback command, or on the callback page; either finishes the task, see
        `tickets.store.finish_survey_tasks`), so a page closed before then loses nothing.
        Not reached: back on the agents' list, with why. The call (and its recording) is
        written to `calls` and linked from the task, in one transaction."""
        async with self._engine.begin() as conn:
            if record is not None:
                exists = await conn.scalar(select(calls.c.id).where(calls.c.id == record.call_id))
                if exists is None:
                    await conn.execute(calls.insert().values(**call_row(record)))
                await conn.execute(update(callback_tasks).where(callback_tasks.c.id == task_id)
                                   .values(call_id=record.call_id))
            # Only the call in progress moves: an answer recorded during the call finished it.
            await conn.execute(
                update(callback_tasks)
                .where(callback_tasks.c.id == task_id, callback_tasks.c.status == AGENT_CALLING)
                .values(status=AGENT, result=AGENT_REACHED if reached else f"{PLACED}{reason}"[:32],
                        updated_at=self._clock()))

    async def confirm(self, task_id: str, satisfaction: Satisfaction, actor: Actor) -> Ticket:
        """A callback agent confirms the answer of a task on their list (a spoken answer they
        heard, or a call they made): it goes on the ticket in their name; the task is done."""
        task = await self._get(task_id)
        if task.status not in (AGENT, AGENT_CALLING):
            raise NotFound("no such callback on the agents' list", task=task_id)
        if task.reason == DEADLINE_CALLBACK_REASON:
            ticket = await self._record_deadline_view(task, satisfaction, actor, reached=True,
                                                      reason="")
        else:
            ticket = await self.record_answer(task.ticket_no, satisfaction, actor)
        await self._set(task_id, DONE, satisfaction.value)
        return ticket

    async def record_answer(self, ticket_no: str, satisfaction: Satisfaction | None,
                            actor: Actor = SURVEY_ACTOR, *, reasonable: bool | None = None,
                            reason: str = "") -> Ticket:
        """The answer on the ticket. An unsatisfied answer waits for the hotline's judgement
        (临沂条例第二十条: 不满意**且**诉求合理 re-opens): `reasonable` None leaves it to the
        review list (the robot cannot judge); a callback agent who judged it passes True or
        False, recorded right after as their `ReviewReopen`. `satisfaction` None: the citizen
        was reached and declined to rate (never reached is `close_unreached`)."""
        ticket = await self._tickets.get(ticket_no)
        new, _ = await self._tickets.transition(ticket_no, workflow.RecordCallback(
            satisfaction=satisfaction, reason=reason), actor, ticket.version)
        log.info("survey answer recorded", extra={
            "ticket_no": ticket_no, "satisfaction": satisfaction.value if satisfaction else None})
        if new.status is TicketStatus.REOPEN_REQUESTED and reasonable is not None:
            new, _ = await self._tickets.transition(ticket_no, workflow.ReviewReopen(
                reasonable=reasonable, reason=reason,
                new_deadline=reopen_deadline(self._catalogue, new, self._tickets.now(), self._calendar)
                if reasonable else None), actor, new.version)
        return new

    async def owe_deadline_callback(self, ticket: Ticket, now: datetime) -> bool:
        """时限届满回访 (北京条例第二十三条) is owed for `ticket`: one task on the callback agents'
        list (`agent`, so the automatic dialer never takes it), due now. Once per ticket, on any
        node, however often the scan finds it (a unique index on the ticket for this reason):
        False when it was owed already, or there is no number to call."""
        number = ticket.callback_number or ticket.caller.number
        if not number:
            log.warning("deadline callback owed but the caller left no number",
                        extra={"ticket_no": ticket.ticket_no})
            return False
        try:
            async with self._engine.begin() as conn:
                owed = await conn.scalar(select(callback_tasks.c.id).where(
                    callback_tasks.c.ticket_no == ticket.ticket_no,
                    callback_tasks.c.reason == DEADLINE_CALLBACK_REASON))
                if owed is not None:
                    return False
                await conn.execute(callback_tasks.insert().values(
                    id=str(uuid.uuid4()), ticket_no=ticket.ticket_no, caller_number=number,
                    reason=DEADLINE_CALLBACK_REASON, status=AGENT, due_at=now, created_at=now,
                    updated_at=now, attempts=0))
        except IntegrityError:  # another node's scan wrote it between our read and insert
            return False
        return True

    async def _record_deadline_view(self, task: CallbackTask, satisfaction: Satisfaction | None,
                                    actor: Actor, *, reached: bool, reason: str) -> Ticket:
        """What the caller said at the expired deadline, on the ticket (which stays with the unit);
        the task finishes in the same transaction (`tickets.store.finish_deadline_tasks`)."""
        ticket = await self._tickets.get(task.ticket_no)
        new, _ = await self._tickets.transition(task.ticket_no, workflow.RecordDeadlineCallback(
            satisfaction=satisfaction, reached=reached, reason=reason), actor, ticket.version)
        log.info("deadline callback recorded", extra={
            "ticket_no": task.ticket_no, "reached": reached,
            "satisfaction": satisfaction.value if satisfaction else None})
        return new

    async def close_unreached(self, task_id: str, actor: Actor, *, reason: str, outcome: str) -> Ticket:
        """未回访成功: the citizen was tried as often as the policy asks and never reached; the
        ticket closes with that outcome (the workflow refuses it before the attempt cap). For a
        deadline task the ticket does not close: the unit still owes the handling; that the
        caller was not reached is recorded on it."""
        task = await self._get(task_id)
        if task.status not in PERSON_MAY_TAKE:
            raise Conflict("the automatic dialer is calling this citizen now; try again shortly",
                           task=task_id)
        if task.reason == DEADLINE_CALLBACK_REASON:
            done = await self._record_deadline_view(task, None, actor, reached=False, reason=reason)
            await self._set(task_id, DONE, outcome[:32])
            return done
        ticket = await self._tickets.get(task.ticket_no)
        new, _ = await self._tickets.transition(task.ticket_no, workflow.CloseUnreached(
            attempts=task.attempts, reason=reason), actor, ticket.version)
        await self._set(task_id, DONE, outcome[:32])
        return new

    async def record_by_person(self, task_id: str, satisfaction: Satisfaction | None, actor: Actor, *,
                               reasonable: bool | None, reason: str, outcome: str) -> Ticket:
        """A callback agent's own callback (回访员): the answer, their judgement whether an
        unsatisfied citizen's request is reasonable (None: left to the review list), and why,
        go on the ticket in their name; `satisfaction` None: reached, declined to rate.
        Any task not in the robot's hands may be done so: due, on the agents' list, or called,
        and a call a person placed that reached the citizen (its answer follows the call)."""
        task = await self._get(task_id)
        if task.status not in PERSON_MAY_TAKE:
            raise Conflict("the automatic dialer is calling this citizen now; try again shortly",
                           task=task_id)
        if task.reason == DEADLINE_CALLBACK_REASON:  # no judgement: the unit has not finished
            ticket = await self._record_deadline_view(task, satisfaction, actor, reached=True,
                                                      reason=reason)
        else:
            ticket = await self.record_answer(task.ticket_no, satisfaction, actor,
                                              reasonable=reasonable, reason=reason)
        await self._set(task_id, DONE, satisfaction.value if satisfaction else outcome[:32])
        return ticket

    async def retry_by_person(self, task_id: str, at: datetime, outcome: str) -> CallbackTask:
        """A callback agent did not reach the citizen and will try again at `at`: the task
        stays on the agents' list (the robot no longer takes it), due then, with why. The
        attempt counts once: a call placed from the page or desk counted when it was placed."""
        placed = callback_tasks.c.result.startswith(PLACED, autoescape=True)
        async with self._engine.begin() as conn:
            moved = await conn.execute(
                update(callback_tasks)
                .where(callback_tasks.c.id == task_id, callback_tasks.c.status.in_(PERSON_MAY_TAKE))
                .values(status=AGENT, due_at=at, result=outcome[:32],
                        attempts=callback_tasks.c.attempts + case((placed, 0), else_=1),
                        updated_at=self._clock()))
        if moved.rowcount != 1:
            await self._get(task_id)  # NotFound when there is no such task
            raise Conflict("the automatic dialer is calling this citizen now; try again shortly",
                           task=task_id)
        return await self._get(task_id)

    async def listed(self, status: str | None = None, limit: int = 100, *,
                     reader: str | None = None) -> list[CallbackTask]:
        """The tasks, soonest due first; `reader`: the callbacks of complaints about that person
        left out (`kernel.schema.visible_to`: they never learn of the complaint)."""
        query = (select(callback_tasks, tickets.c.caller_confidential)
                 .join(tickets, tickets.c.ticket_no == callback_tasks.c.ticket_no, isouter=True)
                 .order_by(callback_tasks.c.due_at).limit(limit))
        if reader is not None:
            query = query.where(visible_to(reader))
        if status:
            query = query.where(callback_tasks.c.status == status)
        async with self._engine.connect() as conn:
            return [_task(r) for r in (await conn.execute(query)).all()]

    async def _get(self, task_id: str) -> CallbackTask:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(callback_tasks).where(callback_tasks.c.id == task_id))).first()
        if row is None:
            raise NotFound("no such callback task", task=task_id)
        return _task(row)

    async def _set(self, task_id: str, status: str, result: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(callback_tasks).where(callback_tasks.c.id == task_id)
                               .values(status=status, result=result, updated_at=self._clock()))
