"""Recogniser output -> the caller's words as Chinese is written (asr/transcript_text.py, decoder)."""

from __future__ import annotations

import json

from asr.decoder import parse_result
from asr.segments import Word
from asr.transcript_text import clean_text, clean_words, join_words


def _vosk(words: list[tuple[str, float, float]]) -> str:
    return json.dumps({"text": " ".join(w for w, _, _ in words),
                       "result": [{"word": w, "start": s, "end": e, "conf": 0.9} for w, s, e in words]},
                      ensure_ascii=False)


def test_chinese_words_are_joined_without_spaces_and_unk_is_dropped() -> None:
    assert join_words(["我", "家", "住在", "[unk]", "兰山区"]) == "我家住在兰山区"
    assert clean_text(" 我 电话 是 一三八 [unk] ") == "我电话是一三八"


def test_latin_and_digit_tokens_keep_one_space_between_them_only() -> None:
    assert join_words(["WiFi", "6", "信号", "不好"]) == "WiFi 6信号不好"
    assert join_words(["G2", "高速"]) == "G2高速"


def test_a_segment_of_noise_or_silence_only_is_dropped() -> None:
    # Measured at 8 kHz on trailing silence: a 0.06 s "你" and an [unk].
    assert parse_result(_vosk([("你", 3.0, 3.06), ("[unk]", 3.06, 3.30)]), 0.0) is None
    assert parse_result(_vosk([("[unk]", 1.0, 1.7)]), 0.0) is None
    assert parse_result(json.dumps({"text": ""}), 0.0) is None


def test_noise_words_at_the_edges_go_and_the_times_follow_the_words_kept() -> None:
    raw = parse_result(_vosk([("[unk]", 0.0, 0.21), ("你", 0.21, 0.27), ("请", 0.3, 0.6),
                              ("尽快", 0.6, 1.05), ("处理", 1.05, 1.4), ("你", 1.5, 1.56),
                              ("[unk]", 1.56, 2.2)]), 10.0)
    assert raw is not None
    assert raw.text == "请尽快处理"
    assert (raw.start, raw.end) == (10.3, 11.4)
    assert [w.text for w in raw.words] == ["请", "尽快", "处理"]


def test_a_spoken_interjection_is_kept() -> None:
    # A callback answer "嗯" lasts a syllable: it is what the citizen said.
    assert [w.text for w in clean_words([Word("嗯", 0.0, 0.25, 0.9)])] == ["嗯"]
    raw = parse_result(_vosk([("嗯", 0.0, 0.3)]), 0.0)
    assert raw is not None and raw.text == "嗯"


def test_a_short_interjection_inside_speech_is_kept() -> None:
    words = [Word("我", 0.0, 0.2, 1.0), Word("你", 0.2, 0.26, 1.0), Word("好", 0.26, 0.5, 1.0)]
    assert [w.text for w in clean_words(words)] == ["我", "你", "好"]


def test_a_result_without_word_times_is_cleaned_by_its_text() -> None:
    raw = parse_result(json.dumps({"text": "我 要 投诉 [unk]"}, ensure_ascii=False), 2.0)
    assert raw is not None and raw.text == "我要投诉" and raw.words == ()
