"""The dispatch catalogue and the unit suggestions made from it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kernel.clock import HOTLINE_TZ
from kernel.errors import ConfigError, NotFound
from tickets.deadlines import Term, end_of_local_day, load_calendar
from tickets.dispatch import (
    DispatchCatalogue,
    catalogue_from_document,
    dispatch_deadlines,
    load_catalogue,
    suggest_units,
    terms_for,
)
from tickets.model import TicketType, Urgency

CATALOGUE = load_catalogue()
CALENDAR = load_calendar()


@pytest.fixture
def catalogue() -> DispatchCatalogue:
    return CATALOGUE


def top(catalogue: DispatchCatalogue, text: str, ticket_type: TicketType = TicketType.COMPLAINT,
        district: str | None = None) -> str:
    return suggest_units(catalogue, text, ticket_type, district)[0].unit


def test_catalogue_has_the_expected_units(catalogue: DispatchCatalogue) -> None:
    names = {u.name for u in catalogue.units.values()}
    for name in ["市住房和城乡建设局", "市市场监督管理局", "市人力资源和社会保障局", "市生态环境局",
                 "市交通运输局", "市城市管理综合行政执法局", "市教育局", "市卫生健康委员会",
                 "兰山区人民政府"]:
        assert name in names
    kinds = {u.kind for u in catalogue.units.values()}
    assert kinds == {"department", "public_utility", "district_government"}


@pytest.mark.parametrize("text, unit", [
    ("我们小区已经停水三天了，没人管", "utility-water"),
    ("暖气一点也不热，室温只有15度", "utility-heating"),
    ("公司拖欠工资三个月不发", "city-hrss"),
    ("楼下饭店卖过期食品", "city-market"),
    ("工厂晚上偷排污水，河里有臭味", "city-ecology"),
    ("公交车司机不按站点停车", "city-transport"),
    ("路边有人占道经营摆摊", "city-urban-management"),
    ("孩子入学划片不合理", "city-education"),
    ("医院挂号难，看病排队", "city-health"),
    ("物业公司乱收物业费", "city-housing"),
    ("家里停电了，电压也不稳", "utility-power"),
    ("楼道里有燃气味，怀疑漏气", "utility-gas"),
])
def test_suggestion_ranks_the_responsible_unit_first(catalogue: DispatchCatalogue, text: str,
                                                    unit: str) -> None:
    assert top(catalogue, text) == unit


def test_suggestion_explains_itself(catalogue: DispatchCatalogue) -> None:
    best = suggest_units(catalogue, "公司拖欠工资三个月", TicketType.COMPLAINT)[0]
    assert "拖欠工资" in best.matched_keywords
    assert best.unit_name == "市人力资源和社会保障局"
    assert best.matter == "劳动保障监察"


def test_full_width_and_punctuation_do_not_matter(catalogue: DispatchCatalogue) -> None:
    assert top(catalogue, "停　水！！！") == "utility-water"


def test_fuzzy_keyword_match(catalogue: DispatchCatalogue) -> None:
    best = suggest_units(catalogue, "家里暖气片一点也不热了", TicketType.HELP)[0]
    assert best.unit == "utility-heating"


@pytest.mark.parametrize(("heard", "unit", "keyword"), [
    # what vosk-model-small-cn-0.22 wrote for 石材厂 and 煤气味 in neural phone-band speech
    ("我们 家 旁边 那个 是 财产 切实 透 的 声音 从 早 想到 晚", "city-ecology", "≈石材厂"),
    ("我们 单元 楼道 里 一股 没 气味 好像 是 谁 家 都 气温", "utility-gas", "≈煤气"),
])
def test_a_keyword_heard_as_words_of_the_same_sound_counts(catalogue: DispatchCatalogue, heard: str,
                                                           unit: str, keyword: str) -> None:
    best = suggest_units(catalogue, heard)[0]
    assert (best.unit, keyword in best.matched_keywords) == (unit, True)


def test_two_syllables_count_by_sound_only_as_the_very_same_sounds(catalogue: DispatchCatalogue) -> None:
    # 功底 gōng dǐ is not 工地 gōng dì; 打针 is not 打桩
    assert not any("≈工地" in s.matched_keywords for s in suggest_units(catalogue, "旁边 功底 还在 打针"))


def test_ticket_type_filters_matters(catalogue: DispatchCatalogue) -> None:
    # 劳动保障监察 takes help/complaint/report, not consultation; 社保 does take consultations.
    units = [s.unit for s in suggest_units(catalogue, "拖欠工资怎么办", TicketType.CONSULTATION)]
    assert "city-hrss" not in units
    assert top(catalogue, "退休手续怎么办", TicketType.CONSULTATION) == "city-hrss"


def test_district_government_is_the_fallback(catalogue: DispatchCatalogue) -> None:
    suggestions = suggest_units(catalogue, "我们这里的事情没人管", TicketType.HELP, "河东区")
    assert [s.unit for s in suggestions] == ["gov-hedong"]


def test_other_districts_governments_are_never_suggested(catalogue: DispatchCatalogue) -> None:
    units = {s.unit for s in suggest_units(catalogue, "停水", TicketType.HELP, "兰山区", limit=50)}
    assert "gov-lanshan" in units
    assert not units & {"gov-hedong", "gov-luozhuang", "gov-feixian"}


def test_local_matter_wins_a_tie_in_its_district(catalogue: DispatchCatalogue) -> None:
    assert top(catalogue, "村道坑洼", TicketType.COMPLAINT, "兰山区") == "gov-lanshan-rural"
    units = [s.unit for s in suggest_units(catalogue, "村道坑洼", TicketType.COMPLAINT, "河东区")]
    assert "gov-lanshan-rural" not in units


def _one_matter_catalogue(keywords: list[str], context: list[str] | None = None) -> DispatchCatalogue:
    defaults = {"deadline_working_days": {"consultation": 2, "help": 5, "complaint": 5, "report": 10,
                                          "suggestion": 10},
                "urgent": {"working_days": 1}, "sign_within": {"working_days": 1},
                "urgent_sign_within": {"hours": 2}}
    return catalogue_from_document({"defaults": defaults, "units": [
        {"code": "u", "name": "单位", "kind": "department",
         "matters": [{"name": "m", "keywords": keywords, "context_keywords": context or []}]},
        {"code": "gov", "name": "区政府", "kind": "district_government", "district": "甲区"}]})


def test_a_pair_keyword_matches_its_halves_with_words_between() -> None:
    catalogue = _one_matter_catalogue(["晚上…打桩"])
    best = suggest_units(catalogue, "晚上十二点多了旁边工地还在打桩", TicketType.COMPLAINT)[0]
    assert (best.unit, best.matched_keywords, best.score) == ("u", ("晚上…打桩",), 4)
    assert suggest_units(catalogue, "打桩打到晚上", TicketType.COMPLAINT) == []  # the order matters
    assert suggest_units(catalogue, "晚上八点以后我们这片老小区的路灯全灭了还在打桩", TicketType.COMPLAINT) == []


def test_context_words_alone_do_not_name_a_matter() -> None:
    catalogue = _one_matter_catalogue(["停水"], context=["小区"])
    assert [s.unit for s in suggest_units(catalogue, "小区里的事没人管", TicketType.HELP, "甲区")] == ["gov"]
    assert suggest_units(catalogue, "小区停水", TicketType.HELP)[0].score == 3


def test_a_keyword_of_three_halves_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        _one_matter_catalogue(["晚上…工地…打桩"])


def test_nothing_matches_nothing_suggested(catalogue: DispatchCatalogue) -> None:
    assert suggest_units(catalogue, "你好", TicketType.CONSULTATION) == []


def test_terms_by_type_unit_and_urgency(catalogue: DispatchCatalogue) -> None:
    assert terms_for(catalogue, "city-housing", TicketType.CONSULTATION).handling == Term(
        working_days=2)
    assert terms_for(catalogue, "city-housing", TicketType.COMPLAINT).handling == Term(
        working_days=5)
    assert terms_for(catalogue, "city-market", TicketType.REPORT).handling == Term(
        working_days=15)
    urgent = terms_for(catalogue, "utility-water", TicketType.HELP, Urgency.URGENT)
    assert urgent.handling == Term(hours=24)
    assert terms_for(catalogue, "city-housing", TicketType.HELP, Urgency.URGENT).handling == Term(
        working_days=1)
    with pytest.raises(NotFound):
        terms_for(catalogue, "no-such-unit", TicketType.HELP)


def test_dispatch_deadlines_across_national_day(catalogue: DispatchCatalogue) -> None:
    now = datetime(2026, 9, 30, 10, 0, tzinfo=HOTLINE_TZ).astimezone(UTC)
    terms = terms_for(catalogue, "city-housing", TicketType.COMPLAINT)
    deadline, sign_deadline = dispatch_deadlines(terms, now, CALENDAR)
    # Oct 8, 9, 10 (Saturday, 调休), 12, 13.
    assert deadline == end_of_local_day(date(2026, 10, 13))
    assert sign_deadline == end_of_local_day(date(2026, 10, 8))


def test_urgent_sign_deadline_never_after_handling_deadline(catalogue: DispatchCatalogue) -> None:
    now = datetime(2026, 10, 2, 22, 0, tzinfo=HOTLINE_TZ)
    terms = terms_for(catalogue, "utility-heating", TicketType.HELP, Urgency.URGENT)
    deadline, sign_deadline = dispatch_deadlines(terms, now, CALENDAR)
    assert sign_deadline <= deadline
    assert (deadline - now).total_seconds() == 24 * 3600


def test_bad_catalogue_is_a_config_error() -> None:
    good_defaults = {
        "deadline_working_days": {"consultation": 2, "help": 5, "complaint": 5, "report": 10,
                                  "suggestion": 10},
        "urgent": {"working_days": 1}, "sign_within": {"working_days": 1},
        "urgent_sign_within": {"hours": 2},
    }
    unit = {"code": "u", "name": "单位", "kind": "department",
            "matters": [{"name": "m", "keywords": ["停水"]}]}
    catalogue_from_document({"defaults": good_defaults, "units": [unit]})
    for broken in [
        {"defaults": {**good_defaults, "deadline_working_days": {"help": 5}}, "units": [unit]},
        {"defaults": good_defaults, "units": [unit, unit]},
        {"defaults": good_defaults, "units": [{**unit, "kind": "shop"}]},
        {"defaults": good_defaults,
         "units": [{**unit, "matters": [{"name": "m", "keywords": []}]}]},
        {"defaults": good_defaults, "units": [{**unit, "deadline_working_days": {"help": 0}}]},
        {"defaults": {**good_defaults, "urgent": {"days": 1}}, "units": [unit]},
        {"defaults": good_defaults, "units": [{"code": "g", "name": "区政府",
                                               "kind": "district_government"}]},
    ]:
        with pytest.raises(ConfigError):
            catalogue_from_document(broken)
