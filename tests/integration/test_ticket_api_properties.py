"""Ticket HTTP API, property-based: hypothesis drives random API calls by random roles.

Runs the real aiohttp server of `tests/integration/test_ticket_api.py` (its `client` fixture)
on SQLite and on real PostgreSQL (`database_url`), and checks every answer against the tables
of `tests/unit/test_ticket_workflow.py`, which were written from the regulations rather than
from the workflow:

(a) no sequence of calls reaches a state the regulations do not allow: each accepted command
    moves the ticket to a status in `ALLOWED_NEXT` of the previous one, by a role that
    `EXPECTED_ROLES` names for its event; a refused call answers 400/403/404/409/422 with a
    JSON error code and message, and changes nothing (the whole ticket and history, as a
    supervisor reads them, are identical);
(b) every accepted command adds exactly one event, visible in `GET /api/tickets/{no}`, after
    an unchanged history, numbered after the last, attributed to the caller of the command;
(c) a closed ticket never changes, except for being archived;
(d) a unit never sees a ticket it is not involved in (404, worded as for a ticket that does
    not exist) and never sees a confidential caller's number (nor an anonymous caller's name);
(e) two concurrent commands on one ticket at the same expected_version: exactly one is
    accepted, the other is a 409 `conflict`, and exactly one event is written.

How hypothesis meets asyncio here. pytest-asyncio (>= 0.11, 1.x installed) turns an
`async def` test decorated with `@given` into an `AsyncHypothesisTest` item: it replaces
hypothesis' inner test with a synchronous wrapper that runs each example's coroutine with
`runner.run(...)` on the session-scoped runner, the very loop on which the async `client`
fixture started the server and opened the engine. So `@given` sits directly on the async
tests below; no thread hopping is needed, and `asyncio.gather` inside an example really runs
two requests at once against the server (in (e) both usually read the ticket before either
writes, so the loser meets the optimistic lock in the database, not just the version check). The
`client` fixture is function-scoped and shared
by every example of a test (one server and one database per backend, which is what keeps
this fast); hypothesis' `function_scoped_fixture` health check warns about exactly that and
is suppressed on purpose: every example registers fresh tickets and resets the test clock, and
nothing it checks depends on what earlier examples left in the database.

Steps are generated up front as a list of (command, actor, version skew, hours, pick) tuples.
A command or actor can be symbolic (`NEXT`, `EXPECTED`), resolved against the ticket as it
stands when the step runs: a move the regulations expect from the current status, a role that
may make it (the lead unit for a unit's command). Purely random commands by purely random
roles almost never get past dispatch; the symbols keep deep states reachable while every role
still tries every command. Bodies are drawn per command name from strategies when the step
runs (they need the ticket's current deadline). A falsifying example prints the step list,
the bodies drawn, and a note of every call made with its answer.

This module replaces the seeded random walk of `test_ticket_api.py`; it imports that module's
fixtures, helpers and actors and treats the actors' headers as opaque (the role and unit of
each are kept in `ACTORS` below).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from kernel.access_policy import number_view
from kernel.clock import FixedClock
from kernel.roles import Role

# The server fixture and the fixtures it needs: pytest looks them up in this module.
from tests.integration.test_ticket_api import (  # noqa: F401
    AGENT,
    CALLBACK,
    DISPATCHER,
    EVIDENCE,
    HOUSING,
    SUPERVISOR,
    SYSTEM,
    UNITS,
    catalogue_and_calendar,
    client,
    clock,
    command,
    ok,
    register,
    unit,
)
from tests.unit.test_ticket_workflow import (
    ALLOWED_NEXT,
    CLOSING_AFTER_DISPATCH,
    CLOSING_EVENTS,
    EXPECTED_ROLES,
)
from tickets import events as ev
from tickets.api import COMMANDS, PROJECTED_FIELDS
from tickets.model import (
    EscalationGround,
    OutOfScope,
    QualityFinding,
    Satisfaction,
    SupervisionFlagKind,
    SupervisionLevel,
    TerminationGround,
    TicketStatus,
    TicketType,
)

S = TicketStatus
#: Walks start on a Monday morning and stay within the year: 2026 has the published holiday
#: schedule, 2027 only a provisional one, and an unknown year is a 500 `config_error` by
#: design (the calendar refuses to guess).
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LATEST = T0 + timedelta(days=120)

#: Every actor the walks use: name -> (role, unit, headers). The headers are opaque tokens.
ACTORS: dict[str, tuple[Role, str | None, Any]] = {
    "agent": (Role.AGENT, None, AGENT),
    "dispatcher": (Role.DISPATCHER, None, DISPATCHER),
    "callback_agent": (Role.CALLBACK_AGENT, None, CALLBACK),
    "supervisor": (Role.SUPERVISOR, None, SUPERVISOR),
    "system": (Role.SYSTEM, None, SYSTEM),
    **{code: (Role.UNIT, code, unit(code)) for code in UNITS},
}
HOTLINE_ACTOR_BY_ROLE = {role: name for name, (role, code, _) in ACTORS.items() if code is None}
#: Accounts a walk's complaint about staff may name -> the actor name they sign in as (None: a
#: colleague outside the walk).
CONCERNABLE: dict[str, str | None] = {AGENT.user: "agent", DISPATCHER.user: "dispatcher",
                                      "a-9": None}

#: The event each command must produce when it is accepted (from the API's command list).
EVENT_OF: dict[str, type[ev.TicketEvent]] = {
    "classify": ev.TicketClassified,
    "answer-directly": ev.AnsweredDirectly,
    "three-way-call": ev.AnsweredInThreeWayCall,
    "close-out-of-scope": ev.ClosedOutOfScope,
    "dispatch": ev.Dispatched,
    "sign": ev.Signed,
    "request-return": ev.ReturnRequested,
    "approve-return": ev.ReturnApproved,
    "reject-return": ev.ReturnRejected,
    "request-extension": ev.ExtensionRequested,
    "approve-extension": ev.ExtensionApproved,
    "deny-extension": ev.ExtensionDenied,
    "request-termination": ev.TerminationRequested,
    "approve-termination": ev.TerminationApproved,
    "reject-termination": ev.TerminationRejected,
    "progress-note": ev.ProgressNoted,
    "record-contact": ev.CallerContacted,
    "feedback": ev.FeedbackSubmitted,
    "callback": ev.CallbackRecorded,
    "review-reopen": ev.ReopenReviewed,
    "accept-feedback": ev.FeedbackAccepted,
    "reject-feedback": ev.FeedbackRejected,
    "close-unreached": ev.CallbackUnreached,
    "deadline-callback": ev.DeadlineCallbackRecorded,
    "quality-finding": ev.QualityFindingRecorded,
    "request-suspension": ev.SuspensionRequested,
    "approve-suspension": ev.SuspensionApproved,
    "reject-suspension": ev.SuspensionRejected,
    "resume": ev.HandlingResumed,
    "flag-supervision": ev.SupervisionFlagged,
    "escalate": ev.SupervisionEscalated,
    "archive": ev.Archived,
}
LEAD_UNIT_EVENTS = (ev.Signed, ev.ReturnRequested, ev.ExtensionRequested,
                    ev.TerminationRequested, ev.FeedbackSubmitted, ev.SuspensionRequested,
                    ev.HandlingResumed, ev.CallerContacted)
#: Error codes of the one hierarchy and the HTTP status each must come with.
ERROR_STATUS = {"invalid_input": 400, "permission_denied": 403, "not_found": 404,
                "conflict": 409, "illegal_transition": 422}

#: Moves the regulations expect from each status (repeats weight the common ones). Intake
#: closures are left to the random branch, so that most walks reach the units; the closed
#: and archived rows are all attempts that must be refused, except archiving a closed ticket.
EXPECTED_NEXT: dict[S, tuple[str, ...]] = {
    S.DRAFT: ("classify", "dispatch", "dispatch"),
    S.PENDING_DISPATCH: ("dispatch", "dispatch", "classify"),
    S.DISPATCHED: ("sign", "sign", "request-return", "progress-note", "record-contact"),
    S.IN_PROGRESS: ("feedback", "feedback", "request-extension", "request-termination",
                    "request-return", "progress-note", "flag-supervision", "escalate",
                    "request-suspension", "record-contact", "deadline-callback"),
    S.RETURN_REQUESTED: ("approve-return", "reject-return"),
    S.EXTENSION_REQUESTED: ("approve-extension", "deny-extension"),
    S.TERMINATION_REQUESTED: ("approve-termination", "reject-termination"),
    S.SUSPENSION_REQUESTED: ("approve-suspension", "reject-suspension"),
    S.SUSPENDED: ("resume", "resume", "progress-note", "record-contact"),
    S.FEEDBACK_SUBMITTED: ("callback", "callback", "progress-note", "close-unreached",
                           "accept-feedback", "reject-feedback"),
    S.FEEDBACK_ACCEPTED: ("callback", "callback", "close-unreached"),
    S.REOPEN_REQUESTED: ("review-reopen", "review-reopen", "progress-note"),
    # A complaint about hotline staff: the quality team's finding; a dispatch is always refused.
    S.QUALITY_CHECK: ("quality-finding", "quality-finding", "dispatch", "progress-note"),
    S.CLOSED: ("archive", "progress-note", "callback", "classify", "escalate"),
    S.ARCHIVED: ("archive", "progress-note", "flag-supervision"),
}

NEXT = "<expected next>"  # symbolic command: one of EXPECTED_NEXT[status]
EXPECTED = "<expected actor>"  # symbolic actor: a role the regulations name for the command


class Step(NamedTuple):
    command: str  # a name of COMMANDS, or NEXT
    actor: str  # a name of ACTORS, or EXPECTED
    version_skew: int  # 0: the current version; otherwise a stale (or future) one
    hours: int  # the clock moves on by this much before the call
    pick: int  # chooses among the candidates when a symbol is resolved


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` three draws in four, `bad` the rest: a walk of mostly sensible calls goes deep
    into the workflow, and every kind of wrong call is still tried along the way."""
    return st.sampled_from([good, good, good, bad]).flatmap(lambda strategy: strategy)


