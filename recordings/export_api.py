"""HTTP API of a citizen's data export (PIPL 第四十五条), an aiohttp route table.

    POST /api/citizen-exports   {"caller_number": "13812345678"}: every ticket, call, transcript
                                and the list of recordings of that number, as one JSON download

The number travels in the body, never in the address (addresses end up in logs). Who may export
is `kernel.access_policy` (`Read.CITIZEN_EXPORT`: auditors only); each export, and
each refused attempt, is one row of the access audit (kind `export`).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kernel import auth
from kernel.access_policy import Read, decide, roles_for
from kernel.audit import audit_read, reader_of
from kernel.errors import PermissionDenied
from kernel.http_edge import read_body
from kernel.openapi import Operation
from kernel.phone_number import PhoneNumber
from recordings.citizen_export import CitizenExports

CITIZEN_EXPORTS = web.AppKey("citizen_exports", CitizenExports)
EXPORTERS = roles_for(Read.CITIZEN_EXPORT)

routes = web.RouteTableDef()


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caller_number: str = Field(min_length=1, max_length=32)


@routes.post("/api/citizen-exports")
async def export_citizen(request: web.Request) -> web.Response:
    principal = auth.require(request)
    decision = decide(reader_of(principal), Read.CITIZEN_EXPORT)
    if not decision.allowed:  # refused before the body is read: the attempt is what counts
        await audit_read(request, principal, decision, detail="citizen data export")
        raise PermissionDenied(decision.reason, user=principal.user)
    body = await read_body(request, ExportRequest)
    number = PhoneNumber.parse(body.caller_number, field="caller_number").digits
    found = await request.app[CITIZEN_EXPORTS].export(number)
    confidential = any(t["caller_confidential"] for t in found.tickets)
    await audit_read(request, principal, decision, caller_number=number, confidential=confidential,
                     detail=f"citizen data export: {len(found.tickets)} tickets "
                            f"({', '.join(t['ticket_no'] for t in found.tickets)}), {len(found.calls)} calls, "
                            f"{len(found.recordings)} recordings")
    return web.json_response(found.as_json(), headers={
        "Cache-Control": "no-store",
        "Content-Disposition": 'attachment; filename="citizen-export.json"'})


def operations() -> list[Operation]:
    return [Operation("post", "/api/citizen-exports",
                      "All of one caller's tickets, calls, transcripts and recordings list, on their request "
                      "(PIPL 第四十五条; audited)", EXPORTERS, body=ExportRequest)]
