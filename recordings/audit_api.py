"""`GET /api/audit`: the access audit for supervisors, as JSON or as a CSV export (Chinese
headers and words, UTF-8 with a BOM so that a spreadsheet opens it as such).

The rows are written by every capability through `kernel.audit`; this is only their reader.
Reading the audit is itself a read of personal data: each search or export writes one row
(kind `audit`) before the rows leave. Who may read it, and how numbers show, is
`kernel.access_policy`: auditors see every number masked; a confidential caller's number is
never stored in full, so it is never shown in full either.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from kernel import auth
from kernel.access_policy import (
    ACCESS_KIND_TITLES,
    ACCESS_RESULT_TITLES,
    Read,
    Reader,
    audit_number,
    audit_view_number,
    decide,
    roles_for,
)
from kernel.audit import ACCESS_AUDIT, AccessKind, AccessRecord, AuditQuery, audit_read, reader_of
from kernel.clock import HOTLINE_TZ
from kernel.errors import InvalidInput
from kernel.openapi import Operation
from kernel.privacy import normalize_number
from kernel.roles import ROLE_TITLES
from recordings.query import int_query, text_query, when_query

#: Who reads the access audit: supervisors, and auditors who see nothing else.
AUDIT_READERS = roles_for(Read.AUDIT)

routes = web.RouteTableDef()


#: The export's columns, in Chinese and in the audit page's order (`workbenches/pages/audit.html`).
CSV_HEADERS = ("时间（北京时间）", "操作人", "角色", "单位", "读取内容", "结果", "工单号", "通话编号", "来电号码",
               "来源地址", "详情")


def _title(titles: Mapping[Any, str], value: str | None) -> str:  # keyed by a StrEnum or str
    return titles.get(value, value) if value is not None else ""


def csv_row(record: AccessRecord, reader: Reader) -> list[object]:
    """A row of the export (`CSV_HEADERS`) as `reader` sees it: the role, the kind and the result
    worded from the tables the page reads too (`kernel.roles`, `kernel.access_policy`), the time
    in Beijing time as the page shows it; the detail as stored (the capabilities' words)."""
    return [record.at.astimezone(HOTLINE_TZ).strftime("%Y-%m-%d %H:%M:%S"), record.actor,
            _title(ROLE_TITLES, record.role), record.unit, _title(ACCESS_KIND_TITLES, record.kind),
            ACCESS_RESULT_TITLES[record.allowed], record.ticket_no, record.call_id,
            audit_view_number(reader, record.caller_number), record.where, record.detail]


def record_json(record: AccessRecord, reader: Reader) -> dict[str, Any]:
    """A row as `reader` sees it (an auditor: the number masked)."""
    return {"at": record.at.isoformat(), "actor": record.actor, "role": record.role, "unit": record.unit,
            "kind": record.kind.value, "allowed": record.allowed, "where": record.where,
            "call_id": record.call_id, "ticket_no": record.ticket_no,
            "caller_number": audit_view_number(reader, record.caller_number), "detail": record.detail}


def _csv_cell(value: object) -> str:
    """Cells that a spreadsheet would run as a formula are quoted with a leading apostrophe."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _query(request: web.Request) -> AuditQuery:
    kind = text_query(request, "kind", 32)
    allowed = text_query(request, "allowed", 5)
    if kind is not None and kind not in {k.value for k in AccessKind}:
        raise InvalidInput("unknown kind", field="kind", allowed=[k.value for k in AccessKind])
    if allowed not in (None, "true", "false"):
        raise InvalidInput("allowed must be true or false", field="allowed")
    number = text_query(request, "caller", 32)
    return AuditQuery(
        actor=text_query(request, "actor"), kind=AccessKind(kind) if kind else None,
        call_id=text_query(request, "call_id"), ticket_no=text_query(request, "ticket", 32),
        caller_number=(normalize_number(number) or number) if number else None,
        allowed=None if allowed is None else allowed == "true",
        since=when_query(request, "from"), until=when_query(request, "to"),
        limit=int_query(request, "limit", 100, 1, 10_000), offset=int_query(request, "offset", 0, 0, 10_000_000))


@routes.get("/api/audit")
async def audit_log(request: web.Request) -> web.StreamResponse:
    principal = auth.require(request, AUDIT_READERS)
    reader = reader_of(principal)
    query = _query(request)
    records = await request.app[ACCESS_AUDIT].search(query)
    export = request.query.get("format") == "csv"
    # The number searched for is kept masked in this row: it may be a confidential caller's.
    await audit_read(request, principal, decide(reader, Read.AUDIT),
                     caller_number=audit_number(query.caller_number, confidential=True),
                     call_id=query.call_id, ticket_no=query.ticket_no,
                     detail=f"audit {'export (csv)' if export else 'search'}, {len(records)} rows")
    if export:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_HEADERS)
        for record in records:
            writer.writerow([_csv_cell(cell) for cell in csv_row(record, reader)])
        return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), headers={
            "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
            "Content-Disposition": 'attachment; filename="access-audit.csv"'})
    return web.json_response({"records": [record_json(r, reader) for r in records], "limit": query.limit,
                              "offset": query.offset},
                             headers={"Cache-Control": "no-store"})


def operations() -> list[Operation]:
    return [Operation(
        "get", "/api/audit", "Who read which citizen's data, newest first (format=csv exports)",
        AUDIT_READERS,
        query=(("actor", "string"), ("kind", "string"), ("call_id", "string"), ("ticket", "string"),
               ("caller", "string"), ("allowed", "boolean"), ("from", "string"), ("to", "string"),
               ("limit", "integer"), ("offset", "integer"), ("format", "string")))]
