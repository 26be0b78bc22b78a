"""The live assist's reading (pure): what the caller's words suggest, and the words behind each.

Sentences are what the Mandarin model wrote for neural-voice callers (Vosk's spaces included).
"""

from __future__ import annotations

import pytest

from asr.assist import (
    CONTEXT,
    QUERY_HEAD,
    QUERY_TAIL,
    Assist,
    CallerWords,
    KnowledgeCandidate,
    Snippet,
    choose_answers,
    knowledge_query,
    locate,
    read_assist,
)
from asr.extract import load_gazetteer
from tickets.dispatch import load_catalogue, suggest_units


@pytest.fixture(scope="module")
def gazetteer():
    return load_gazetteer()


@pytest.fixture(scope="module")
def units():
    catalogue = load_catalogue()
    return lambda text, kind, district: suggest_units(catalogue, text, kind, district)


NOISE = KnowledgeCandidate("kb-noise", "噪音扰民投诉渠道", "您好，噪音扰民按噪声来源由不同部门处理。", 3,
                           "city-ecology", ("噪音扰民", "噪声污染", "夜间施工", "广场舞噪音", "装修噪音", "商铺噪音"))
STALLS = KnowledgeCandidate("kb-stalls", "占道经营投诉处理", "您好，占道经营由城市管理部门处理。", 1,
                            "city-urban-management", ("占道经营", "流动摊贩", "马路摆摊"))
HEATING = KnowledgeCandidate("kb-heating", "暖气不热、室温不达标报修", "您好，供暖期内室温应不低于18℃。", 2,
                             "utility-heating", ("暖气不热", "室温不达标", "暖气片不热"))
CALLER = ("以后 我 要 投诉 噪音 扰民", "晚上 工地 一直 在 施工", "家 我家 是 蒙阴县 城里 的")


def marked(snippet: Snippet) -> list[str]:
    return [text for text, mark in snippet.parts if mark]


def shown(snippet: Snippet) -> str:
    return "".join(f"[{text}]" if mark else text for text, mark in snippet.parts)


def test_units_type_and_district_come_with_the_callers_words_behind_them(gazetteer, units) -> None:
    assist = read_assist(CallerWords(CALLER), gazetteer, units, [NOISE, STALLS])

    lead = assist.units[0]
    assert (lead.unit, lead.matter) == ("city-urban-management", "夜间施工与噪声扰民")
    assert [shown(s) for s in lead.evidence] == ["以后我要投诉[噪音扰民]", "[晚上][工地]一直在[施工]"]
    # The district government closes the list, explained by the district the caller named.
    government = assist.units[-1]
    assert government.unit == "gov-mengyin" and government.matter is None
    assert [shown(s) for s in government.evidence] == ["家我家是[蒙阴县]城里的"]
    assert assist.request_type is not None and assist.request_type.value == "complaint"
    assert shown(assist.request_type.evidence[0]) == "以后我要[投诉][噪音]扰民"  # two words, two marks
    assert assist.district is not None and assist.district.value == "蒙阴县"
    assert marked(assist.district.evidence[0]) == ["蒙阴县"]
    assert assist.street is not None and assist.street.value == "蒙阴街道"  # 县城 of the county named
    assert marked(assist.street.evidence[0]) == ["县城"]
    # The approved wording the caller's words name; the stall article shares only 投诉.
    assert [a.article.article_id for a in assist.answers] == ["kb-noise"]
    assert [shown(s) for s in assist.answers[0].evidence] == ["以后我要投诉[噪音扰民]"]
    assert assist.partial is False


def test_words_still_being_spoken_shape_the_suggestions_and_are_marked_partial(gazetteer, units) -> None:
    settled = read_assist(CallerWords(CALLER[:1]), gazetteer, units)
    assert settled.district is None

    speaking = read_assist(CallerWords(CALLER[:1], "家 我家 是 蒙阴县"), gazetteer, units)
    assert speaking.partial is True
    assert speaking.district is not None and speaking.district.value == "蒙阴县"
    assert speaking.district.evidence[0].partial is True
    # Words already final stay final in the same update.
    assert speaking.request_type is not None and speaking.request_type.evidence[0].partial is False


