"""Request type from the situation a caller describes (asr/request_type.py)."""

from __future__ import annotations

import pytest

from asr.extract import classify_request, extract_ticket_draft, load_gazetteer, prepare_transcript
from asr.request_type import guess_request_type
from tickets.model import TicketType


@pytest.mark.parametrize(("text", "expected"), [
    # no 投诉/求助/咨询 word: the situation says it
    ("公司三个月没发工资了，老板天天躲着", TicketType.COMPLAINT),
    ("物业什么都不管，楼道里的垃圾堆成山", TicketType.COMPLAINT),
    ("家里暖气一点都不热", TicketType.HELP),
    ("小区停电两个小时了，什么时候能来电", TicketType.HELP),
    ("孩子明年上小学要准备哪些材料", TicketType.CONSULTATION),
    ("有人半夜在河边偷偷倒垃圾", TicketType.REPORT),
    ("能不能在我们村口增设一个公交站", TicketType.SUGGESTION),
])
def test_the_situation_gives_the_type(text: str, expected: TicketType) -> None:
    guess = guess_request_type(prepare_transcript(text))
    assert guess is not None and guess.value is expected


def test_what_the_caller_calls_the_request_comes_first() -> None:
    guess = guess_request_type("我要投诉，我们这停水三天了，赶紧派人来修")
    assert guess is not None and guess.value is TicketType.COMPLAINT and guess.confidence >= 0.9
    plea = guess_request_type("包工头跑了一分钱都没给，求求你们帮帮我们")
    assert plea is not None and plea.value is TicketType.HELP


def test_every_guess_carries_its_confidence_and_the_words_behind_it() -> None:
    text = "楼上半夜吵得睡不着"
    guess = guess_request_type(text)
    assert guess is not None and guess.value is TicketType.COMPLAINT
    assert 0 < guess.confidence < 0.9
    assert guess.evidence and all(word in text for word in guess.evidence.split("、"))


def test_more_of_the_situation_is_more_certain() -> None:
    one = guess_request_type("路灯坏了")
    more = guess_request_type("路灯坏了一个多月了，晚上太危险了，赶紧派人来修")
    assert one is not None and more is not None and one.value is more.value is TicketType.HELP
    assert more.confidence > one.confidence


def test_a_rival_kind_lowers_the_confidence() -> None:
    alone = guess_request_type("物业拖着不修")
    contested = guess_request_type("物业拖着不修，电梯坏了")
    assert alone is not None and contested is not None
    assert alone.value is contested.value is TicketType.COMPLAINT
    assert contested.confidence < alone.confidence


@pytest.mark.parametrize("text", ["喂你好", "嗯那个我想说个事", "我们这边的情况是这样的", ""])
def test_no_guess_when_the_words_do_not_say(text: str) -> None:
    assert guess_request_type(text) is None


def test_no_guess_when_the_words_say_two_kinds_equally() -> None:
    guess = guess_request_type("电表坏了，有问题")  # broken (help) and faulty (complaint), as much
    assert guess is None


def test_misheard_words_are_read_as_meant() -> None:
    assert prepare_transcript("暖器 片 冰凉 的") == "暖气片冰凉的"
    assert prepare_transcript("虽然 气温 低") == "虽然气温低"  # 然气 is no misheard 燃气 here
    assert classify_request(prepare_transcript("我 想 资讯 一下 社保 卡")).value is TicketType.CONSULTATION
    draft = extract_ticket_draft("见意 多 开 几 趟 公交", load_gazetteer())
    assert draft.request_type is not None and draft.request_type.value is TicketType.SUGGESTION