steps = st.integers(min_value=1, max_value=50).flatmap(lambda n: st.lists(st.builds(
    Step,
    command=mostly(st.just(NEXT), st.sampled_from(list(COMMANDS))),
    actor=mostly(st.just(EXPECTED), st.sampled_from(list(ACTORS))),
    version_skew=mostly(st.just(0), st.sampled_from([-1, 1])),
    hours=mostly(st.integers(0, 12), st.sampled_from([48, 240])),
    pick=st.integers(0, 11),
), min_size=n, max_size=n))

callers = st.fixed_dictionaries({"confidential": st.booleans(), "anonymous": st.booleans(),
                                 # 济南条例: 要求不回复的除外 (no first-contact deadline then).
                                 "no_reply": st.booleans()})

# ---- bodies, per command name ----------------------------------------------------------------

#: An attachment naming a file that was never uploaded: always refused (400), changes nothing.
DANGLING = {**EVIDENCE[0], "sha256": "cd" * 32}
reasons = mostly(st.sampled_from(["理由充分", "非本单位职责"]), st.just(""))
texts = mostly(st.just("已联系诉求人，正在处理"), st.just(""))
evidence = mostly(st.just(EVIDENCE), st.sampled_from([[], [DANGLING]]))
#: Steps of the supervision ladder that can be allowed (from the right level).
LADDER = [(1, "hotline_supervision"), (2, "unresolved_after_hotline"),
          (3, "unresolved_after_media"), (3, "promised_not_done"),
          (4, "high_public_attention"), (5, "misconduct")]