def test_nothing_said_suggests_nothing(gazetteer, units) -> None:
    assert read_assist(CallerWords(), gazetteer, units, [NOISE]) == Assist()
    assert read_assist(CallerWords(("",), "  "), gazetteer, units, [NOISE]) == Assist()


def test_an_approved_answer_needs_the_callers_words_to_name_it() -> None:
    text = "我家暖气片一点都不热"
    # Most of a long keyword said (暖气片不热): the article is named, by the characters said.
    (answer,) = choose_answers(text, len(text), [STALLS, HEATING])
    assert answer.article.article_id == "kb-heating"
    assert "暖气" in "".join(marked(answer.evidence[0]))

    # A topic word of the request (from the extraction or the catalogue) in the title names it.
    text = "楼上噪音太大了"
    assert choose_answers(text, len(text), [NOISE, STALLS]) == ()
    (answer,) = choose_answers(text, len(text), [NOISE, STALLS], topics=("噪音",))
    assert answer.article.article_id == "kb-noise" and marked(answer.evidence[0]) == ["噪音"]

    # A keyword said as is ranks first, whatever the search's order.
    text = "马路摆摊的很多，噪音也大"
    ranked = choose_answers(text, len(text), [NOISE, STALLS], topics=("噪音",))
    assert [a.article.article_id for a in ranked] == ["kb-stalls", "kb-noise"]

    # No approved wording, nothing to read out.
    silent = KnowledgeCandidate("kb-draft", "马路摆摊", "", 1, "x", ("马路摆摊",))
    assert choose_answers(text, len(text), [silent]) == ()


def test_a_snippet_stays_in_one_utterance_and_never_repeats_a_number() -> None:
    text = "我的电话是一三八一二三四五六七八我要投诉噪音。后面的话不显示"
    (snippet,) = locate(text, len(text), ["噪音"])
    assert snippet.parts[-1] == ("噪音", True)  # the sentence ends there
    before = snippet.parts[0][0]
    assert before.startswith("…") and len(before) == 1 + CONTEXT
    assert "一三八" not in shown(snippet) and "＊" in before

    # Words far apart in one utterance get a snippet each; close ones share one.
    text = "噪音" + "的" * (3 * CONTEXT) + "扰民"
    assert len(locate(text, len(text), ["噪音", "扰民"])) == 2
    text = "噪音很大扰民"
    (snippet,) = locate(text, len(text), ["噪音", "扰民"])
    assert shown(snippet) == "[噪音]很大[扰民]"


def test_evidence_the_rules_read_differently_is_shown_on_its_own() -> None:
    text = "晚上十二点多了旁边工地还在打桩"
    snippets = locate(text, len(text), ["晚上…打桩", "凌晨"])
    assert marked(snippets[0]) == ["晚上", "打桩"]  # both halves of a pair keyword
    assert snippets[1] == Snippet((("凌晨", True),), False)
    (fuzzy,) = locate(text, len(text), ["~工地打桩声"])  # the bigrams said of a word partly said
    assert marked(fuzzy) == ["工地", "打桩"]


def test_the_knowledge_query_is_the_final_words_bounded_to_the_start_and_the_latest() -> None:
    words = CallerWords(("开头" * 100, "中间" * 200, "最后" * 100))
    query = knowledge_query(words)
    assert len(query) <= QUERY_HEAD + QUERY_TAIL + 1
    assert query.startswith("开头") and query.endswith("最后")
    assert knowledge_query(CallerWords(("短短一句",))) == "短短一句"
    # Searched once per utterance: the partial only until the first final.
    assert knowledge_query(CallerWords((), "暖气 不 热")) == "暖气不热"
    assert knowledge_query(CallerWords(("暖气 不 热",), "家里 十五 度")) == "暖气不热"
