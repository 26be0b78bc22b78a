"""Field extraction from callers' transcripts (pure; Chinese sentences as Vosk writes them)."""

from __future__ import annotations

import pytest

from asr.chinese_numbers import chinese_to_int, digit_runs, numbers_to_arabic, to_arabic_digits
from asr.extract import (
    RequestType,
    TicketDraft,
    classify_request,
    extract_ticket_draft,
    find_address,
    find_callback_number,
    load_gazetteer,
    merge_draft,
    normalize_transcript,
    parse_gazetteer,
)
from kernel.errors import ConfigError


@pytest.fixture(scope="module")
def gazetteer():
    return load_gazetteer()


@pytest.mark.parametrize(("text", "expected"), [
    ("我要投诉我们小区晚上施工噪音太大", RequestType.COMPLAINT),
    ("我想举报有人在河边偷排污水", RequestType.REPORT),
    ("家里老人走失了想求助一下", RequestType.HELP),
    ("请问办理居住证需要什么材料", RequestType.CONSULTATION),
    ("我想咨询一下公积金提取", RequestType.CONSULTATION),
    ("建议在路口增加一个红绿灯", RequestType.SUGGESTION),
    ("我们这里停水三天了帮帮忙", RequestType.HELP),
])
def test_request_type_is_recognised(text, expected):
    result = classify_request(text)
    assert result is not None and result.value is expected


def test_explicit_request_word_is_more_certain_than_a_cue():
    explicit = classify_request("我要投诉")
    implicit = classify_request("楼下噪音太吵了")
    assert explicit.value is implicit.value is RequestType.COMPLAINT
    assert explicit.confidence > implicit.confidence


def test_negated_request_word_is_ignored():
    result = classify_request("我不是投诉就是想问一下政策")
    assert result is not None and result.value is RequestType.CONSULTATION


def test_nothing_to_classify_gives_no_type():
    assert classify_request("喂你好") is None


def test_spaces_between_chinese_words_are_removed():
    assert normalize_transcript("我 要 投诉 一下 ABC def") == "我要投诉一下 ABC def"


@pytest.mark.parametrize(("spoken", "digits"), [
    ("我的电话是幺三八一二三四五六七八", "13812345678"),
    ("号码 一 三 八 一二三四 五六七八", "13812345678"),
    ("手机是138 1234 5678", "13812345678"),
    ("电话幺五九洞洞幺二三四五六", "15900123456"),
    ("联系电话两三四五六七八九", "23456789"),
])
def test_callback_number_in_chinese_and_arabic_digits(spoken, digits):
    found = find_callback_number(normalize_transcript(spoken), caller_id="")  # a call with no caller id
    assert found is not None and found.value == digits


def test_mobile_number_after_a_cue_is_most_certain():
    with_cue = find_callback_number("我电话是一三八一二三四五六七八")
    without = find_callback_number("一三八一二三四五六七八")
    assert with_cue.confidence > without.confidence >= 0.8


def test_short_digit_runs_are_not_phone_numbers():
    assert find_callback_number("我住三楼已经两天了问一下") is None


def test_digit_helpers():
    assert to_arabic_digits("三号楼二单元") == "3号楼2单元"
    assert [d for d, *_ in digit_runs("幺三八，一二")] == ["13812"]
    assert [chinese_to_int(w) for w in ("十二", "二十", "一百零三", "三", "幺零三")] == [12, 20, 103, 3, 103]
    assert numbers_to_arabic("人民路一百零八号") == "人民路108号"


def test_district_street_and_community_from_the_gazetteer(gazetteer):
    draft = extract_ticket_draft("我 住在 临沭县 临沭街道 苍河社区 这边 垃圾 没人 清理", gazetteer)
    assert draft.district.value == "临沭县" and draft.district.confidence >= 0.9
    assert draft.street.value == "临沭街道"
    assert draft.community.value == "苍河社区"


def test_alias_of_a_community_implies_its_street_and_district(gazetteer):
    draft = extract_ticket_draft("禹王城那边天天有人占道经营", gazetteer)
    assert draft.community.value == "禹王城村"
    assert draft.street.value == "梅埠街道" and draft.district.value == "河东区"
    assert draft.district.confidence < 0.9  # implied, not said


def test_longer_names_win_over_their_prefix(gazetteer):
    draft = extract_ticket_draft("梅埠村停电了", gazetteer)  # 梅埠 alone is the street
    assert draft.community.value == "梅埠村"
    assert draft.street.value == "梅埠街道" and draft.district.value == "河东区"


def test_colloquial_district_alias(gazetteer):
    draft = extract_ticket_draft("临沭薛疃那边路灯不亮", gazetteer)
    assert draft.district.value == "临沭县"
    assert draft.community.value == "薛疃社区"


def test_address_with_road_number_and_building():
    found = find_address("我住在解放路十二号锦绣家园三号楼二单元")
    assert found is not None
    assert found.value == "解放路12号锦绣家园3号楼2单元" and found.confidence >= 0.8