def _values(enum: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([member.value for member in enum])


def _later(base: datetime) -> st.SearchStrategy[str]:
    """A deadline relative to `base`: mostly later, sometimes not (refused)."""
    return mostly(st.integers(1, 15), st.integers(-1, 0)).map(
        lambda days: (base + timedelta(days=days)).isoformat())


def _dispatch(lead: str) -> st.SearchStrategy[dict[str, Any]]:
    others = [u for u in UNITS if u != lead]
    return st.fixed_dictionaries({
        "lead_unit": st.just(lead),
        "cooperating_units": mostly(st.lists(st.sampled_from(others), max_size=2, unique=True),
                                    st.just([lead])),
        # Needed after repeated returns (联席会议); a dangling reference is always refused.
        "joint_meeting_minutes": mostly(st.sampled_from([None, EVIDENCE[0]]), st.just(DANGLING)),
    })


def body_for(name: str, ticket: dict[str, Any], now: datetime) -> st.SearchStrategy[dict[str, Any]]:
    """Parameters for one command on `ticket` at `now`: mostly valid, sometimes not."""
    deadline = datetime.fromisoformat(ticket["deadline"]) if ticket["deadline"] else now
    requested = (datetime.fromisoformat(ticket["requested_deadline"])
                 if ticket["requested_deadline"] else deadline)
    reason = {"reason": reasons}
    match name:
        case "classify":
            fields = {"ticket_type": _values(TicketType),
                      "summary": mostly(st.sampled_from(["小区停水", "欠薪"]), st.just("")),
                      # A complaint about the agent or the dispatcher of the walk, or a colleague
                      # (never the supervisor who reads the walk's snapshots).
                      "about_staff": mostly(st.none(), st.sampled_from(sorted(CONCERNABLE)))}
        case "quality-finding":
            fields = {"finding": _values(QualityFinding), "result": texts}
        case "answer-directly":
            fields = {"answer": texts}
        case "three-way-call":
            fields = {"unit": st.just("utility-water"), "answer": texts, "caller_consented": st.booleans()}
        case "close-out-of-scope":
            fields = {"scope": _values(OutOfScope),
                      "referred_to": st.sampled_from(["", "110", "人民法院"]),
                      "duplicate_of": st.sampled_from([None, "20261101-N01-000001"])}
        case "dispatch":
            return st.sampled_from(UNITS).flatmap(_dispatch)
        case "request-return":
            fields = {**reason, "attachments": evidence}
        case "request-termination":
            fields = {**reason, "attachments": evidence, "ground": _values(TerminationGround),
                      "explained_to_caller": mostly(st.just(True), st.just(False))}
        case "request-extension":
            fields = {**reason, "requested_deadline": _later(deadline),
                      "caller_informed": mostly(st.just(True), st.just(False))}
        case "request-suspension":
            fields = {**reason, "attachments": evidence}
        case "review-reopen":
            fields = {**reason, "reasonable": st.booleans(),
                      # None: the API computes it from the catalogue (when reasonable).
                      "new_deadline": st.one_of(st.none(), _later(now))}
        case "close-unreached":
            fields = {**reason, "attempts": mostly(st.integers(3, 6), st.integers(0, 2))}
        case "approve-extension":
            fields = {**reason, "new_deadline": st.one_of(_later(requested), _later(deadline))}
        case "progress-note":
            fields = {"note": texts, "attachments": st.sampled_from([[], EVIDENCE, [DANGLING]])}
        case "feedback":
            fields = {"result": texts, "contacted_caller": st.booleans()}
        case "record-contact":
            fields = {"method": mostly(st.sampled_from(["phone", "sms", "visit"]), st.just("fax")),
                      "note": texts}
        case "deadline-callback":
            fields = {**reason, "satisfaction": st.sampled_from([None, *(s.value for s in Satisfaction)]),
                      "reached": mostly(st.just(True), st.just(False))}
        case "callback":
            fields = {"satisfaction": st.sampled_from([None, *(s.value for s in Satisfaction)]),
                      "reasonable": st.booleans(), "handled_as_required": st.booleans(),
                      # None: the API computes it from the catalogue (when reopening).
                      "new_deadline": st.one_of(st.none(), _later(now))}
        case "flag-supervision":
            fields = {**reason, "kind": _values(SupervisionFlagKind)}
        case "escalate":
            level_and_ground = mostly(st.sampled_from(LADDER), st.tuples(
                st.sampled_from([int(level) for level in SupervisionLevel]),
                _values(EscalationGround)))
            return st.tuples(level_and_ground, reasons).map(lambda drawn: {
                "to_level": drawn[0][0], "ground": drawn[0][1], "reason": drawn[1]})
        case _:  # sign, approve/reject/deny of a request, archive: a reason at most
            fields = reason
    return st.fixed_dictionaries(fields)


# ---- resolving a step against the ticket as it stands -----------------------------------------


def involved(ticket: dict[str, Any]) -> list[str]:
    return [u for u in (ticket["lead_unit"], *ticket["cooperating_units"]) if u]


def resolve(step: Step, ticket: dict[str, Any]) -> tuple[str, str]:
    """The command name and actor name a step means for `ticket`."""
    status = S(ticket["status"])
    name = step.command
    if name == NEXT:
        choices = EXPECTED_NEXT[status]
        name = choices[step.pick % len(choices)]
    if step.actor != EXPECTED:
        return name, step.actor
    roles = sorted(EXPECTED_ROLES[EVENT_OF[name]])
    role = roles[step.pick % len(roles)]
    if role is not Role.UNIT:
        return name, HOTLINE_ACTOR_BY_ROLE[role]
    units = involved(ticket)
    if ticket["lead_unit"] and issubclass(EVENT_OF[name], LEAD_UNIT_EVENTS):
        return name, ticket["lead_unit"]
    return name, (units or list(UNITS))[step.pick % len(units or UNITS)]


# ---- reading tickets back ---------------------------------------------------------------------


async def snapshot(client: TestClient, no: str) -> dict[str, Any]:
    """The ticket and its whole history as the hotline sees them."""
    response = await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)
    assert response.status == 200, await response.text()
    return await response.json()


