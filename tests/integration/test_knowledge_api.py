"""Knowledge base HTTP API: a real aiohttp server on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kernel.clock import FixedClock
from kernel.database import open_database
from kernel.http_edge import new_app
from knowledge.plugin import KnowledgeDeps, install
from knowledge.store import KnowledgeStore, load_seed, seed_article_id
from tests.auth_tokens import bearer, with_test_signer

AGENT = bearer("agent", "agent7")
HOUSING = bearer("unit", "zhang", "city-housing")
WATER = bearer("unit", "li", "utility-water")
ADMIN = bearer("kb_admin", "kbadmin")
HEATING = seed_article_id("heating-fee-standard")




@pytest.fixture
async def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))


@pytest.fixture
async def client(database_url: str, clock: FixedClock) -> AsyncIterator[TestClient]:
    engine = await open_database(database_url)
    store = KnowledgeStore(engine, clock=clock)
    await load_seed(store)
    app = with_test_signer(new_app())
    install(app, KnowledgeDeps(store))
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
            yield test_client
    finally:
        await engine.dispose()


def article_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "老旧小区加装电梯补贴",
        "body": "既有住宅加装电梯，每部补贴20万元。",
        "keywords": ["加装电梯", "电梯补贴"],
        "districts": ["明德区"],
        "review_by": "2027-06-30",
    }
    body.update(overrides)
    return body


async def test_agent_searches_and_reads_the_approved_wording(client: TestClient) -> None:
    response = await client.get("/api/kb/search", params={"q": "暖气费怎么收"}, headers=AGENT)
    assert response.status == 200
    hits = (await response.json())["hits"]
    assert hits[0]["id"] == HEATING and hits[0]["approved_wording"].startswith("您好")
    assert "暖气" in hits[0]["matched"] and hits[0]["owner_unit"] == "city-housing"
    response = await client.get(f"/api/kb/articles/{HEATING}", headers=AGENT)
    assert response.status == 200
    data = await response.json()
    assert data["article"]["status"] == "published" and data["article"]["version"] == 2
    assert [v["version"] for v in data["versions"]] == [2, 1]  # newest first
    districted = await client.get("/api/kb/search", params={"q": "暖气不热", "district": "北山区"}, headers=AGENT)
    assert "暖气不热、室温不达标报修" not in [h["title"] for h in (await districted.json())["hits"]]


async def test_requests_without_a_known_role_are_refused(client: TestClient) -> None:
    for headers, status in (({}, 401), ({"Authorization": "Bearer v1.e30.forged"}, 401),
                            (bearer("system", "scanner"), 403)):
        response = await client.get("/api/kb/search", params={"q": "供暖"}, headers=headers)
        assert response.status == status, headers
        assert (await response.json())["error"] in ("unauthenticated", "permission_denied")
    for staff in ("dispatcher", "callback_agent", "supervisor"):
        response = await client.get("/api/kb/search", params={"q": "供暖"},
                                    headers=bearer(staff, f"{staff}1"))
        assert response.status == 200, staff
    for params in ({}, {"q": " "}, {"q": "供暖", "limit": "0"}, {"q": "供暖", "limit": "x"}):
        response = await client.get("/api/kb/search", params=params, headers=AGENT)
        assert response.status == 400, params
    assert (await client.get("/api/kb/articles/nope", headers=AGENT)).status == 404


async def test_unit_writes_publishes_and_agents_then_find_it(client: TestClient) -> None:
    response = await client.post("/api/kb/articles", json=article_body(), headers=HOUSING)
    assert response.status == 201
    article = (await response.json())["article"]
    assert (article["owner_unit"], article["status"], article["version"]) == ("city-housing", "draft", 1)
    # Agents neither find nor read a draft.
    assert (await client.get(f"/api/kb/articles/{article['id']}", headers=AGENT)).status == 403
    found = await client.get("/api/kb/search", params={"q": "加装电梯"}, headers=AGENT)
    assert (await found.json())["hits"] == []
    # No approved wording yet: publishing is refused.
    refused = await client.post(f"/api/kb/articles/{article['id']}/publish", json={}, headers=HOUSING)
    assert refused.status == 400 and (await refused.json())["error"] == "invalid_input"
    edit = article_body(approved_wording="您好，明德区老旧小区加装电梯每部补贴20万元。",
                        expected_version=1, change_note="补充答复口径")
    response = await client.put(f"/api/kb/articles/{article['id']}", json=edit, headers=HOUSING)
    assert response.status == 200 and (await response.json())["article"]["version"] == 2
    response = await client.post(f"/api/kb/articles/{article['id']}/publish",
                                 json={"expected_version": 2}, headers=HOUSING)
    assert response.status == 200 and (await response.json())["article"]["status"] == "published"
    found = await client.get("/api/kb/search", params={"q": "加装电梯", "district": "明德区"}, headers=AGENT)
    assert [h["id"] for h in (await found.json())["hits"]] == [article["id"]]
    history = (await (await client.get(f"/api/kb/articles/{article['id']}", headers=AGENT)).json())["versions"]
    assert [(v["version"], v["editor"], v["change_note"]) for v in history] == [
        (3, "zhang", "发布"), (2, "zhang", "补充答复口径"), (1, "zhang", "新建"),
    ]


async def test_a_unit_cannot_edit_another_units_article(client: TestClient) -> None:
    current = (await (await client.get(f"/api/kb/articles/{HEATING}", headers=AGENT)).json())["article"]
    edit = article_body(title="篡改", approved_wording="x", expected_version=current["version"], change_note="x")
    response = await client.put(f"/api/kb/articles/{HEATING}", json=edit, headers=WATER)
    assert response.status == 403 and (await response.json())["error"] == "permission_denied"
    response = await client.post(f"/api/kb/articles/{HEATING}/retire", json={"change_note": "x"}, headers=WATER)
    assert response.status == 403
    response = await client.put(f"/api/kb/articles/{HEATING}", json=edit, headers=AGENT)
    assert response.status == 403
    # Nor create one in another unit's name, nor take one over.
    response = await client.post("/api/kb/articles", json=article_body(owner_unit="city-housing"), headers=WATER)
    assert response.status == 403
    response = await client.put(f"/api/kb/articles/{HEATING}", json={**edit, "owner_unit": "utility-water"},
                                headers=HOUSING)
    assert response.status == 403
    after = (await (await client.get(f"/api/kb/articles/{HEATING}", headers=AGENT)).json())["article"]
    assert after == current
    # A knowledge admin may edit any article.
    response = await client.put(f"/api/kb/articles/{HEATING}", json={**edit, "title": "居民供暖收费标准（修订）"},
                                headers=ADMIN)
    assert response.status == 200 and (await response.json())["article"]["owner_unit"] == "city-housing"


async def test_a_stale_version_is_a_409_and_bad_bodies_a_400(client: TestClient) -> None:
    edit = article_body(approved_wording="您好。", expected_version=2, change_note="一")
    assert (await client.put(f"/api/kb/articles/{HEATING}", json=edit, headers=HOUSING)).status == 200
    response = await client.put(f"/api/kb/articles/{HEATING}", json={**edit, "change_note": "二"}, headers=HOUSING)
    assert response.status == 409 and (await response.json())["error"] == "conflict"
    for body in ({**edit, "expected_version": 0}, {**edit, "extra": 1}, {**edit, "review_by": "明年"},
                 {k: v for k, v in edit.items() if k != "change_note"}):
        response = await client.put(f"/api/kb/articles/{HEATING}", json=body, headers=HOUSING)
        assert response.status == 400, body
    response = await client.put(f"/api/kb/articles/{HEATING}", data=b"{", headers=HOUSING)
    assert response.status == 400


async def test_stale_articles_for_supervision(client: TestClient, clock: FixedClock) -> None:
    assert (await client.get("/api/kb/stale", headers=AGENT)).status == 403
    clock.now = datetime(2027, 3, 5, 2, 0, tzinfo=UTC)
    flags = (await (await client.get("/api/kb/stale", headers=ADMIN)).json())["stale"]
    assert [(f["owner_unit"], f["days_overdue"]) for f in flags] == [
        ("city-medical-security", 33), ("city-urban-management", 5)
    ]
    medical = bearer("unit", "wang", "city-medical-security")
    own = (await (await client.get("/api/kb/stale", headers=medical)).json())["stale"]
    assert [f["title"] for f in own] == ["医保异地就医备案"]
    # A unit sees only its own flags, whatever it asks for.
    other = await client.get("/api/kb/stale", params={"unit": "city-urban-management"}, headers=medical)
    assert [f["owner_unit"] for f in (await other.json())["stale"]] == ["city-medical-security"]
    clock.now += timedelta(days=-200)
    assert (await (await client.get("/api/kb/stale", headers=ADMIN)).json())["stale"] == []
