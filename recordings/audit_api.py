"""`GET /api/audit`: the access audit for supervisors, as JSON or as a CSV export.

The rows are written by every capability through `kernel.audit`; this is only their reader.
Reading the audit is itself a read of personal data: each search or export writes one row
(kind `audit`) before the rows leave. Who may read it, and how numbers show, is
`kernel.access_policy`: auditors see every number masked; a confidential caller's number is
never stored in full, so it is never shown in full either.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from kernel import auth
from kernel.access_policy import Read, Reader, audit_number, audit_view_number, decide, roles_for
from kernel.audit import ACCESS_AUDIT, AccessKind, AccessRecord, AuditQuery, audit_read, reader_of
from kernel.errors import InvalidInput
from kernel.openapi import Operation
from kernel.privacy import normalize_number
from recordings.query import int_query, text_query, when_query

#: Who reads the access audit: supervisors, and auditors who see nothing else.
AUDIT_READERS = roles_for(Read.AUDIT)

routes = web.RouteTableDef()

CSV_COLUMNS = ("at", "actor", "role", "unit", "kind", "allowed", "where", "call_id", "ticket_no",
               "caller_number", "detail")


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
        writer.writerow(CSV_COLUMNS)
        for record in records:
            row = record_json(record, reader)
            writer.writerow([_csv_cell(row[name]) for name in CSV_COLUMNS])
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
