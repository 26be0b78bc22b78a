"""Monthly statistics per handling unit, and the public disclosure built from them (pure).

The Beijing regulation assesses units by response, resolution and satisfaction; the Linyi and
Tangshan regulations add on-time handling, returns, extensions and re-opened tickets, and
require the hotline to publish them regularly. Everything here is derived from the tickets'
immutable events, so figures can always be recomputed and audited; nothing is counted twice
when the same events are replayed.

Month = the Beijing calendar month of the event that the figure counts. A ticket re-dispatched
to another unit counts as received by each unit it was sent to.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from kernel.clock import HOTLINE_TZ
from kernel.errors import InvalidInput
from tickets.events import (
    CallbackRecorded,
    CallbackUnreached,
    ClosedOutOfScope,
    Dispatched,
    ExtensionApproved,
    FeedbackSubmitted,
    ReopenReviewed,
    ReturnApproved,
    Signed,
    TicketEvent,
    TicketRegistered,
)
from tickets.model import NOT_INTAKE, ClosureReason, Satisfaction

GOOD_SATISFACTION = (Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED)


def month_of(moment: datetime) -> str:
    return f"{moment.astimezone(HOTLINE_TZ):%Y-%m}"


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The Beijing calendar month ("2026-11") as a half-open interval of aware datetimes."""
    match = _MONTH.match(month)
    if match is None:
        raise InvalidInput("month must look like 2026-11", month=month[:20])
    year, number = int(match[1]), int(match[2])
    start = datetime(year, number, 1, tzinfo=HOTLINE_TZ)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=HOTLINE_TZ)
    return start, end


