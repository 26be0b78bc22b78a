"""The place-spotting pass: what it listens for, how its output is read, how the draft uses it.

The decoded strings are what vosk-model-small-cn-0.22 wrote in grammar mode (the districts'
names and "[unk]") for neural phone-band speech of the labelled intake requests. Pure: no model.
"""

from __future__ import annotations

import asyncio

import pytest

from asr.extract import extract_ticket_draft, load_gazetteer
from asr.place_grammar import STAND_INS, PlaceGrammar
from asr.place_spotting import PlaceListener


@pytest.fixture(scope="module")
def gazetteer():
    return load_gazetteer()


@pytest.fixture(scope="module")
def grammar(gazetteer):
    return PlaceGrammar.of(gazetteer)


def test_the_grammar_holds_every_district_in_characters_the_model_has(gazetteer, grammar):
    phrases = set(grammar.phrases)
    assert "兰 山 区" in phrases and "平 义 县" in phrases and "举 南 县" in phrases
    assert not any(ch in phrase for phrase in phrases for ch in STAND_INS)  # 邑, 莒, 沭: not in its vocabulary
    assert grammar.as_json().endswith('"[unk]"]')
    assert {s.place.name for s in (grammar.spotted(" ".join(p)) for p in phrases) for s in s} \
        == set(gazetteer.districts) - {"费县"}  # two characters: never counted alone


@pytest.mark.parametrize(("decoded", "districts"), [
    ("沂 南 县 城 [unk] [unk] [unk] [unk]", ["沂南县"]),  # the free decode wrote 明白县城
    ("[unk] 县 罗 庄 区 [unk] [unk]", ["罗庄区"]),  # the free decode wrote 下锅去
    ("平 义 县 城 蒙 [unk] [unk] 县 兰", ["平邑县"]),  # 义 stands in for 邑
    ("[unk] 举 南 县 [unk]", ["莒南县"]),
    ("[unk] [unk] 费 县 [unk] 东 新", []),  # two characters: too often spotted wrongly
    ("[unk] 县 [unk] 兰 山 [unk] 区", []),  # pieces of names are no name
    ("兰 山 区 [unk] 罗 庄 区", ["兰山区", "罗庄区"]),  # in the order heard
])
def test_a_district_counts_when_its_whole_name_was_spotted(grammar, decoded, districts):
    assert [s.place.name for s in grammar.spotted(decoded)] == districts


def test_the_spotted_district_fills_the_draft_when_the_words_name_none(gazetteer, grammar):
    heard = "明白 县城 有人 在 人行道 上 打 了 个 棚子 卖 东西"  # the free decode of 沂南县城…
    assert extract_ticket_draft(heard, gazetteer).district is None
    draft = extract_ticket_draft(heard, gazetteer, spotted=grammar.spotted("沂 南 县 城 [unk]"))
    assert draft.district.value == "沂南县" and draft.district.confidence < 0.9


def test_a_district_written_in_the_words_wins_over_the_spotted_one(gazetteer, grammar):
    draft = extract_ticket_draft("我 在 兰山区 柳青 街道", gazetteer, spotted=grammar.spotted("罗 庄 区"))
    assert draft.district.value == "兰山区"


def test_the_spotted_district_wins_over_one_recovered_by_sound(gazetteer, grammar):
    heard = "般呈现 一个 幼儿园 伙食费 一个 验收 六百 家长 没意见 都 很大"  # 郯城县 said; 没意见 ~ 蒙阴县
    draft = extract_ticket_draft(heard, gazetteer, spotted=grammar.spotted("[unk] 郯 城 县 [unk]"))
    assert draft.district.value == "郯城县"


def test_the_listener_keeps_no_audio_without_a_model_and_skips_calls_that_named_a_district(gazetteer):
    async def run() -> None:
        idle = PlaceListener(None, 8000, gazetteer)
        idle.hear("c1", b"\0" * 320)
        assert await idle.spotted("c1", "我在罗庄区") == []
        listener = PlaceListener(object(), 8000, gazetteer)  # type: ignore[arg-type]  # never decodes here
        listener.hear("c2", b"\0" * 320)
        assert await listener.spotted("c2", "我 在 罗庄区 盛庄 街道") == []  # written: nothing to add
        listener.close()

    asyncio.run(run())


def test_a_name_heard_unsurely_does_not_count(grammar):
    # 音响开得 ("the speakers are loud") came back as 蒙 阴 县 with a confidence of 0.56 in 阴
    words = [("[unk]", 1.0), ("蒙", 0.91), ("阴", 0.56), ("县", 0.84), ("[unk]", 1.0)]
    assert grammar.spotted_words(words) == []
    assert [s.place.name for s in grammar.spotted_words([("蒙", 0.9), ("阴", 0.8), ("县", 0.95)])] == ["蒙阴县"]


def test_a_spotted_district_counts_only_when_the_free_decode_wrote_its_suffix() -> None:
    """蒙阴县 heard in 音响开得 by the grammar alone is dropped; the names the free decode garbled
    but whose suffix it kept, as written or as a homophone (明白县城, 洛江区, 般呈现), stay; 小区
    is no district's 区."""
    from asr.extract import corroborated, load_gazetteer
    from asr.place_grammar import SpottedPlace

    places = {p.name: p for p in load_gazetteer().places}

    def spotted(name: str) -> SpottedPlace:
        return SpottedPlace(places[name], name)

    assert corroborated([spotted("蒙阴县")], "小区旁边广场上音响开得特别大") == []
    assert corroborated([spotted("沂南县")], "明白县城有人在人行道上打了个棚子") == [spotted("沂南县")]
    assert corroborated([spotted("罗庄区")], "我想问下洛江区去哪里能办出生医学证明") == [spotted("罗庄区")]
    assert corroborated([spotted("郯城县")], "般呈现 一个 幼儿园 伙食费") == [spotted("郯城县")]
    assert corroborated([spotted("罗庄区")], "我们小区门口社区医院") == []