def unit_view_of_caller(caller: dict[str, Any]) -> dict[str, Any]:
    """What a unit may see of a caller (临沂条例第十七条: 保密联络; no name when anonymous)."""
    if caller["confidential"]:
        return {**caller, "number": None, "name": None}
    return {**caller, "name": None if caller["anonymous"] else caller["name"]}


def assert_error(code: int, data: dict[str, Any]) -> None:
    """A refusal is a JSON error of the one hierarchy: a known code, its status, a message."""
    assert code in (400, 403, 404, 409, 422), (code, data)
    assert ERROR_STATUS.get(data.get("error")) == code, (code, data)
    assert isinstance(data.get("message"), str) and data["message"].strip(), data


_missing: dict[int, dict[str, Any]] = {}


async def missing_ticket_answer(client: TestClient, headers: Any) -> dict[str, Any]:
    """What a unit is told about a ticket number that does not exist."""
    if id(headers) not in _missing:
        response = await client.get("/api/tickets/20991231-N01-999999", headers=headers)
        assert response.status == 404
        _missing[id(headers)] = await response.json()
    return _missing[id(headers)]


async def assert_units_see_only_their_tickets(
    client: TestClient, no: str, ticket: dict[str, Any], caller: dict[str, Any]
) -> None:
    """Property (d), for every unit, on the ticket as it stands now."""
    for code in UNITS:
        headers = ACTORS[code][2]
        response = await client.get(f"/api/tickets/{no}", headers=headers)
        text = await response.text()
        if code not in involved(ticket):
            assert response.status == 404, (code, ticket["status"], text)
            assert await response.json() == await missing_ticket_answer(client, headers)
            continue
        assert response.status == 200, (code, text)
        data = await response.json()
        assert data["ticket"]["caller"] == unit_view_of_caller(caller), data["ticket"]["caller"]
        registered = data["events"][0]["data"]["caller"]
        assert registered == unit_view_of_caller(caller), registered
        assert_hidden_from_units(text, caller)


