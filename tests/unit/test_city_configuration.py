"""The gazetteer and the dispatch catalogue describe one city, and start-up refuses them otherwise."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from asr.extract import DEFAULT_GAZETTEER, check_gazetteer_matches_catalogue, load_gazetteer, parse_gazetteer
from hotline import composition
from hotline.settings import load_settings
from kernel.errors import ConfigError
from tickets.dispatch import DEFAULT_CATALOGUE_PATH, catalogue_from_document, load_catalogue


def gazetteer_doc() -> dict[str, Any]:
    return yaml.safe_load(Path(DEFAULT_GAZETTEER).read_text(encoding="utf-8"))


def catalogue_doc() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CATALOGUE_PATH.read_text(encoding="utf-8"))


def test_shipped_gazetteer_and_catalogue_describe_the_same_city() -> None:
    gazetteer, catalogue = load_gazetteer(), load_catalogue()
    check_gazetteer_matches_catalogue(gazetteer, catalogue)
    assert gazetteer.city == catalogue.city == "临沂市"
    assert set(gazetteer.districts) == {
        "兰山区", "罗庄区", "河东区", "郯城县", "兰陵县", "沂水县", "沂南县", "平邑县", "费县", "蒙阴县",
        "莒南县", "临沭县"}
    for district in gazetteer.districts:
        assert catalogue.district_government(district) is not None, district


def test_a_catalogue_district_missing_from_the_gazetteer_is_named() -> None:
    doc = gazetteer_doc()
    doc["districts"] = [d for d in doc["districts"] if d["name"] != "蒙阴县"]
    with pytest.raises(ConfigError) as caught:
        check_gazetteer_matches_catalogue(parse_gazetteer(doc), load_catalogue())
    assert "no district of the gazetteer: 蒙阴县" in str(caught.value)


def test_a_gazetteer_district_without_its_government_is_named() -> None:
    doc = catalogue_doc()
    doc["units"] = [u for u in doc["units"] if u["code"] not in ("gov-feixian", "gov-pingyi")]
    with pytest.raises(ConfigError) as caught:
        check_gazetteer_matches_catalogue(load_gazetteer(), catalogue_from_document(doc))
    assert "no district government in the catalogue: 平邑县、费县" in str(caught.value)


def test_every_disagreement_is_named_at_once() -> None:
    gazetteer = gazetteer_doc()
    gazetteer["city"]["name"] = "青川市"
    gazetteer["districts"] = [d for d in gazetteer["districts"] if d["name"] != "兰山区"]
    gazetteer["districts"].append({"name": "明德区", "aliases": ["明德"]})
    with pytest.raises(ConfigError) as caught:
        check_gazetteer_matches_catalogue(parse_gazetteer(gazetteer), load_catalogue())
    message = str(caught.value)
    assert caught.value.key == "asr.gazetteer"
    for needle in ("临沂市", "青川市", "no district of the gazetteer: 兰山区",
                   "no district government in the catalogue: 明德区",
                   "gov-lanshan-rural 农村道路与村居事务: 兰山区"):
        assert needle in message


def test_a_matter_restricted_to_an_unknown_district_is_named() -> None:
    doc = copy.deepcopy(catalogue_doc())
    rural = next(u for u in doc["units"] if u["code"] == "gov-lanshan-rural")
    rural["matters"][0]["districts"] = ["兰山区", "北山区"]
    with pytest.raises(ConfigError, match="restricted to a district the gazetteer does not have: "
                                          "gov-lanshan-rural 农村道路与村居事务: 北山区"):
        check_gazetteer_matches_catalogue(load_gazetteer(), catalogue_from_document(doc))


async def test_start_up_fails_when_the_gazetteer_and_the_catalogue_disagree(
        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = gazetteer_doc()
    doc["districts"].append({"name": "明德区"})
    monkeypatch.setattr(composition, "load_gazetteer", lambda: parse_gazetteer(doc))
    # The check comes first: no database, Redis or Asterisk is touched before it fails.
    settings = load_settings(None, environ={})
    with pytest.raises(ConfigError, match="明德区"):
        await composition.preflight(settings)
