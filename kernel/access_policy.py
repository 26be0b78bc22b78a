"""Who may see which citizen's data: the one data-access policy, as tables (issue 22, item 5).

Every read path of personal data (tickets, calls, recordings, transcripts stored and live,
callbacks, live calls, supervision flags, caller history, anti-abuse history, evidence files,
the audit itself) asks this module, and only this module, whether a reader may
read it, how the caller's number is shown, and which audit row the read writes:

* `READS`: for each kind of read (`Read`), each role's scope: every record (`Scope.ANY`), the
  records the reader took part in (`Scope.OWN`: the calls they answered, the tickets they worked
  on), or the tickets dispatched to the reader's unit (`Scope.UNIT`). A role without an entry
  never reads it. Route gates are derived from the same table (`roles_for`).
* Confidential (保密) callers: their number is masked in every view, for every role; only a
  supervisor may reveal it, and each reveal is an explicit, audited action of its own
  (`Read.CONFIDENTIAL_NUMBER`, a POST .../reveal route). A unit never sees another unit's
  tickets, nor the numbers of a confidential caller's tickets elsewhere (`visible_related`).
* Auditors read only the audit, and see every number in it masked (`audit_view_number`); the
  audit never stores a confidential caller's number in full (`audit_number`).
* Every read of personal data writes exactly one audit row, refused ones too, of the kind
  `READ_KIND` gives: the adapters call `decide` once per read and write its row.
* A complaint about hotline staff (投诉热线工作人员) is never read by the staff member it is
  about, whatever their role or part in it (`Subject.concerned`): to them it does not exist
  (`Decision.absent`, a 404), in no list, search, queue or history either (`hidden_from`; the
  list adapters narrow their queries with `tickets.store.visible_to`, this rule in SQL). Other
  staff read it as they read any ticket: the supervisors' quality team, the dispatchers and
  callback agents every one, an agent the ones they took part in, and every agent on the line
  sees it in the caller's history (首接负责制: the first receiver must know the caller's open
  requests, complaints included; the reads are audited like any other). Excluding every agent
  would hide the caller's history from the colleague on the phone without protecting the
  complainant any better than keeping the one person concerned out.
* Not a read: the agent's own desk (`/ws/desk`) showing the call the agent is on (its caller,
  live words and assist): that is the conversation itself, which the agent hears anyway, and
  the desk hub delivers a call only to the agents it is offered to. It writes no row.

The rules follow 《个人信息保护法》 第五十一条 (access limited to what the job needs) and the
12345 regulations' confidentiality of callers (保密联络). Pure: no I/O; the adapters (tickets,
recordings, the live feed, the supervisor page, anti-abuse, the audit reader) do the reading and
writing, and must never decide on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from kernel.privacy import mask_phone
from kernel.roles import AGENTS, HOTLINE_STAFF, Role


class AccessKind(StrEnum):
    """What was read, as the audit row names it. One name per kind of personal data."""

    RECORDING = "recording"  # the audio of a call (listened to or downloaded)
    TRANSCRIPT = "transcript"  # the words of a call, stored or live
    CALLER_HISTORY = "caller_history"  # a caller's earlier tickets or calls
    CONFIDENTIAL_IDENTITY = "confidential_identity"  # the number of a 保密 caller, revealed
    LIVE_CALL = "live_call"  # a supervisor listening to, whispering on or barging into a call
    #: An administrator's change to a person's account or sessions (who may read the rest).
    ACCOUNT = "account"
    TICKET = "ticket"  # a ticket with its caller and events, or a list of tickets
    CALL = "call"  # a list of calls with their callers, finished or in progress
    CALLBACK = "callback"  # the callback list, with callers' numbers
    ABUSE = "abuse"  # a caller's anti-abuse screening history or standing measures
    EVIDENCE = "evidence"  # an evidence file (证明材料) attached to tickets, or its metadata
    AUDIT = "audit"  # the access audit itself (read or exported)
    #: Not a read: a batch of the retention purge (tickets/retention.py) removing closed tickets'
    #: personal data, written so the audit shows when what was removed.
    PURGE = "purge"
    EXPORT = "export"  # one citizen's data exported on their request (tickets/citizen_export.py)


#: What an audit row says was read, in Chinese: the audit page (`GET /api/workbench/titles`) and
#: its CSV export (`recordings/audit_api.py`) read this one table.
ACCESS_KIND_TITLES: dict[str, str] = {
    AccessKind.RECORDING: "通话录音",
    AccessKind.TRANSCRIPT: "通话转写",
    AccessKind.CALLER_HISTORY: "来电人历史",
    AccessKind.CONFIDENTIAL_IDENTITY: "保密来电人身份",
    AccessKind.LIVE_CALL: "监听通话",
    AccessKind.ACCOUNT: "账号变更",
    AccessKind.TICKET: "工单",
    AccessKind.CALL: "通话列表",
    AccessKind.CALLBACK: "回访列表",
    AccessKind.ABUSE: "防骚扰记录",
    AccessKind.EVIDENCE: "证明材料",
    AccessKind.AUDIT: "审计日志",
    AccessKind.EXPORT: "个人信息导出",
    AccessKind.PURGE: "到期数据清除",
}

#: Whether the read was allowed, in Chinese (the audit page and its CSV export).
ACCESS_RESULT_TITLES: dict[bool, str] = {True: "允许", False: "拒绝"}


class Read(StrEnum):
    """Every kind of read of personal data the hotline serves."""

    TICKET = "ticket"  # GET /api/tickets/{no}: the ticket, its caller, its events
    TICKET_LIST = "ticket_list"  # GET /api/tickets
    CALL = "call"  # GET /api/calls/{id}: the call and its stored transcript
    CALL_LIST = "call_list"  # GET /api/calls
    RECORDING = "recording"  # GET /api/calls/{id}/recording
    LIVE_TRANSCRIPT = "live_transcript"  # /ws/live (every call), /ws/desk (the agent's own call)
    LIVE_CALLS = "live_calls"  # GET /api/live/calls
    LIVE_AUDIO = "live_audio"  # POST /api/live/calls/{id}/monitor: listen, whisper, barge
    CALLBACKS = "callbacks"  # GET /api/callbacks
    CALLER_HISTORY = "caller_history"  # GET /api/callers/{number}/tickets
    ABUSE_HISTORY = "abuse_history"  # GET /api/abuse/{number}/history, /api/abuse/restricted
    AUDIT = "audit"  # GET /api/audit (JSON or CSV)
    EVIDENCE = "evidence"  # GET /api/evidence/{sha256}
    CONFIDENTIAL_NUMBER = "confidential_number"  # POST .../reveal: a 保密 caller's number
    #: POST /api/citizen-exports: all of one caller's data, on their request (PIPL 第四十五条).
    CITIZEN_EXPORT = "citizen_export"


class Scope(StrEnum):
    """How much of a kind of read a role gets."""

    ANY = "any"  # every record
    OWN = "own"  # the records the reader took part in (`Subject.people`)
    UNIT = "unit"  # the tickets dispatched to the reader's unit (`Subject.units`)


_ALL = Scope.ANY
_HOTLINE = {role: _ALL for role in HOTLINE_STAFF}
_SUPERVISOR = {Role.SUPERVISOR: _ALL}
#: Staff who hear calls they took part in (agents, dispatchers, callback agents).
_OWN_CALLS = {role: Scope.OWN for role in AGENTS | {Role.DISPATCHER, Role.CALLBACK_AGENT}}

#: The policy: for each read, each role's scope. A role not named never reads it: automated
#: jobs (`system`: they act on tickets, and their answers show no caller's number), knowledge-base
#: editors and administrators read none of it.
READS: Mapping[Read, Mapping[Role, Scope]] = {
    # An agent works their own tickets (the calls they answered, or their events name them);
    # dispatchers, callback agents and supervisors work every ticket; a unit its own.
    Read.TICKET: {**_HOTLINE, **{role: Scope.OWN for role in AGENTS}, Role.UNIT: Scope.UNIT},
    # Lists: the hotline's back office and the unit's own (an agent reaches tickets by call).
    Read.TICKET_LIST: {Role.DISPATCHER: _ALL, Role.CALLBACK_AGENT: _ALL, Role.SUPERVISOR: _ALL,
                       Role.UNIT: Scope.UNIT},
    Read.CALL: {**_OWN_CALLS, **_SUPERVISOR},
    Read.RECORDING: {**_OWN_CALLS, **_SUPERVISOR},
    # Listing calls shows who called when; each call's number follows `Read.CALL`.
    Read.CALL_LIST: {**{role: _ALL for role in _OWN_CALLS}, **_SUPERVISOR},
    # Every call's live words for the supervisor on the floor; an agent's own call on the desk.
    Read.LIVE_TRANSCRIPT: {**{role: Scope.OWN for role in AGENTS}, **_SUPERVISOR},
    Read.LIVE_CALLS: _SUPERVISOR,
    Read.LIVE_AUDIO: _SUPERVISOR,
    # Callback agents call citizens back; agents take the callbacks the dialer could not finish.
    Read.CALLBACKS: {**{role: _ALL for role in AGENTS}, Role.CALLBACK_AGENT: _ALL, Role.SUPERVISOR: _ALL},
    # The first receiver (首接负责制) checks a caller's earlier requests while on the line.
    Read.CALLER_HISTORY: _HOTLINE,
    Read.ABUSE_HISTORY: _SUPERVISOR,
    Read.AUDIT: {Role.SUPERVISOR: _ALL, Role.AUDITOR: _ALL},
    # Evidence: the hotline every file; a unit the files it uploaded (`Subject.units`: the uploader's).
    Read.EVIDENCE: {**_HOTLINE, Role.UNIT: Scope.UNIT},
    Read.CONFIDENTIAL_NUMBER: _SUPERVISOR,
    # A citizen's request for their own data is answered by the people who answer for the data
    # (the auditor, the administrator), not by the floor: each export is one audited action.
    # 个人信息查阅、复制 (PIPL 第四十五条): the auditor, who already reads the access audit; the
    # administrator, who manages accounts, still reads no personal data (separation of duties).
    Read.CITIZEN_EXPORT: {Role.AUDITOR: _ALL},
}

#: The audit row each read writes.
READ_KIND: Mapping[Read, AccessKind] = {
    Read.TICKET: AccessKind.TICKET,
    Read.TICKET_LIST: AccessKind.TICKET,
    Read.CALL: AccessKind.TRANSCRIPT,
    Read.CALL_LIST: AccessKind.CALL,
    Read.RECORDING: AccessKind.RECORDING,
    Read.LIVE_TRANSCRIPT: AccessKind.TRANSCRIPT,
    Read.LIVE_CALLS: AccessKind.CALL,
    Read.LIVE_AUDIO: AccessKind.LIVE_CALL,
    Read.CALLBACKS: AccessKind.CALLBACK,
    Read.CALLER_HISTORY: AccessKind.CALLER_HISTORY,
    Read.ABUSE_HISTORY: AccessKind.ABUSE,
    Read.AUDIT: AccessKind.AUDIT,
    Read.EVIDENCE: AccessKind.EVIDENCE,
    Read.CONFIDENTIAL_NUMBER: AccessKind.CONFIDENTIAL_IDENTITY,
    Read.CITIZEN_EXPORT: AccessKind.EXPORT,
}


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: the authenticated person or program."""

    user: str
    role: str
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """What is read, as far as the policy cares: who took part in it, which units it was
    dispatched to, and whether its caller is confidential. The adapters fill it in."""

    people: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    confidential: bool = False
    #: The staff a complaint is about (`Ticket.about_staff`): they never read it.
    concerned: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one read: whether it is allowed, why, and the audit row's kind."""

    allowed: bool
    reason: str
    kind: AccessKind
    #: Refused so that the record looks absent (404): a unit's view of another unit's ticket,
    #: a complaint about the reader.
    absent: bool = False


