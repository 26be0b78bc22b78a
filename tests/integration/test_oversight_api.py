"""The supervisor's 督办 board, the hotline's monthly figures, the knowledge admin's list and
the pages of the supervisor, the auditor and the knowledge admin, in the whole app on real
SQLite and PostgreSQL and real Redis: who is served which page and which list, a flagged
ticket on the board with the ladder's next steps, a step taken, and a unit's articles.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from kernel.schema import calls
from tests.integration.test_workbench_api import HOUSING, URBAN, Hotline, open_hotline

PEOPLE = {"sup": ("supervisor", None), "pai": ("dispatcher", None), "li": ("agent", None),
          "shen": ("auditor", None), "zhi": ("kb_admin", None), "zhang": ("unit", HOUSING),
          "wang": ("unit", URBAN)}


@pytest.fixture
async def hotline(tmp_path: Path, database_url: str, redis_key_prefix: str,
                  redis_client: object) -> AsyncIterator[Hotline]:
    async with open_hotline(tmp_path, database_url, redis_key_prefix, PEOPLE) as (found, engine):
        await _calls(engine)
        yield found


async def _calls(engine: Any) -> None:
    """Three queued calls at 09:00 Beijing time on 2026-11-03: one answered in 5 s, one in 40 s,
    one abandoned; and a call at 20:00 answered in 3 s."""
    nine, eight_pm = datetime(2026, 11, 3, 1, 0, tzinfo=UTC), datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    async with engine.begin() as conn:
        for started, agent, waited in ((nine, "li", 5.0), (nine, "li", 40.0), (nine, None, 30.0),
                                       (eight_pm, "li", 3.0)):
            call_id = str(uuid.uuid4())
            await conn.execute(insert(calls).values(
                id=call_id, channel_id=f"chan-{call_id}", caller_number="13800000000", node_id="N01",
                started_at=started, answered_at=started + timedelta(seconds=waited) if agent else None,
                ended_at=started + timedelta(seconds=waited + 60), end_reason="caller_hangup",
                agent_id=agent, queue_seconds=waited))


async def refused_page(hotline: Hotline, who: str, path: str) -> tuple[int, str]:
    async with hotline.client.get(path, headers=hotline.people[who].headers(), allow_redirects=False) as response:
        return response.status, response.headers.get("Location", "")


@pytest.mark.parametrize(("path", "allowed", "refused"), [
    ("/oversight", ("sup",), ("pai", "li", "shen", "zhi", "zhang")),
    ("/audit", ("shen", "sup"), ("pai", "li", "zhi", "zhang")),
    ("/knowledge", ("zhi", "zhang"), ("sup", "pai", "li", "shen")),
])
async def test_the_supervisor_auditor_and_knowledge_pages_are_served_to_their_roles_only(
    hotline: Hotline, path: str, allowed: tuple[str, ...], refused: tuple[str, ...],
) -> None:
    for who in allowed:
        assert "<!doctype html>" in await hotline.call(who, "GET", path)
        session = await hotline.call(who, "GET", "/api/session")
        assert path in [p["path"] for p in session["pages"]]
    for who in refused:
        assert await refused_page(hotline, who, path) == (303, f"/signin?denied={path}")
        session = await hotline.call(who, "GET", "/api/session")
        assert path not in [p["path"] for p in session["pages"]]


async def test_the_auditor_and_the_knowledge_admin_land_on_their_pages(hotline: Hotline) -> None:
    assert (await hotline.call("shen", "GET", "/api/session"))["home"] == "/audit"
    assert (await hotline.call("zhi", "GET", "/api/session"))["home"] == "/knowledge"


async def test_a_flagged_ticket_is_on_the_board_with_its_flag_and_one_step_per_level(hotline: Hotline) -> None:
    quiet = await hotline.ticket("路灯不亮")
    ticket = await hotline.ticket("小区电梯停运三天")
    ticket = await hotline.command("pai", ticket, "dispatch", lead_unit=HOUSING)
    ticket = await hotline.command("sup", ticket, "flag-supervision", kind="overdue", reason="超期未办结")
    board = (await hotline.call("sup", "GET", "/api/workbench/supervision"))["tickets"]
    assert [t["ticket_no"] for t in board] == [ticket["ticket_no"]]  # the unflagged one is not there
    entry = board[0]
    assert entry["supervision_level"] == "hotline" and [f["kind"] for f in entry["flags"]] == ["overdue"]
    assert entry["flags"][0]["by"] == {"id": "sup", "role": "supervisor"} and entry["flags"][0]["age_seconds"] >= 0
    assert {s["name"]: s["grounds"] for s in entry["next_steps"]} == {
        "media": ["unresolved_after_hotline"], "government_inspection": ["promised_not_done"],
        "peoples_congress_cppcc": ["high_public_attention", "low_satisfaction", "repeated_failed_rectification"],
        "discipline_inspection": ["misconduct"]}
    assert entry["caller"] == {"confidential": False, "anonymous": False}  # no number on the board

    media = next(s for s in entry["next_steps"] if s["name"] == "media")
    await hotline.command("sup", ticket, "escalate", to_level=media["level"], ground=media["grounds"][0],
                          reason="经热线督办一周仍未解决，转媒体监督")
    entry = (await hotline.call("sup", "GET", "/api/workbench/supervision"))["tickets"][0]
    assert entry["supervision_level"] == "media"
    assert entry["escalations"][0]["to"] == "media" and "媒体监督" in entry["escalations"][0]["reason"]
    assert "media" not in [s["name"] for s in entry["next_steps"]]
    for who in ("pai", "li", "shen", "zhang"):
        await hotline.call(who, "GET", "/api/workbench/supervision", status=403)
    assert quiet["ticket_no"] not in json.dumps(entry)


async def test_the_hotline_month_counts_answers_within_15_seconds_and_abandoned_calls_by_hour(
    hotline: Hotline,
) -> None:
    month = await hotline.call("sup", "GET", "/api/statistics/hotline?month=2026-11")
    assert month["totals"] == {"offered": 4, "answered": 3, "within_15s": 2, "abandoned": 1,
                               "service_level": 0.5, "abandon_rate": 0.25}
    nine, eight_pm = month["hours"][9], month["hours"][20]
    assert (nine["offered"], nine["within_15s"], nine["abandoned"]) == (3, 1, 1)
    assert (eight_pm["offered"], eight_pm["service_level"]) == (1, 1.0)
    assert (await hotline.call("sup", "GET", "/api/statistics/hotline?month=2026-10"))["totals"]["offered"] == 0
    await hotline.call("sup", "GET", "/api/statistics/hotline?month=2026-13", status=400)
    for who in ("pai", "li", "shen", "zhang"):
        await hotline.call(who, "GET", "/api/statistics/hotline?month=2026-11", status=403)


def article(title: str, unit: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title, "body": f"{title}的政策依据。", "keywords": [title],
                            "approved_wording": f"{title}的答复口径。",
                            "review_by": "2027-06-30"}
    if unit:
        body["owner_unit"] = unit
    return body


async def test_the_knowledge_admin_lists_every_status_and_a_unit_only_its_own(hotline: Hotline) -> None:
    mine = (await hotline.call("zhang", "POST", "/api/kb/articles", article("加装电梯补贴"), 201))["article"]
    theirs = (await hotline.call("zhi", "POST", "/api/kb/articles", article("占道经营处理", URBAN), 201))["article"]
    await hotline.call("zhi", "POST", f"/api/kb/articles/{theirs['id']}/publish", {"expected_version": 1})
    drafts = (await hotline.call("zhi", "GET", "/api/kb/articles?status=draft&limit=500"))["articles"]
    assert mine["id"] in [a["id"] for a in drafts] and theirs["id"] not in [a["id"] for a in drafts]
    urban = (await hotline.call("zhi", "GET", f"/api/kb/articles?unit={URBAN}&limit=500"))["articles"]
    assert theirs["id"] in [a["id"] for a in urban] and {a["owner_unit"] for a in urban} == {URBAN}
    own = (await hotline.call("zhang", "GET", f"/api/kb/articles?unit={URBAN}&limit=500"))["articles"]
    assert mine["id"] in [a["id"] for a in own] and {a["owner_unit"] for a in own} == {HOUSING}
    await hotline.call("zhi", "GET", "/api/kb/articles?status=gone", status=400)
    for who in ("li", "pai", "sup", "shen"):
        await hotline.call(who, "GET", "/api/kb/articles", status=403)