def test_full_draft_from_a_realistic_call(gazetteer):
    text = ("你好 我 要 投诉 一下 我 住在 河东区 梅埠街道 禹王城村 楼下 饭店 油烟 和 噪音 特别 大 "
            "我的 电话 是 幺 三 九 零 零 一 二 三 四 五 六")
    draft = extract_ticket_draft(text, gazetteer, suggest_units=lambda t: ["河东区城市管理局"] if "油烟" in t else [])
    assert draft.request_type.value is RequestType.COMPLAINT
    assert (draft.district.value, draft.street.value, draft.community.value) == ("河东区", "梅埠街道", "禹王城村")
    assert draft.callback_number.value == "13900123456"
    assert draft.keywords.value[:2] == ("油烟", "噪音")
    assert draft.suggested_units == ("河东区城市管理局",)


def test_empty_transcript_gives_an_empty_draft(gazetteer):
    assert extract_ticket_draft("", gazetteer, suggest_units=lambda t: ["x"]) == TicketDraft()


def test_merge_never_overwrites_what_the_agent_typed(gazetteer):
    draft = extract_ticket_draft("我要投诉 罗庄区 噪音 电话 一三八一二三四五六七八", gazetteer)
    agent = {"request_type": "consultation", "district": "", "callback_number": "13900000000", "keywords": []}
    result = merge_draft(agent, draft)
    assert result.fields["request_type"] == "consultation"  # typed by the agent: kept
    assert result.fields["callback_number"] == "13900000000"
    assert result.fields["district"] == "罗庄区"  # empty: filled
    assert result.fields["keywords"] == ["噪音"]
    assert result.filled == {"district", "keywords"}
    assert agent["district"] == ""  # the agent's form is not mutated


def test_merge_skips_low_confidence_values(gazetteer):
    draft = extract_ticket_draft("楼上 装修 太吵 了", gazetteer)
    assert draft.request_type.confidence < 0.6
    assert "request_type" not in merge_draft({}, draft, min_confidence=0.6).filled
    assert merge_draft({}, draft, min_confidence=0.5).fields["request_type"] == "complaint"


@pytest.mark.parametrize(("text", "district"), [
    ("罗庄区这边有渣土车半夜拉土", "罗庄区"),
    ("河东我们村的自来水发黄", "河东区"),
    ("兰山区人民大街那个井盖没了", "兰山区"),
    ("就在沂水县城", "沂水县"),
    ("苍山这边赶集路上堵死了", "兰陵县"),  # the county's name until 2014
    ("北城新区这边", "兰山区"),
])
def test_district_from_the_names_callers_use(gazetteer, text, district):
    assert extract_ticket_draft(text, gazetteer).district.value == district


def test_county_seat_is_what_the_caller_calls_the_county_town(gazetteer):
    draft = extract_ticket_draft("就在 沂水 县城 停电 了", gazetteer)
    assert (draft.district.value, draft.street.value) == ("沂水县", "沂城街道")
    assert draft.street.confidence < draft.district.confidence
    assert extract_ticket_draft("城里停电了", gazetteer).street is None  # no county named: no guess


def test_a_name_as_speech_recognition_writes_it_counts_less(gazetteer):
    misheard = extract_ticket_draft("必县 探沂镇 我们 村", gazetteer)  # 费县 is read bì xiàn
    said = extract_ticket_draft("费县探沂镇我们村", gazetteer)
    assert misheard.district.value == said.district.value == "费县"
    assert misheard.district.confidence < said.district.confidence
    assert extract_ticket_draft("一水县城停电", gazetteer).district.value == "沂水县"


def test_a_road_of_one_district_places_the_request_there(gazetteer):
    draft = extract_ticket_draft("金雀山路上有个井盖没了", gazetteer)
    assert draft.district.value == "兰山区" and draft.district.confidence < 0.7
    assert draft.street is None


def test_generic_words_are_not_places(gazetteer):
    for text in ("十字路口有人摆摊", "小区花园里的路灯不亮", "这个地方没人管"):
        draft = extract_ticket_draft(text, gazetteer)
        assert (draft.district, draft.street) == (None, None), text


def test_a_spoken_form_naming_two_places_is_a_config_error():
    doc = {"city": {"name": "X"}, "districts": [
        {"name": "甲区", "streets": [{"name": "高都街道", "aliases": ["高都"]}]},
        {"name": "乙县", "streets": [{"name": "高都镇", "aliases": ["高都"]}]}]}
    with pytest.raises(ConfigError, match="高都"):
        parse_gazetteer(doc)


def test_a_seat_that_is_not_a_street_of_the_county_is_a_config_error():
    doc = {"city": {"name": "X"}, "districts": [{"name": "甲县", "seat": "乙街道", "streets": [{"name": "甲街道"}]}]}
    with pytest.raises(ConfigError, match="乙街道"):
        parse_gazetteer(doc)


def test_malformed_gazetteer_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        parse_gazetteer({"city": {"name": "X"}, "districts": [{"aliases": []}]})
    assert caught.value.key == "asr.gazetteer"
