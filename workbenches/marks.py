"""The workbenches' rules about time and lists, pure: how urgent a unit's ticket looks (overdue,
due within a day), how long a ticket has waited, and the columns of the unit's CSV export.

Kept apart from the queries and the HTTP so that "what counts as due soon" is one rule, read
the same by the inbox, its push and its export. Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

#: A deadline this close is marked on the unit's inbox (临期): a day, as units plan by the day.
DUE_SOON = timedelta(days=1)


class DeadlineMark(StrEnum):
    OVERDUE = "overdue"  # 已超期
    DUE_SOON = "due_soon"  # 一天内到期
    ON_TIME = "on_time"
    NONE = "none"  # no deadline (not dispatched, or waiting for a review)


def deadline_mark(deadline: datetime | None, now: datetime, soon: timedelta = DUE_SOON) -> DeadlineMark:
    """How a deadline reads at `now`."""
    if deadline is None:
        return DeadlineMark.NONE
    if deadline <= now:
        return DeadlineMark.OVERDUE
    if deadline - now <= soon:
        return DeadlineMark.DUE_SOON
    return DeadlineMark.ON_TIME


def waited_seconds(since: datetime | None, now: datetime) -> int:
    """Whole seconds since `since` (0 when unknown or in the future: clocks of two nodes)."""
    return max(0, int((now - since).total_seconds())) if since is not None else 0


#: The unit's export: (field of a list entry, column heading in zh-CN).
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ticket_no", "工单号"), ("status_title", "状态"), ("mark_title", "时限"), ("ticket_type_title", "类型"),
    ("summary", "诉求摘要"), ("location", "地点"), ("district", "区县"), ("role_title", "本单位"),
    ("dispatched_at", "派单时间"), ("sign_deadline", "签收时限"), ("deadline", "办理时限"),
)


def _cell(value: Any) -> str:
    """A spreadsheet never runs a cell as a formula (a caller's words may begin with "=")."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(entries: Iterable[Mapping[str, Any]]) -> str:
    """The export as CSV text with a byte-order mark, so spreadsheet programs on an office PC
    read the Chinese as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([title for _, title in CSV_COLUMNS])
    for entry in entries:
        writer.writerow([_cell(entry.get(name)) for name, _ in CSV_COLUMNS])
    return "\ufeff" + out.getvalue()