def assert_hidden_from_units(text: str, caller: dict[str, Any]) -> None:
    if caller["confidential"]:
        assert caller["number"] not in text, "a unit saw a confidential caller's number"
    if caller["confidential"] or caller["anonymous"]:
        assert caller["name"] not in text, "a unit saw a hidden caller's name"


#: Each example's caller gets a number and a name no other ticket of the run has, so that a
#: leak is found by searching a whole response for it.
_caller_serial = itertools.count(1)
#: Actor id each actor name was recorded under (learned: the tokens are opaque here).
_actor_ids: dict[str, str] = {}


def assert_recorded_actor(event: dict[str, Any], actor_name: str) -> None:
    role, code, _ = ACTORS[actor_name]
    actor = event["actor"]
    assert (actor["role"], actor["unit"]) == (role.value, code), (actor, actor_name)
    known = _actor_ids.setdefault(actor_name, actor["id"])
    assert actor["id"] == known, (actor, actor_name, known)
    assert list(_actor_ids.values()).count(actor["id"]) == 1, _actor_ids


#: Fields a list entry (`GET /api/tickets`) carries: the `tickets` projection, which must agree
#: with the ticket read alone (the other fields are shown by the single-ticket read only).
LISTED = PROJECTED_FIELDS


# ---- (a) to (d): random calls by random roles ------------------------------------------------


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(caller_flags=callers, walk=steps, data=st.data())
async def test_random_calls_by_random_roles_stay_within_the_regulations(
    client: TestClient, clock: FixedClock, caller_flags: dict[str, bool], walk: list[Step],
    data: st.DataObject,
) -> None:
    clock.now = T0
    serial = next(_caller_serial)
    caller = {"number": f"139{serial:08d}", "name": f"诉求人{serial:05d}", **caller_flags}
    no = (await register(client, **caller))["ticket_no"]
    # A bystander ticket, dispatched to a unit: no call on the other ticket may touch it.
    bystander = (await register(client, number="13700000000"))["ticket_no"]
    await ok(client, bystander, "classify", AGENT, 1, ticket_type="help", summary="路灯不亮")
    await ok(client, bystander, "dispatch", DISPATCHER, 2, lead_unit="city-urban-management")
    bystander_before = await snapshot(client, bystander)

    before = await snapshot(client, no)
    await assert_units_see_only_their_tickets(client, no, before["ticket"], caller)
    for index, step in enumerate(walk):
        clock.now = min(clock.now + timedelta(hours=step.hours), LATEST)
        ticket = before["ticket"]
        status = S(ticket["status"])
        name, actor_name = resolve(step, ticket)
        role, actor_unit, headers = ACTORS[actor_name]
        body = data.draw(body_for(name, ticket, clock.now), label=f"body of step {index}")
        version = ticket["version"] + step.version_skew
        code, answer = await command(client, no, name, headers, version, **body)
        after = await snapshot(client, no)
        note(f"{index}: {status.value} v{ticket['version']} --{name} by {actor_name} "
             f"at v{version}--> {code} {answer.get('error', '')} "
             f"{after['ticket']['status']} v{after['ticket']['version']}")
        stale = step.version_skew != 0
        # A unit the ticket is not dispatched to, or the staff member a complaint is about:
        # to them the ticket does not exist (kernel.access_policy).
        concerned = ticket["about_staff"] is not None and CONCERNABLE.get(ticket["about_staff"]) == actor_name
        outsider = (role is Role.UNIT and actor_unit not in involved(ticket)) or concerned
        if role is Role.UNIT:
            assert_hidden_from_units(json.dumps(answer, ensure_ascii=False), caller)

        if code != 200:
            # (a) A refusal is a clear JSON error and changes nothing at all.
            assert_error(code, answer)
            assert after == before, (name, actor_name, code, answer)
            assert code != 409 or stale, (name, code, answer)  # no one else writes here
            if code == 404:  # the ticket and the command exist: only outsiders are told not
                assert outsider, (name, actor_name, answer)
                assert answer == await missing_ticket_answer(client, headers)
            if outsider:  # (d) only a body or a role refused before the ticket is read may say more
                assert code in ((400, 403, 404) if concerned else (400, 404)), (name, actor_name, code, answer)
            elif role not in EXPECTED_ROLES[EVENT_OF[name]] and not stale:
                assert code in (400, 403), (name, actor_name, code, answer)
            continue

        # (a) Accepted: never on a stale version, never by a role or to a status the
        # regulations do not allow, never by the person a complaint is about.
        assert not stale, (name, version, ticket["version"])
        assert not concerned, (name, actor_name, ticket["about_staff"])
        new = after["ticket"]
        new_status = S(new["status"])
        new_event = after["events"][-1]
        event_class = EVENT_OF[name]
        assert new_event["type"] == event_class.__name__, (name, new_event["type"])
        assert new_status in ALLOWED_NEXT[status], (status, new_status, name)
        assert role in EXPECTED_ROLES[event_class], (name, actor_name)
        if role is Role.UNIT:
            assert actor_unit in involved(ticket), (name, actor_name, ticket["lead_unit"])
        if issubclass(event_class, LEAD_UNIT_EVENTS) and role is Role.UNIT:  # (resume: also the hotline)
            assert actor_unit == ticket["lead_unit"], (name, actor_name, ticket["lead_unit"])
        if new_status is S.CLOSED and status is not S.CLOSED:
            assert issubclass(event_class, CLOSING_EVENTS), name
            if ticket["dispatched_at"] is not None:  # a unit had it: callback or review only
                assert issubclass(event_class, CLOSING_AFTER_DISPATCH), name

        # (b) Exactly one new event, after an unchanged history, numbered after the last,
        # dated now, attributed to the caller of the command, as the answer said.
        assert after["events"][:-1] == before["events"], name
        assert new_event["version"] == ticket["version"] + 1 == new["version"], (new_event, new)
        assert datetime.fromisoformat(new_event["at"]) == clock.now, new_event["at"]
        assert_recorded_actor(new_event, actor_name)
        assert answer["event"] == new_event, (answer["event"], new_event)
        shown = {**new, "caller": unit_view_of_caller(new["caller"])} if role is Role.UNIT else new
        if role is Role.SYSTEM:  # an automated job reads no caller's number (kernel.access_policy)
            shown = {**new, "caller": {**new["caller"], "number": number_view(new["caller"]["number"], False)},
                     "callback_number": number_view(new["callback_number"], False)}
        assert answer["ticket"] == shown, (answer["ticket"], shown)

        # (c) A closed ticket never changes, except for being archived.
        if status in (S.CLOSED, S.ARCHIVED):
            assert status is S.CLOSED and event_class is ev.Archived, (status, name)
            kept = set(ticket) - {"status", "version", "updated_at", "archived_at"}
            assert {k: new[k] for k in kept} == {k: ticket[k] for k in kept}, name

        # (d) Units see it exactly when involved, never the hidden caller.
        await assert_units_see_only_their_tickets(client, no, new, caller)
        before = after
        # Shown by --hypothesis-show-statistics: how deep the walks go.
        event(f"accepted {name}")
        event(f"reached {new_status.value}")

    # (d) Lists agree with the ticket as read alone: a unit lists it exactly when involved,
    # without the hidden caller; the bystander was never touched.
    ticket = before["ticket"]
    for actor_name in ("supervisor", *UNITS):
        role, code, headers = ACTORS[actor_name]
        response = await client.get("/api/tickets?limit=500", headers=headers)
        text = await response.text()
        listed = {t["ticket_no"]: t for t in (await response.json())["tickets"]}
        if role is Role.UNIT:
            assert (no in listed) == (code in involved(ticket)), (code, ticket["status"])
            assert_hidden_from_units(text, caller)
        if no in listed:
            shown = {**ticket, "caller": unit_view_of_caller(ticket["caller"])} if code else ticket
            assert set(listed[no]) == set(LISTED)
            assert {k: listed[no][k] for k in LISTED} == {k: shown[k] for k in LISTED}
    assert await snapshot(client, bystander) == bystander_before
    # (f) A complaint about staff: never dispatched, and absent for the person concerned, in
    # the single read and in every list they have.
    if ticket["about_staff"] is not None:
        assert ticket["lead_unit"] is None and ticket["dispatched_at"] is None
        if (concerned_name := CONCERNABLE[ticket["about_staff"]]) is not None:
            headers = ACTORS[concerned_name][2]
            response = await client.get(f"/api/tickets/{no}", headers=headers)
            assert response.status == 404
            assert await response.json() == await missing_ticket_answer(client, headers)
            history = await client.get(f"/api/callers/{caller['number']}/tickets", headers=headers)
            assert no not in await history.text()
            if concerned_name == "dispatcher":
                assert no not in await (await client.get("/api/tickets?limit=500", headers=headers)).text()


