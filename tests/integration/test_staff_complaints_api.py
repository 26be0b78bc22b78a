"""Complaints about hotline staff over HTTP, on real SQLite and PostgreSQL (issue 24): marked at
classification, handled by the supervisors' quality team to a normal callback and closure, never
dispatched, and to the staff member concerned as if they did not exist (404, in no list).
The server is `test_ticket_api.py`'s."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

# The server fixture and the fixtures it needs: pytest looks them up in this module.
from tests.auth_tokens import bearer
from tests.integration.test_ticket_api import (  # noqa: F401
    AGENT,
    CALLBACK,
    DISPATCHER,
    HOUSING,
    SUPERVISOR,
    catalogue_and_calendar,
    client,
    clock,
    command,
    ok,
    register,
)

#: The agent who took the caller's earlier call, and whom the caller now complains about.
CONCERNED = bearer("agent", "agent3")
#: A dispatcher the caller complains about (every ticket is theirs to read, but not this one).
CONCERNED_DISPATCHER = bearer("dispatcher", "disp9")
#: A supervisor complained about: not on their own quality team for this complaint.
CONCERNED_SUPERVISOR = bearer("supervisor", "sup2")


async def staff_complaint(client: TestClient, about: str, marker: Any = AGENT) -> dict[str, Any]:
    ticket = await register(client)
    return await ok(client, ticket["ticket_no"], "classify", marker, 1, ticket_type="complaint",
                    summary="投诉话务员态度恶劣", content="上次来电时话务员态度粗暴、挂断电话",
                    about_staff=f"  {about.upper()} ")


async def listed(client: TestClient, path: str, headers: Any) -> list[str]:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    return [t["ticket_no"] for t in (await response.json())["tickets"]]


async def test_a_complaint_about_staff_goes_to_the_quality_team_and_is_never_dispatched(
        client: TestClient) -> None:
    ticket = await staff_complaint(client, "agent3")
    no = ticket["ticket_no"]
    assert ticket["status"] == "quality_check" and ticket["about_staff"] == "agent3"
    assert ticket["ticket_type"] == "complaint"
    status, data = await command(client, no, "dispatch", DISPATCHER, ticket["version"],
                                 lead_unit="city-housing")
    assert status == 422 and data["error"] == "illegal_transition", data
    assert "质检" in data["message"]
    seen = await (await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)).json()
    assert "dispatch" not in seen["actions"] and "quality-finding" in seen["actions"]
    # Only a complaint may be about staff.
    other = await register(client)
    status, data = await command(client, other["ticket_no"], "classify", AGENT, 1,
                                 ticket_type="consultation", summary="问社保", about_staff="agent3")
    assert status == 422 and data["error"] == "illegal_transition", data


async def test_the_staff_member_concerned_never_sees_the_complaint(client: TestClient) -> None:
    earlier = (await register(client))["ticket_no"]  # the call the caller complains about
    # The concerned agent took the complaint's call and marked it themselves: still never theirs.
    no = (await staff_complaint(client, "agent3", marker=CONCERNED))["ticket_no"]
    assert (await client.get(f"/api/tickets/{no}", headers=CONCERNED)).status == 404
    unknown = await client.get(f"/api/tickets/{no}", headers=CONCERNED)
    assert (await unknown.json())["error"] == "not_found"
    assert (await client.get(f"/api/tickets/{no}/suggested-units", headers=CONCERNED)).status == 404
    status, data = await command(client, no, "progress-note", CONCERNED, 2, note="我来解释")
    assert status == 404 and data["error"] == "not_found", data
    history = await listed(client, "/api/callers/13812345678/tickets", CONCERNED)
    assert earlier in history and no not in history
    # Other hotline staff read it as any ticket: the colleague on the next call sees it in the
    # caller's history; dispatchers list it; the concerned dispatcher does not.
    assert no in await listed(client, "/api/callers/13812345678/tickets", AGENT)
    assert (await client.get(f"/api/tickets/{no}", headers=AGENT)).status == 200
    assert no in await listed(client, "/api/tickets", DISPATCHER)
    dispatcher_case = (await staff_complaint(client, "disp9"))["ticket_no"]
    assert (await client.get(f"/api/tickets/{dispatcher_case}", headers=CONCERNED_DISPATCHER)).status == 404
    mine = await listed(client, "/api/tickets?limit=500", CONCERNED_DISPATCHER)
    assert dispatcher_case not in mine and no in mine
    assert dispatcher_case not in await listed(
        client, "/api/callers/13812345678/tickets?limit=500", CONCERNED_DISPATCHER)
    # Nothing the person does to it tells them it exists: every answer is the unknown ticket's.
    missing = await client.get("/api/tickets/20261102-N01-999999", headers=CONCERNED_DISPATCHER)
    assert missing.status == 404


async def test_a_supervisor_handles_the_complaint_to_a_callback_and_closure(client: TestClient) -> None:
    ticket = await staff_complaint(client, "sup2")
    no = ticket["ticket_no"]
    # The supervisor complained about is not on the quality team for it.
    status, data = await command(client, no, "quality-finding", CONCERNED_SUPERVISOR, ticket["version"],
                                 finding="substantiated", result="已批评教育")
    assert status == 404, data
    status, data = await command(client, no, "quality-finding", DISPATCHER, ticket["version"],
                                 finding="substantiated", result="已批评教育")
    assert status == 403 and data["error"] == "permission_denied", data
    status, data = await command(client, no, "quality-finding", SUPERVISOR, ticket["version"],
                                 finding="substantiated", result="")
    assert status == 400, data
    found = await ok(client, no, "quality-finding", SUPERVISOR, ticket["version"],
                     finding="substantiated", result="经调听录音，投诉属实，已对当事人批评教育并安排培训")
    assert found["status"] == "feedback_accepted" and found["quality_finding"] == "substantiated"
    # An unsatisfied caller, judged reasonable: back to the quality team, not to a unit.
    again = await ok(client, no, "callback", CALLBACK, found["version"], satisfaction="unsatisfied",
                     reason="处理太轻")
    assert again["status"] == "reopen_requested"
    again = await ok(client, no, "review-reopen", SUPERVISOR, again["version"], reasonable=True,
                     reason="诉求合理")
    assert again["status"] == "quality_check" and again["lead_unit"] is None
    found = await ok(client, no, "quality-finding", SUPERVISOR, again["version"],
                     finding="substantiated", result="当事人已调离接线岗位")
    closed = await ok(client, no, "callback", CALLBACK, found["version"], satisfaction="satisfied")
    assert closed["status"] == "closed" and closed["closure_reason"] == "callback_completed"
    data = await (await client.get(f"/api/tickets/{no}", headers=SUPERVISOR)).json()
    assert [e["type"] for e in data["events"]] == [
        "TicketRegistered", "TicketClassified", "QualityFindingRecorded", "CallbackRecorded",
        "ReopenReviewed", "QualityFindingRecorded", "CallbackRecorded"]
    assert data["events"][1]["data"]["about_staff"] == "sup2"
    assert (await client.get(f"/api/tickets/{no}", headers=CONCERNED_SUPERVISOR)).status == 404
    assert HOUSING  # no unit ever had it
    assert no not in await listed(client, "/api/tickets", HOUSING)