def _role(name: str) -> Role | None:
    try:
        return Role(name)
    except ValueError:
        return None


def scope_of(read: Read, role: str) -> Scope | None:
    """The role's scope for `read`; None: it never reads it."""
    known = _role(role)
    return None if known is None else READS[read].get(known)


def roles_for(read: Read, scopes: Iterable[Scope] = tuple(Scope)) -> frozenset[str]:
    """The roles that may make `read` with one of `scopes`: the route's gate (kernel.openapi)."""
    wanted = frozenset(scopes)
    return frozenset(role.value for role, scope in READS[read].items() if scope in wanted)


def decide(reader: Reader, read: Read, subject: Subject | None = None) -> Decision:
    """Whether `reader` may make `read` of `subject`. A list or a search (no subject) is allowed
    to every role with a scope: the adapter narrows it (a unit's tickets, masked numbers)."""
    kind = READ_KIND[read]
    scope = scope_of(read, reader.role)
    if subject is not None and about_reader(reader, subject.concerned):
        return Decision(False, "a complaint about the reader: the quality team's, never theirs", kind,
                        absent=True)
    if scope is None:
        return Decision(False, f"role {reader.role} never reads {read.value}", kind)
    if scope is Scope.ANY or subject is None:
        return Decision(True, f"{reader.role}: every {read.value}", kind)
    if scope is Scope.OWN:
        if reader.user in subject.people:
            return Decision(True, "took part in it", kind)
        return Decision(False, "not theirs: they took no part in it", kind)
    if reader.unit is not None and reader.unit in subject.units:
        return Decision(True, f"dispatched to unit {reader.unit}", kind)
    return Decision(False, "not dispatched to the reader's unit", kind, absent=True)


