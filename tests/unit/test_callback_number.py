"""A number heard in the call never replaces a valid caller id unless it is itself a complete
number (asr/callback_number.py).

The heard strings are what vosk-model-small-cn-0.22 wrote for neural phone-band speech of a
caller reading out a number digit by digit (幺/两/零); the previous rule took the 7-digit
fragments left of misheard mobile numbers (3567890, 1667788, 8633209) as landline numbers.
"""

from __future__ import annotations

import pytest

from asr.callback_number import find_callback_number, is_complete_number
from asr.extract import extract_ticket_draft, load_gazetteer, merge_draft, normalize_transcript

CALLER_ID = "13900000000"


def heard(text: str) -> str:
    return normalize_transcript(text)


@pytest.mark.parametrize("said", [
    "我 手机号 是 要 三 五六七八 九零 要 两三",  # 幺 heard as 要: 3567890 is left
    "我 的 手机 是 要 五八 要 么 六六 七七八八",  # 1667788 is left
    "我 就 三号 楼 二 单元 按 按时 电话 是 要 八六 三 三 二 零 九",  # 8633209 is left
    "我 的 号码 是 幺 粑粑 自私 令 按 一 三 武器",
])
def test_a_fragment_of_a_number_never_replaces_a_valid_caller_id(said):
    found = find_callback_number(heard(said), caller_id=CALLER_ID)
    assert found is None or is_complete_number(found.digits)
    draft = extract_ticket_draft(said, load_gazetteer(), caller_id=CALLER_ID)
    form = merge_draft({"callback_number": ""}, draft)  # even into an empty field
    assert form.fields["callback_number"] in ("", None) or is_complete_number(form.fields["callback_number"])


def test_a_fragment_is_not_offered_when_the_caller_id_is_unknown_to_the_reader():
    # the desk's draft endpoint: its form holds the caller id already
    assert find_callback_number("我手机号是要三五六七八九零") is None


def test_a_local_number_is_offered_when_the_call_has_no_usable_caller_id():
    for caller_id in ("", "anonymous", "8001"):
        found = find_callback_number("联系电话八一零零零零三", caller_id=caller_id)
        assert found is not None and found.digits == "8100003"
    assert find_callback_number("联系电话八一零零零零三", caller_id=CALLER_ID) is None


@pytest.mark.parametrize(("said", "number"), [
    ("我 的 电话 是 幺 三八 一二三四 五六七八", "13812345678"),
    ("座机 号码 是 零五三九 八幺零零零零三", "05398100003"),  # a landline with its area code
    ("我 电话 是 幺 九 九 八 七 六 五 四 三 二 一", "19987654321"),
])
def test_a_complete_number_heard_in_the_call_is_offered_whatever_the_caller_id(said, number):
    found = find_callback_number(heard(said), caller_id=CALLER_ID)
    assert found is not None and found.digits == number


@pytest.mark.parametrize(("said", "number"), [
    ("你 记 一下 我 手机 后 妖物 九零 零 一 二 三 四 五 六", "15900123456"),  # 幺五 as 妖物
    ("我 手机号 是 要 三 五六七八 九零 要 两三", "13567890123"),  # 幺 as 要
    ("我 的 手机 是 要 五八 要 么 六六 七七八八", "15811667788"),
    ("电话 是 要 八六 三 三 二 零 九 武器 要", "18633209571"),  # 七 as 器, 幺 as 要
    ("到 我 家 做 座机 领悟 三九 其二 六 班 三 五 一 死", "053972683514"),  # 零五 as 领悟
])
def test_digits_heard_as_words_that_sound_alike_are_read_as_digits(said, number):
    found = find_callback_number(heard(said), caller_id=CALLER_ID)
    assert found is not None and found.digits == number
    assert found.confidence < find_callback_number("电话幺三八一二三四五六七八").confidence


@pytest.mark.parametrize("said", [
    "我 住 三号 楼 已经 两天 了 问 一下",
    "我 把 五 六 个 人 叫 来 了",  # 把 sounds like 八, but no number is read out
    "电话 一 崎岖 零八 而 六 针灸 一 死",  # too few digits heard to trust the rest
])
def test_words_that_sound_like_digits_make_no_number_on_their_own(said):
    assert find_callback_number(heard(said), caller_id="") is None