@dataclass
class UnitMonth:
    """Counters of one unit in one month; rates are derived, never stored."""

    unit: str
    month: str
    received: int = 0
    signed_on_time: int = 0
    feedback: int = 0
    feedback_on_time: int = 0
    returned: int = 0
    extended: int = 0
    reopened: int = 0
    callbacks: int = 0
    satisfied: int = 0
    resolved: int = 0
    #: Callbacks that reached the caller (rated or not), and those closed as 未回访成功.
    callbacks_reached: int = 0
    callbacks_unreached: int = 0

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    @property
    def response_rate(self) -> float | None:
        """响应率: signed within the signing deadline, of tickets received."""
        return self._rate(self.signed_on_time, self.received)

    @property
    def on_time_rate(self) -> float | None:
        return self._rate(self.feedback_on_time, self.feedback)

    @property
    def resolution_rate(self) -> float | None:
        """解决率: callbacks where the unit did what it had to, of all callbacks."""
        return self._rate(self.resolved, self.callbacks)

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率: satisfied or basically satisfied, of callbacks with an answer."""
        return self._rate(self.satisfied, self.callbacks)

    @property
    def callback_reach_rate(self) -> float | None:
        """回访成功率: callers reached, of every callback's outcome (北京条例第二十三条): a caller
        never reached is counted here, never as a completed callback."""
        return self._rate(self.callbacks_reached, self.callbacks_reached + self.callbacks_unreached)


@dataclass
class _TicketTrack:
    lead_unit: str | None = None
    deadline: datetime | None = None
    sign_deadline: datetime | None = None
    seen_versions: set[int] = field(default_factory=set)


class UnitStatistics:
    """Feed events (any order across tickets, version order within one); read `rows()`."""

    def __init__(self) -> None:
        self._cells: dict[tuple[str, str], UnitMonth] = {}
        self._tickets: dict[str, _TicketTrack] = defaultdict(_TicketTrack)

    def _cell(self, unit: str, moment: datetime) -> UnitMonth:
        key = (unit, month_of(moment))
        if key not in self._cells:
            self._cells[key] = UnitMonth(unit=unit, month=key[1])
        return self._cells[key]

    def add(self, event: TicketEvent) -> None:
        track = self._tickets[event.ticket_no]
        if event.version in track.seen_versions:
            return  # replayed event: figures stay the same
        track.seen_versions.add(event.version)
        at = event.occurred_at
        if isinstance(event, Dispatched):
            track.lead_unit = event.lead_unit
            track.deadline = event.deadline
            track.sign_deadline = event.sign_deadline
            self._cell(event.lead_unit, at).received += 1
            return
        unit = track.lead_unit
        if unit is None:
            return
        if isinstance(event, Signed):
            if track.sign_deadline is None or at <= track.sign_deadline:
                self._cell(unit, at).signed_on_time += 1
        elif isinstance(event, ExtensionApproved):
            track.deadline = event.new_deadline
            self._cell(unit, at).extended += 1
        elif isinstance(event, ReturnApproved):
            self._cell(unit, at).returned += 1
            track.lead_unit = None  # waits for a new dispatch
        elif isinstance(event, FeedbackSubmitted):
            cell = self._cell(unit, at)
            cell.feedback += 1
            if track.deadline is None or at <= track.deadline:
                cell.feedback_on_time += 1
        elif isinstance(event, CallbackRecorded):
            cell = self._cell(unit, at)
            cell.callbacks_reached += 1
            if event.satisfaction is not None:
                cell.callbacks += 1
                cell.satisfied += event.satisfaction in GOOD_SATISFACTION
                cell.resolved += event.handled_as_required
            if event.reopened:
                cell.reopened += 1
                if event.new_deadline is not None:
                    track.deadline = event.new_deadline
        elif isinstance(event, ReopenReviewed):
            if event.new_deadline is not None:
                track.deadline = event.new_deadline
            if event.reopened:
                self._cell(unit, at).reopened += 1
        elif isinstance(event, CallbackUnreached):
            self._cell(unit, at).callbacks_unreached += 1

    def add_all(self, events: Iterable[TicketEvent]) -> UnitStatistics:
        for event in events:
            self.add(event)
        return self

    def rows(self, month: str | None = None) -> list[UnitMonth]:
        cells = (c for c in self._cells.values() if month is None or c.month == month)
        return sorted(cells, key=lambda c: (c.month, c.unit))


DISCLOSURE_FIELDS = (
    "month", "unit", "received", "response_rate", "on_time_rate", "returned", "extended",
    "reopened", "callbacks", "resolution_rate", "satisfaction_rate", "callbacks_unreached",
    "callback_reach_rate",
)


@dataclass
class IntakeMonth:
    """受理 of one month: requests taken in, and calls closed at intake as no request at all
    (北京条例第十一条第四至六项, 唐山 不予受理: secrets, outside duties, unlawful or harassing,
    invalid calls), which the intake total leaves out."""

    month: str
    registered: int = 0
    not_intake: int = 0

    @property
    def intake(self) -> int:
        return self.registered - self.not_intake


def intake_totals(events: Iterable[TicketEvent], month: str) -> IntakeMonth:
    """The month's intake from the tickets' events: registrations of the month, less those
    closed at intake for a reason that makes them no request (`NOT_INTAKE`)."""
    registered: set[str] = set()
    refused: set[str] = set()
    for event in events:
        if isinstance(event, TicketRegistered) and month_of(event.occurred_at) == month:
            registered.add(event.ticket_no)
        elif (isinstance(event, ClosedOutOfScope)
              and ClosureReason(event.scope.value) in NOT_INTAKE):
            refused.add(event.ticket_no)
    return IntakeMonth(month, len(registered), len(registered & refused))


def disclosure_records(rows: Iterable[UnitMonth], unit_names: dict[str, str] | None = None
                       ) -> list[dict[str, object]]:
    """The public monthly disclosure: aggregates per unit only, never a caller or a ticket."""
    names = unit_names or {}
    records = []
    for row in rows:
        data = asdict(row) | {
            "response_rate": row.response_rate, "on_time_rate": row.on_time_rate,
            "resolution_rate": row.resolution_rate, "satisfaction_rate": row.satisfaction_rate,
            "callback_reach_rate": row.callback_reach_rate,
        }
        data["unit"] = names.get(row.unit, row.unit)
        records.append({name: data[name] for name in DISCLOSURE_FIELDS})
    return records


def disclosure_csv(records: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=DISCLOSURE_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return out.getvalue()


def disclosure_json(records: list[dict[str, object]]) -> str:
    return json.dumps({"fields": list(DISCLOSURE_FIELDS), "units": records},
                      ensure_ascii=False, indent=2)