def about_reader(reader: Reader, concerned: Iterable[str | None]) -> bool:
    """Whether a complaint about hotline staff names `reader` among the `concerned`: the one
    test behind every rule that keeps such a complaint from the person it is about."""
    return reader.user in concerned


def hidden_from(reader: Reader, subject: Subject) -> bool:
    """Whether the record must look absent to `reader` whatever they ask of it (a command, a
    page of suggestions, a notice): a complaint about them, or, for a unit, a ticket not
    dispatched to it. Lists apply the same rule in their queries (`tickets.store.visible_to`)."""
    if about_reader(reader, subject.concerned):
        return True
    return reader.role == Role.UNIT and not (reader.unit is not None and reader.unit in subject.units)


def shows_number(reader: Reader, read: Read, subject: Subject) -> bool:
    """Whether a view shows the caller's number in full: never a confidential caller's (only
    `Read.CONFIDENTIAL_NUMBER` reveals it), never to a reader who may not read the record, and
    never to an auditor."""
    if subject.confidential or reader.role == Role.AUDITOR:
        return False
    return decide(reader, read, subject).allowed


def number_view(number: str | None, shown: bool) -> str | None:
    """The number as a view carries it: in full when `shown`, masked otherwise."""
    if number is None:
        return None
    return number if shown else mask_phone(number)


def audit_number(number: str | None, *, confidential: bool) -> str | None:
    """The caller's number as the audit stores it: a confidential caller's only masked (the row
    names the ticket or call, which is how an auditor follows it)."""
    return number_view(number, not confidential)


def audit_view_number(reader: Reader, number: str | None) -> str | None:
    """A stored audit row's number as `reader` sees it: masked for auditors."""
    return number_view(number, reader.role != Role.AUDITOR)


@dataclass(frozen=True, slots=True)
class Related:
    """A ticket another ticket's supervision flag names (the "repeated" flag's group)."""

    ticket_no: str
    subject: Subject


def visible_related(reader: Reader, related: Iterable[Related]) -> tuple[str, ...]:
    """The related tickets' numbers `reader` may see: those they may read themselves. A unit
    thus never learns of another unit's tickets, a confidential caller's included."""
    return tuple(r.ticket_no for r in related if decide(reader, Read.TICKET, r.subject).allowed)