# ---- (e) two concurrent commands at the same expected_version ---------------------------------

#: Tickets brought to a status by the usual path, and commands each legal there on its own
#: (name, actors who may send it, body). Pairs are drawn with repetition: the same command
#: sent twice (a double click, two desks) is the commonest race.
RACES: dict[S, list[tuple[str, tuple[str, ...], st.SearchStrategy[dict[str, Any]]]]] = {
    S.DRAFT: [
        ("classify", ("agent", "dispatcher", "supervisor"),
         st.fixed_dictionaries({"ticket_type": _values(TicketType),
                                "summary": st.sampled_from(["电梯停运", "小区停水"])})),
        ("answer-directly", ("agent", "supervisor"), st.just({"answer": "按答复口径答复"})),
        ("close-out-of-scope", ("agent",),
         st.just({"scope": "emergency_line", "referred_to": "110"})),
        ("progress-note", ("agent", "callback_agent"), st.just({"note": "已记录"})),
        ("dispatch", ("dispatcher", "supervisor"),
         st.sampled_from(UNITS).map(lambda lead: {"lead_unit": lead})),
    ],
    S.DISPATCHED: [
        ("sign", ("city-housing",), st.just({})),
        ("request-return", ("city-housing",),
         st.just({"reason": "非本单位职责", "attachments": EVIDENCE})),
        ("progress-note", ("city-housing", "city-urban-management", "agent"),
         st.just({"note": "已到现场"})),
        ("flag-supervision", ("system", "supervisor"),
         _values(SupervisionFlagKind).map(lambda kind: {"kind": kind, "reason": "扫描发现"})),
    ],
    S.IN_PROGRESS: [
        ("feedback", ("city-housing",), st.just({"result": "已处理"})),
        ("request-extension", ("city-housing",),
         # After the deadline a dispatch at T0 gets (2026-03-09), within the extension cap.
         st.integers(10, 30).map(lambda days: {
             "reason": "需要协调", "caller_informed": True,
             "requested_deadline": (T0 + timedelta(days=days)).isoformat()})),
        ("request-suspension", ("city-housing",),
         st.just({"reason": "诉求人住院，暂无法核实", "attachments": EVIDENCE})),
        ("request-termination", ("city-housing",), st.just({
            "reason": "诉求人拒不配合", "attachments": EVIDENCE,
            "ground": "caller_refuses_to_cooperate"})),
        ("request-return", ("city-housing",),
         st.just({"reason": "非本单位职责", "attachments": EVIDENCE})),
        ("progress-note", ("city-urban-management", "supervisor"), st.just({"note": "已配合"})),
        ("record-contact", ("city-housing",), st.just({"method": "phone", "note": "已电话联系诉求人"})),
        ("escalate", ("supervisor",), st.just({"to_level": 1, "ground": "hotline_supervision",
                                               "reason": "催办无果"})),
    ],
    S.FEEDBACK_SUBMITTED: [
        ("callback", ("callback_agent", "supervisor"),
         _values(Satisfaction).map(lambda s: {"satisfaction": s})),
        ("progress-note", ("callback_agent",), st.just({"note": "已联系诉求人"})),
        ("close-unreached", ("callback_agent", "supervisor"),
         st.integers(3, 5).map(lambda attempts: {"attempts": attempts, "reason": "多次无人接听"})),
    ],
    S.CLOSED: [
        ("archive", ("system", "supervisor"), st.just({})),
    ],
}


