from __future__ import annotations

from tests.speech_metrics import character_errors, normalise


def test_punctuation_spaces_and_unk_are_not_characters() -> None:
    assert normalise("您好，这里 是 [unk] 热线。") == "您好这里是热线"


def test_the_hotline_number_is_the_same_however_it_is_written() -> None:
    assert normalise("幺二三四五") == normalise("一 二 三 四 五") == normalise("12345") == "12345"


def test_errors_are_counted_per_character() -> None:
    assert character_errors("请稍候", "请稍候") == (0, 3)
    assert character_errors("兰山区", "岚山区") == (1, 3)
    assert character_errors("您好，请稍候。", "您 好 请") == (2, 5)
    assert character_errors("幺幺零", "一一九") == (1, 3)
