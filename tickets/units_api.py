"""HTTP API of the unit directory (how the hotline phones each handling unit).

    GET /api/units                     every unit of the catalogue with its phone contact
    PUT /api/units/{code}/contact      a supervisor sets a unit's number, backup and hours

Hotline staff read it (the desk's three-way call picks a unit from it); units do not: a unit's
direct line is the hotline's working tool, not public.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from kernel import auth
from kernel.http_edge import RequestBody, read_body
from kernel.openapi import Operation
from kernel.roles import HOTLINE_STAFF, Role
from tickets.api import DISPATCH_CATALOGUE
from tickets.unit_directory import UnitContact, UnitDirectoryStore

UNIT_DIRECTORY = web.AppKey("unit_directory", UnitDirectoryStore)
#: Who sets a unit's numbers.
EDITORS = frozenset({Role.SUPERVISOR})

routes = web.RouteTableDef()


class ContactBody(RequestBody):
    dial: str = Field(min_length=3, max_length=128)
    backup_dial: str | None = Field(default=None, max_length=128)
    service_hours: str = Field(default="00:00-24:00", max_length=11)


@routes.get("/api/units")
async def list_units(request: web.Request) -> web.Response:
    auth.require(request, HOTLINE_STAFF)
    contacts = await request.app[UNIT_DIRECTORY].all()
    catalogue = request.app[DISPATCH_CATALOGUE]
    return web.json_response({"units": [
        {"code": code, "name": unit.name, "kind": unit.kind,
         "contact": contacts[code].to_json() if code in contacts else None}
        for code, unit in sorted(catalogue.units.items())]})


@routes.put("/api/units/{code}/contact")
async def set_contact(request: web.Request) -> web.Response:
    principal = auth.require(request, EDITORS)
    code = request.match_info["code"]
    request.app[DISPATCH_CATALOGUE].unit(code)  # NotFound for a unit the catalogue lacks
    body = await read_body(request, ContactBody)
    contact = UnitContact(code, body.dial, body.backup_dial, body.service_hours)  # InvalidInput: 400
    saved = await request.app[UNIT_DIRECTORY].update(contact, by=principal.user)
    return web.json_response({"contact": saved.to_json()})


def operations() -> list[Operation]:
    return [
        Operation("get", "/api/units", "Units of the catalogue with their phone contacts", HOTLINE_STAFF),
        Operation("put", "/api/units/{code}/contact", "Set a unit's number, backup and hours", EDITORS,
                  ContactBody),
    ]