async def ticket_in(client: TestClient, status: S) -> dict[str, Any]:
    """A fresh ticket brought to `status` by the usual path."""
    no = (await register(client))["ticket_no"]
    ticket = await ok(client, no, "classify", AGENT, 1, ticket_type="complaint", summary="电梯停运")
    path = [("dispatch", DISPATCHER, {"lead_unit": "city-housing",
                                      "cooperating_units": ["city-urban-management"]}),
            ("sign", HOUSING, {}), ("feedback", HOUSING, {"result": "已督促物业修复"}),
            ("callback", CALLBACK, {"satisfaction": "satisfied"})]
    for name, headers, body in path:
        if S(ticket["status"]) is status:
            break
        ticket = await ok(client, no, name, headers, ticket["version"], **body)
    assert S(ticket["status"]) is status
    return ticket


race = st.sampled_from(list(RACES)).flatmap(lambda status: st.tuples(
    st.just(status),
    *[st.sampled_from(RACES[status]).flatmap(lambda entry: st.tuples(
        st.just(entry[0]), st.sampled_from(entry[1]), entry[2])) for _ in range(2)]))


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contest=race)
async def test_two_concurrent_commands_at_one_version_one_wins_one_conflicts(
    client: TestClient, clock: FixedClock,
    contest: tuple[S, tuple[str, str, dict[str, Any]], tuple[str, str, dict[str, Any]]],
) -> None:
    clock.now = T0
    status, *contenders = contest
    ticket = await ticket_in(client, status)
    no, version = ticket["ticket_no"], ticket["version"]
    before = await snapshot(client, no)
    answers = await asyncio.gather(*(
        command(client, no, name, ACTORS[actor_name][2], version, **body)
        for name, actor_name, body in contenders))
    event(f"race in {status.value}")
    note(f"{status.value} v{version}: {[(c[0], c[1]) for c in contenders]} -> "
         f"{[(code, a.get('error')) for code, a in answers]}")

    codes = sorted(code for code, _ in answers)
    assert codes == [200, 409], answers
    (winner, (_, won)), (_, (_, lost)) = sorted(
        zip(contenders, answers, strict=True), key=lambda pair: pair[1][0])
    assert lost["error"] == "conflict" and lost["message"].strip(), lost
    after = await snapshot(client, no)
    assert after["ticket"]["version"] == version + 1
    assert after["events"][:-1] == before["events"]
    assert after["events"][-1] == won["event"]
    assert after["events"][-1]["type"] == EVENT_OF[winner[0]].__name__
    assert_recorded_actor(after["events"][-1], winner[1])
