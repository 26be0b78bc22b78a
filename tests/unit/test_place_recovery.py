"""Places recovered from what the Mandarin recogniser wrote for them (asr/place_recovery.py).

Every "heard" string here is what vosk-model-small-cn-0.22 wrote for neural phone-band speech of
the labelled intake requests (bench/bench_intake.py --audio), spaces and all: the model knows
none of the city's place names as words. Pure: no model, no audio.
"""

from __future__ import annotations

import pytest

from asr.extract import extract_ticket_draft, load_gazetteer, read_transcript
from kernel.sound_alike import syllable_similarity, syllables


@pytest.fixture(scope="module")
def gazetteer():
    return load_gazetteer()


@pytest.mark.parametrize(("heard", "district", "street"), [
    ("我 在 岚山区 柳青 接到 主 物业费", "兰山区", "柳青街道"),  # 街道 is heard as 接到
    ("和 东西 久期 接到 这边 我 家 是 顶楼", "河东区", "九曲街道"),  # 河东区 as 和东西
    ("我 是 多 争取 盛装 接到 的 我们 小青", "罗庄区", "盛庄街道"),  # 盛庄街道 implies 罗庄区
    ("我 是 一门 限界 和 接到 的 去年 买 的 新房", "沂南县", "界湖街道"),
    ("莱山区 明确 山 接到 我们 这个 小区", "兰山区", "银雀山街道"),
    ("我 在 南陵县 一个 服装厂", "兰陵县", None),
    ("零售现 有 个 饭店", "临沭县", None),
    ("我 是 文山区 的 想 问问", "兰山区", None),  # where callers say where they are from
    ("裸妆 那边 的 路 公交车", "罗庄区", None),  # a bare name: the very same sounds, said as a place
    ("雨水 县城 我们", "沂水县", "沂城街道"),  # before 县城 a county is named: the likest one
    ("胖成 县城 有个 理发店", "郯城县", "郯城街道"),
    ("毕现 县城 有 药店", "费县", "费城街道"),  # 费县 is said bì xiàn: sounds like its misheard 必县
])
def test_a_place_written_as_other_words_is_recovered_by_sound(gazetteer, heard, district, street):
    draft = extract_ticket_draft(heard, gazetteer)
    assert draft.district is not None and draft.district.value == district
    assert (draft.street.value if draft.street else None) == street


def test_a_place_heard_by_sound_counts_less_than_a_name_written_right(gazetteer):
    heard = extract_ticket_draft("我 在 岚山区 柳青", gazetteer).district
    written = extract_ticket_draft("我在兰山区柳青", gazetteer).district
    assert heard.value == written.value == "兰山区"
    assert heard.confidence < written.confidence
    assert heard.evidence == "岚山区"  # the desk shows the words behind the guess


@pytest.mark.parametrize("heard", [
    "我们 买 的 商品房 合同 上 写 的 去年 年底 交房",  # 合同 ~ 河东
    "我 举报 一下 我们 隔壁 那个 工地 早晚 要 出事",  # 早晚 ~ 枣园
    "交了 水费 现在 还 没 来水",  # 费现 ~ 费县
    "孩子 今年 上 初三 想 提前 了解",  # 年上初 ~ 兰山区
    "我们 村 的 低保 评议 不公平",  # 评议 ~ 平邑
    "建议 县里 在 附近 多修 几个 厕所",
    "我们 小区 的 电梯 年久失修",
    "学校 周边 的 小饭桌",  # 周边 ~ 洙边
    "县城 这边 停电 了",  # 县城 is no 向城镇
    "家长 没意见",  # 没意见 ~ 蒙阴县
    "医院 的 停车场",
    "我 在 网上 团购 的 饭店 套餐",
    "小升初 的 时候 派位",
])
def test_everyday_words_that_sound_like_a_place_are_no_place(gazetteer, heard):
    draft = extract_ticket_draft(heard, gazetteer)
    assert (draft.district, draft.street, draft.community) == (None, None, None)


def test_a_place_written_right_wins_over_sounds_and_is_not_rewritten(gazetteer):
    text = "谈城县 马头镇 我们 村 的 低保 评议 不公平"  # 谈城县: the gazetteer's misheard 郯城县
    draft = extract_ticket_draft(text, gazetteer)
    assert draft.district.value == "郯城县"
    assert "评议" in read_transcript(text, gazetteer).text  # no 平邑 out of 评议


def test_the_transcript_reads_the_recovered_names(gazetteer):
    read = read_transcript("建议 在 和 东西 凤凰 令 接到 增加 一条 公交 线路", gazetteer)
    assert read.text == "建议在河东区凤凰岭街道增加一条公交线路"
    assert read_transcript("胖成 县城 有个 理发店", gazetteer).text == "郯城县城有个理发店"


def test_syllables_alike_by_articulation_and_by_the_models_measured_confusions():
    def alike(a: str, b: str) -> float:
        return syllable_similarity(syllables(a)[0], syllables(b)[0])

    assert alike("兰", "兰") == 1.0
    assert alike("兰", "岚") == 1.0  # the same syllable, the same tone
    assert alike("区", "期") > alike("区", "西") > alike("区", "好")  # 区 is heard as 期, 西
    assert alike("兰", "莱") > 0.8  # l-an / l-ai
    assert alike("罗", "多") > alike("罗", "是")  # l and d are made at the same place
