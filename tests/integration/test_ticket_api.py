"""Ticket HTTP API: a real aiohttp server on real SQLite and PostgreSQL.

Examples first (a whole lifecycle, locking, unit isolation, confidentiality, OpenAPI), then
the property-based tests in test_ticket_api_properties.py, which drive this module's server with
hypothesis.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from kernel import openapi
from kernel.audit import ACCESS_AUDIT, AccessAudit, AccessKind, AuditQuery
from kernel.auth import TokenSigner
from kernel.clock import FixedClock
from kernel.database import open_database
from kernel.http_edge import new_app
from tests.auth_tokens import TEST_SIGNER_KEY, AuthHeaders, bearer, with_test_signer
from tests.evidence_files import evidence_store_with
from tests.number_payloads import NUMBER_INJECTIONS
from tickets.api import COMMANDS
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.plugin import TicketDeps, install
from tickets.store import TicketStore
from tickets.unit_directory import UnitDirectoryStore

AGENT = bearer("agent", "agent7")
DISPATCHER = bearer("dispatcher", "disp1")
CALLBACK = bearer("callback_agent", "cb1")
SUPERVISOR = bearer("supervisor", "sup1")
SYSTEM = bearer("system", "scanner")


def unit(code: str) -> AuthHeaders:
    return bearer("unit", f"staff-{code}", code)


HOUSING, URBAN, ECOLOGY = unit("city-housing"), unit("city-urban-management"), unit("city-ecology")
UNITS = ("city-housing", "city-urban-management", "city-ecology")
EVIDENCE_BYTES = ("该事项属于物业服务合同纠纷，不属于本单位职责。\n" * 200).encode()
EVIDENCE = [{"name": "职责说明.txt", "sha256": hashlib.sha256(EVIDENCE_BYTES).hexdigest(),
             "size": len(EVIDENCE_BYTES)}]




@pytest.fixture(scope="module")
def catalogue_and_calendar() -> tuple[Any, Any]:
    return load_catalogue(), load_calendar()


@pytest.fixture
async def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))


@pytest.fixture
async def client(
    database_url: str, clock: FixedClock, catalogue_and_calendar: tuple[Any, Any], tmp_path: Path
) -> AsyncIterator[TestClient]:
    engine = await open_database(database_url)
    app = with_test_signer(new_app())
    catalogue, calendar = catalogue_and_calendar
    install(app, TicketDeps(TicketStore(engine, "N01", clock=clock), catalogue, calendar,
                            await evidence_store_with(tmp_path / "evidence", EVIDENCE_BYTES),
                            AccessAudit(engine, clock=clock), units=UnitDirectoryStore(engine)))
    openapi.install(app)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
            yield test_client
    finally:
        await engine.dispose()


async def register(client: TestClient, **caller: Any) -> dict[str, Any]:
    response = await client.post("/api/tickets", headers=AGENT, json={
        "channel": "phone",
        "caller": {"number": "13812345678", "name": "张三", **caller},
        "summary": "小区电梯停运", "content": "3号楼电梯停运一周，物业不修", "district": "兰山区",
    })
    assert response.status == 201, await response.text()
    return (await response.json())["ticket"]


async def command(
    client: TestClient, no: str, name: str, headers: AuthHeaders, version: int, **body: Any
) -> tuple[int, dict[str, Any]]:
    response = await client.post(f"/api/tickets/{no}/commands/{name}", headers=headers,
                                 json={"expected_version": version, **body})
    return response.status, await response.json()


async def ok(client: TestClient, no: str, name: str, headers: AuthHeaders, version: int,
             **body: Any) -> dict[str, Any]:
    status, data = await command(client, no, name, headers, version, **body)
    assert status == 200, data
    return data["ticket"]


async def dispatched_to_housing(client: TestClient, **caller: Any) -> dict[str, Any]:
    ticket = await register(client, **caller)
    no = ticket["ticket_no"]
    await ok(client, no, "classify", AGENT, 1, ticket_type="complaint", summary="电梯停运")
    return await ok(client, no, "dispatch", DISPATCHER, 2, lead_unit="city-housing",
                    cooperating_units=["city-urban-management"])


async def test_whole_lifecycle_over_http(client: TestClient, clock: FixedClock) -> None:
    ticket = await dispatched_to_housing(client)
    no = ticket["ticket_no"]
    assert ticket["status"] == "dispatched" and ticket["deadline"] is not None
    # Deadline from the catalogue and the working-day calendar (end of a Beijing day).
    assert datetime.fromisoformat(ticket["deadline"]).astimezone(UTC).hour == 16
    suggestions = await client.get(f"/api/tickets/{no}/suggested-units", headers=DISPATCHER)
    assert "city-housing" in [s["unit"] for s in (await suggestions.json())["suggestions"]]
    clock.now += timedelta(hours=2)
    await ok(client, no, "sign", HOUSING, 3)
    await ok(client, no, "progress-note", URBAN, 4, note="已配合核查")
    await ok(client, no, "feedback", HOUSING, 5, result="已督促物业修复电梯")
    closed = await ok(client, no, "callback", CALLBACK, 6, satisfaction="satisfied")
    assert closed["status"] == "closed" and closed["closure_reason"] == "callback_completed"
    response = await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)
    data = await response.json()
    assert [e["type"] for e in data["events"]] == [
        "TicketRegistered", "TicketClassified", "Dispatched", "Signed", "ProgressNoted",
        "FeedbackSubmitted", "CallbackRecorded"]
    assert data["events"][4]["actor"] == {"id": "staff-city-urban-management", "role": "unit",
                                          "unit": "city-urban-management"}


async def test_return_needs_evidence_and_keeps_its_metadata(client: TestClient) -> None:
    no = (await dispatched_to_housing(client))["ticket_no"]
    status, data = await command(client, no, "request-return", HOUSING, 3, reason="非本单位职责")
    assert status == 422 and data["error"] == "illegal_transition"
    await ok(client, no, "request-return", HOUSING, 3, reason="非本单位职责", attachments=EVIDENCE)
    back = await ok(client, no, "approve-return", DISPATCHER, 4)
    assert back["status"] == "pending_dispatch" and back["lead_unit"] is None
    events = (await (await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)).json())["events"]
    attachment = events[3]["data"]["attachments"][0]
    assert (attachment["title"], attachment["sha256"], attachment["size"]) == (
        EVIDENCE[0]["name"], EVIDENCE[0]["sha256"], EVIDENCE[0]["size"])


async def test_stale_expected_version_is_409_and_changes_nothing(client: TestClient) -> None:
    no = (await dispatched_to_housing(client))["ticket_no"]
    before = await (await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)).json()
    status, data = await command(client, no, "sign", HOUSING, 2)
    assert status == 409 and data["error"] == "conflict"
    assert await (await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)).json() == before


async def test_invalid_bodies_and_unknown_roles_are_refused(client: TestClient) -> None:
    no = (await register(client))["ticket_no"]
    status, data = await command(client, no, "classify", AGENT, 1, ticket_type="rumour",
                                 summary="x")
    assert status == 400 and data["error"] == "invalid_input"
    status, data = await command(client, no, "classify", bearer("kb_admin", "kb1"), 1,
                                 ticket_type="help", summary="x")
    assert status == 403 and data["error"] == "permission_denied"
    status, _ = await command(client, no, "no-such-command", AGENT, 1)
    assert status == 404
    status, _ = await command(client, no, "dispatch", DISPATCHER, 1, lead_unit="nowhere")
    assert status == 400


async def test_requests_without_a_valid_token_are_refused(client: TestClient) -> None:
    no = (await dispatched_to_housing(client))["ticket_no"]
    other_key = TokenSigner(b"someone-elses-signing-key-0123456789")
    expired = TokenSigner(TEST_SIGNER_KEY, clock=lambda: datetime.now(UTC) - timedelta(hours=2))
    tampered = HOUSING.token.split(".")
    # A unit editing its own claims (another unit's code) breaks the signature.
    claims = json.loads(base64.urlsafe_b64decode(tampered[1] + "=="))
    claims["unit"] = "city-ecology"
    tampered[1] = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    for headers in ({}, {"Authorization": "Basic YWdlbnQ6YWdlbnQ="},
                    {"Authorization": "Bearer not-a-token"},
                    bearer("supervisor", "sup1", signer=other_key),
                    bearer("supervisor", "sup1", signer=expired),
                    {"Authorization": "Bearer " + ".".join(tampered)}):
        for path in (f"/api/tickets/{no}", "/api/tickets", "/api/callers/13812345678/tickets"):
            response = await client.get(path, headers=headers)
            assert response.status == 401, (path, headers, await response.text())
            data = await response.json()
            assert data["error"] == "unauthenticated" and data["message"]
    assert (await client.get("/api/openapi.json")).status == 200


async def test_evidence_is_uploaded_then_attached_and_never_dangles(
    client: TestClient, clock: FixedClock
) -> None:
    no = (await dispatched_to_housing(client))["ticket_no"]
    await ok(client, no, "sign", HOUSING, 3)
    photo = "现场照片".encode() * 1000
    form = aiohttp.FormData()
    form.add_field("file", photo, filename="现场.jpg", content_type="image/jpeg")
    uploaded = await client.post("/api/evidence", data=form, headers=HOUSING)
    assert uploaded.status == 201, await uploaded.text()
    stored = await uploaded.json()
    assert stored["sha256"] == hashlib.sha256(photo).hexdigest() and stored["size"] == len(photo)
    # An attachment naming a file that was never uploaded, or with the wrong size, or pointing
    # somewhere else by its `uri` (the upload check once skipped those), is refused and changes
    # nothing.
    for attachment in ({**stored["attachment"], "sha256": "cd" * 32},
                       {**stored["attachment"], "size": 1},
                       {**stored["attachment"], "sha256": "cd" * 32, "uri": "https://elsewhere.example/a.pdf"},
                       {**stored["attachment"], "uri": f"sha256:{'cd' * 32}"}):
        status, data = await command(
            client, no, "request-extension", HOUSING, 4, reason="需要协调",
            requested_deadline=(clock.now + timedelta(days=20)).isoformat(),
            attachments=[attachment])
        assert status == 400 and "evidence" in data["message"], data
    status, accepted = await command(client, no, "progress-note", HOUSING, 4, note="已到现场",
                                     attachments=[stored["attachment"]])
    assert status == 200, accepted
    assert accepted["event"]["data"]["attachments"][0]["sha256"] == stored["sha256"]
    # The unit and the hotline read it back; another unit is told it does not exist.
    for headers in (HOUSING, SUPERVISOR):
        response = await client.get(f"/api/evidence/{stored['sha256']}", headers=headers)
        assert response.status == 200 and await response.read() == photo
        # An opaque download whatever the uploader claimed: evidence never renders on our origin.
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get(f"/api/evidence/{stored['sha256']}", headers=ECOLOGY)).status == 404
    assert (await client.get(f"/api/evidence/{stored['sha256']}")).status == 401
    # Each read, and the refusal, is one row of the access audit (kernel.access_policy).
    reads = await client.app[ACCESS_AUDIT].search(AuditQuery(kind=AccessKind.EVIDENCE))
    assert [(r.actor, r.allowed) for r in reversed(reads)] == [
        ("staff-city-housing", True), ("sup1", True), ("staff-city-ecology", False)]

    # Another unit uploading the same bytes learns nothing of the first upload: the answer is
    # its own record; from then on it reads its own upload (name and all), and the first unit
    # still reads its own.
    form = aiohttp.FormData()
    form.add_field("file", photo, filename="ecology-photo.jpg", content_type="image/png")
    again = await client.post("/api/evidence", data=form, headers=ECOLOGY)
    assert again.status == 201, await again.text()
    theirs = await again.json()
    assert (theirs["sha256"], theirs["size"]) == (stored["sha256"], stored["size"])
    assert (theirs["uploaded_by"], theirs["uploader_unit"], theirs["name"], theirs["content_type"]) == (
        "staff-city-ecology", "city-ecology", "ecology-photo.jpg", "image/png")
    assert "staff-city-housing" not in json.dumps(theirs) and stored["name"] not in json.dumps(theirs)
    for headers, name, who in ((ECOLOGY, "ecology-photo.jpg", "staff-city-ecology"),
                               (HOUSING, stored["name"], "staff-city-housing")):
        meta = await (await client.get(f"/api/evidence/{stored['sha256']}?meta=1", headers=headers)).json()
        assert (meta["name"], meta["uploaded_by"]) == (name, who)
        response = await client.get(f"/api/evidence/{stored['sha256']}", headers=headers)
        assert response.status == 200 and await response.read() == photo
        assert quote(name, safe="") in response.headers["Content-Disposition"]
    # Uploading it again changes nothing of either record.
    form = aiohttp.FormData()
    form.add_field("file", photo, filename="again.jpg", content_type="image/jpeg")
    repeated = await (await client.post("/api/evidence", data=form, headers=ECOLOGY)).json()
    assert repeated["name"] == "ecology-photo.jpg"


async def test_bad_uploads_are_refused_and_leave_nothing(client: TestClient, tmp_path: Path) -> None:
    too_big = b"x" * (1024 * 1024 + 1)
    for data, content_type in ((too_big, "application/pdf"), (b"", "text/plain")):
        form = aiohttp.FormData()
        form.add_field("file", data, filename="big.pdf", content_type=content_type)
        response = await client.post("/api/evidence", data=form, headers=HOUSING)
        assert response.status == 400, await response.text()
    response = await client.post("/api/evidence", json={"file": "x"}, headers=HOUSING)
    assert response.status == 400
    assert (await client.post("/api/evidence", data=aiohttp.FormData({"file": "x"}),
                              headers=bearer("system", "scanner"))).status == 403
    leftovers = [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
    assert all(not p.name.startswith(".upload-") for p in leftovers)
    assert len([p for p in leftovers if p.suffix != ".json"]) == 1  # only the fixture's file


async def test_unit_cannot_see_or_touch_another_units_ticket(client: TestClient) -> None:
    no = (await dispatched_to_housing(client))["ticket_no"]
    assert (await client.get(f"/api/tickets/{no}", headers=ECOLOGY)).status == 404
    assert (await client.get("/api/tickets/20261102-N01-999999", headers=ECOLOGY)).status == 404
    status, data = await command(client, no, "progress-note", ECOLOGY, 3, note="看看")
    assert status == 404 and data["error"] == "not_found"
    listed = await (await client.get("/api/tickets", headers=ECOLOGY)).json()
    assert listed["tickets"] == []
    for headers in (HOUSING, URBAN):
        mine = await (await client.get("/api/tickets", headers=headers)).json()
        assert [t["ticket_no"] for t in mine["tickets"]] == [no]


async def test_unit_never_sees_a_confidential_callers_number(client: TestClient) -> None:
    no = (await dispatched_to_housing(client, confidential=True))["ticket_no"]
    for path in (f"/api/tickets/{no}", "/api/tickets"):
        text = await (await client.get(path, headers=HOUSING)).text()
        assert "13812345678" not in text and "张三" not in text
    data = await (await client.get(f"/api/tickets/{no}", headers=HOUSING)).json()
    assert data["ticket"]["caller"] == {"number": None, "name": None, "confidential": True,
                                        "anonymous": False, "no_reply": False}
    signed = await (await client.post(f"/api/tickets/{no}/commands/sign", headers=HOUSING,
                                      json={"expected_version": 3})).text()
    assert "13812345678" not in signed
    # The hotline too sees it masked (the agent who registered it included); a supervisor
    # reveals it, and only a supervisor.
    hotline = await (await client.get(f"/api/tickets/{no}", headers=AGENT)).json()
    assert hotline["ticket"]["caller"]["number"] == "138****5678"
    assert (await client.post(f"/api/tickets/{no}/reveal", headers=AGENT)).status == 403
    revealed = await client.post(f"/api/tickets/{no}/reveal", headers=SUPERVISOR)
    assert revealed.status == 200 and (await revealed.json())["caller_number"] == "13812345678"


async def test_the_repeated_flag_shows_a_unit_only_its_own_related_tickets(client: TestClient) -> None:
    """A confidential caller reported the same thing to two units: the "repeated" supervision
    flag names both tickets, but each unit learns only of its own (kernel.access_policy)."""
    housing = (await dispatched_to_housing(client, confidential=True))["ticket_no"]
    ecology_ticket = await register(client, confidential=True)
    ecology = ecology_ticket["ticket_no"]
    await ok(client, ecology, "classify", AGENT, 1, ticket_type="complaint", summary="电梯停运")
    await ok(client, ecology, "dispatch", DISPATCHER, 2, lead_unit="city-ecology")
    for no in (housing, ecology):
        await ok(client, no, "flag-supervision", SUPERVISOR, 3, kind="repeated",
                 related_ticket_nos=[housing, ecology])

    def related(data: dict[str, Any]) -> list[str]:
        (flag,) = [e for e in data["events"] if e["type"] == "SupervisionFlagged"]
        return list(flag["data"]["related_ticket_nos"])

    seen = await (await client.get(f"/api/tickets/{housing}", headers=HOUSING)).json()
    assert related(seen) == [housing] and ecology not in str(seen)
    seen = await (await client.get(f"/api/tickets/{ecology}", headers=ECOLOGY)).json()
    assert related(seen) == [ecology] and housing not in str(seen)
    assert (await client.get(f"/api/tickets/{ecology}", headers=HOUSING)).status == 404
    supervisor = await (await client.get(f"/api/tickets/{housing}", headers=SUPERVISOR)).json()
    assert related(supervisor) == [housing, ecology]


async def test_caller_history_is_for_hotline_roles_only(client: TestClient) -> None:
    first = (await register(client))["ticket_no"]
    second = (await register(client))["ticket_no"]
    response = await client.get("/api/callers/13812345678/tickets", headers=AGENT)
    assert [t["ticket_no"] for t in (await response.json())["tickets"]] == [second, first]
    assert (await client.get("/api/callers/13812345678/tickets", headers=HOUSING)).status == 403


async def test_openapi_lists_every_route_and_command(client: TestClient) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    assert document == openapi.openapi_document(openapi.operations_of(client.app))
    assert document["openapi"].startswith("3.")
    assert openapi.undocumented_routes(client.app) == set()
    assert openapi.unserved_operations(client.app) == set()
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert {p for m, p in documented if "/commands/" in p} == {
        f"/api/tickets/{{no}}/commands/{name}" for name in COMMANDS}
    dispatch = document["paths"]["/api/tickets/{no}/commands/dispatch"]["post"]
    schema_name = dispatch["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "lead_unit" in document["components"]["schemas"][schema_name.rsplit("/", 1)[1]][
        "properties"]
    # Registration and every command take an Idempotency-Key (kernel/idempotency.py).
    for path in ("/api/tickets", "/api/tickets/{no}/commands/dispatch"):
        headers = [p["name"] for p in document["paths"][path]["post"]["parameters"] if p["in"] == "header"]
        assert headers == ["Idempotency-Key"], path


@pytest.mark.parametrize("payload", NUMBER_INJECTIONS)
async def test_dial_string_payloads_in_number_fields_are_refused_and_nothing_is_written(
    client: TestClient, payload: str,
) -> None:
    response = await client.post("/api/tickets", headers=AGENT, json={
        "channel": "phone", "caller": {"number": payload, "name": "张三"}, "summary": "电梯停运"})
    assert response.status == 400
    error = await response.json()
    assert error["error"] == "invalid_phone_number" and payload not in error["message"]
    assert (await (await client.get("/api/tickets", headers=SUPERVISOR)).json())["tickets"] == []

    no = (await register(client))["ticket_no"]
    status, data = await command(client, no, "classify", AGENT, 1, ticket_type="complaint",
                                 summary="电梯停运", callback_number=payload)
    assert (status, data["error"]) == (400, "invalid_phone_number")
    ticket = await (await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)).json()
    assert ticket["ticket"]["version"] == 1 and [e["type"] for e in ticket["events"]] == ["TicketRegistered"]

    history = await client.get(f"/api/callers/{quote(payload, safe='')}/tickets", headers=AGENT)
    assert 400 <= history.status < 500


async def test_numbers_are_stored_in_one_national_form(client: TestClient) -> None:
    ticket = await register(client, number="+86 138-1234-5678")
    assert ticket["caller"]["number"] == "13812345678"
    found = await client.get("/api/callers/008613812345678/tickets", headers=AGENT)
    assert [t["ticket_no"] for t in (await found.json())["tickets"]] == [ticket["ticket_no"]]


@pytest.mark.parametrize("payload", [*NUMBER_INJECTIONS, "PJSIP/unit@evil", "Local/1@default", "IAX2/x"])
async def test_a_unit_directory_entry_is_a_number_or_one_endpoint_and_nothing_else_is_saved(
    client: TestClient, payload: str,
) -> None:
    for body in ({"dial": payload}, {"dial": "0539-8100003", "backup_dial": payload}):
        response = await client.put("/api/units/city-housing/contact", headers=SUPERVISOR, json=body)
        assert response.status == 400
        assert (await response.json())["error"] in {"invalid_phone_number", "invalid_dial_target"}
    units = (await (await client.get("/api/units", headers=SUPERVISOR)).json())["units"]
    assert next(u for u in units if u["code"] == "city-housing")["contact"] is None
    saved = await client.put("/api/units/city-housing/contact", headers=SUPERVISOR,
                             json={"dial": "0539-8100003", "backup_dial": "PJSIP/unit-housing"})
    assert saved.status == 200


async def test_a_ticket_names_what_its_reader_may_do_to_it_now(client: TestClient) -> None:
    """`actions`: the commands the server would take from this reader now (pages offer those)."""
    ticket = await dispatched_to_housing(client)
    no = ticket["ticket_no"]

    async def actions(headers: AuthHeaders) -> list[str]:
        response = await client.get(f"/api/tickets/{no}", headers=headers)
        assert response.status == 200
        return (await response.json())["actions"]

    # 济南条例: the lead unit may record its contact with the caller from the dispatch on.
    assert await actions(HOUSING) == ["sign", "request-return", "progress-note", "record-contact"]
    assert await actions(URBAN) == ["progress-note"]  # a cooperating unit neither signs nor returns
    assert "dispatch" not in await actions(SUPERVISOR) and "sign" not in await actions(SUPERVISOR)
    for name in await actions(URBAN):  # each offered one is taken (role, status and unit)
        status, _ = await command(client, no, name, URBAN, 3, note="已配合核查")
        assert status == 200
