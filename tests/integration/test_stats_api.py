"""Monthly unit statistics and the public disclosure over HTTP, from real ticket events."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from aiohttp.test_utils import TestClient

from kernel.clock import HOTLINE_TZ, FixedClock
from tests.integration.test_ticket_api import (  # noqa: F401  (fixtures)
    CALLBACK,
    DISPATCHER,
    ECOLOGY,
    HOUSING,
    SUPERVISOR,
    catalogue_and_calendar,
    client,
    clock,
    dispatched_to_housing,
    ok,
)


async def test_a_months_figures_come_from_the_tickets_events(client: TestClient, clock: FixedClock) -> None:
    satisfied = (await dispatched_to_housing(client))["ticket_no"]
    clock.now += timedelta(hours=2)
    await ok(client, satisfied, "sign", HOUSING, 3)
    await ok(client, satisfied, "feedback", HOUSING, 4, result="已督促物业修复电梯")
    await ok(client, satisfied, "callback", CALLBACK, 5, satisfaction="satisfied")
    unhappy = (await dispatched_to_housing(client))["ticket_no"]
    await ok(client, unhappy, "sign", HOUSING, 3)
    await ok(client, unhappy, "feedback", HOUSING, 4, result="已答复")
    await ok(client, unhappy, "callback", CALLBACK, 5, satisfaction="unsatisfied",
             reasonable=True, handled_as_required=False)
    await dispatched_to_housing(client)  # received, not yet signed

    response = await client.get("/api/statistics/units", params={"month": "2026-11"},
                                headers=SUPERVISOR)
    assert response.status == 200, await response.text()
    rows = {row["unit"]: row for row in (await response.json())["units"]}
    housing = rows["city-housing"]
    assert (housing["received"], housing["callbacks"], housing["reopened"]) == (3, 2, 1)
    assert housing["satisfaction_rate"] == 0.5 and housing["resolution_rate"] == 0.5

    # A unit sees its own row only; the month before has nothing.
    own = await (await client.get("/api/statistics/units", params={"month": "2026-11"},
                                  headers=ECOLOGY)).json()
    assert own["units"] == []
    earlier = await (await client.get("/api/statistics/units", params={"month": "2026-10"},
                                      headers=DISPATCHER)).json()
    assert earlier["units"] == []

    # The public disclosure, once the month has ended: no token, unit names, never a caller or
    # a ticket number.
    assert (await client.get("/api/disclosure/2026-11.csv")).status == 404  # not ended yet
    clock.now = datetime(2026, 12, 1, 0, 0, tzinfo=HOTLINE_TZ)
    csv_response = await client.get("/api/disclosure/2026-11.csv")
    assert csv_response.status == 200 and csv_response.content_type == "text/csv"
    text = await csv_response.text()
    assert satisfied not in text and "13812345678" not in text
    records = list(csv.DictReader(io.StringIO(text)))
    housing_record = next(r for r in records if r["unit"] == "市住房和城乡建设局")
    assert housing_record["received"] == "3" and housing_record["satisfaction_rate"] == "0.5"
    as_json = await (await client.get("/api/disclosure/2026-11.json")).json()
    assert {"unit": "市住房和城乡建设局", "received": 3}.items() <= next(
        u for u in as_json["units"] if u["unit"] == "市住房和城乡建设局").items()


async def test_bad_months_and_missing_tokens_are_refused(client: TestClient) -> None:
    for month in ("2026-13", "26-11", "latest"):
        response = await client.get("/api/statistics/units", params={"month": month},
                                    headers=SUPERVISOR)
        assert response.status == 400, month
    assert (await client.get("/api/disclosure/2026-00.json")).status == 400
    assert (await client.get("/api/statistics/units")).status == 401
