"""Spoken Chinese digits -> arabic digits, for phone numbers read out digit by digit.

Callers say "幺三八 一二三四 五六七八" (幺 = 1 and 洞 = 0 are the radio/phone readings);
recognizers write them as characters, arabic digits or a mix, often split by spaces. Pure text
functions, no I/O. Amounts ("一百三十八") are deliberately not converted: a phone number is
never read that way, and guessing would turn prices into phone numbers.
"""

from __future__ import annotations

import re

DIGITS: dict[str, str] = {
    "零": "0", "〇": "0", "洞": "0", "0": "0",
    "一": "1", "幺": "1", "么": "1", "壹": "1",
    "二": "2", "两": "2", "贰": "2",
    "三": "3", "叁": "3",
    "四": "4", "肆": "4",
    "五": "5", "伍": "5",
    "六": "6", "陆": "6",
    "七": "7", "拐": "7", "柒": "7",
    "八": "8", "捌": "8",
    "九": "9", "勾": "9", "玖": "9",
}
DIGITS.update({str(d): str(d) for d in range(10)})
DIGITS.update({chr(ord("０") + d): str(d) for d in range(10)})  # full-width

# Characters allowed *inside* a spoken number: digits plus pauses and separators.
_SEPARATORS = " \u3000-—_,，、.。"
_RUN = re.compile("[" + re.escape("".join(DIGITS) + _SEPARATORS) + "]+")


def digit_runs(text: str) -> list[tuple[str, int, int]]:
    """Every run of spoken/written digits as (arabic digits, start, end) in `text`."""
    runs: list[tuple[str, int, int]] = []
    for match in _RUN.finditer(text):
        digits = "".join(DIGITS.get(ch, "") for ch in match.group())
        if digits:
            runs.append((digits, match.start(), match.end()))
    return runs


def to_arabic_digits(text: str) -> str:
    """Replace each digit character by its arabic digit, leaving other characters alone."""
    return "".join(DIGITS.get(ch, ch) for ch in text)


_UNITS = {"十": 10, "百": 100, "千": 1000}
_SMALL = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
          "六": 6, "七": 7, "八": 8, "九": 9}
_NUMBER_WORD = re.compile("[零〇一幺二两三四五六七八九十百千]+")


def chinese_to_int(word: str) -> int:
    """"十二" -> 12, "一百零三" -> 103, "三" -> 3 (house and building numbers, below 10 000)."""
    if not any(ch in _UNITS for ch in word):
        return int("".join(str(_SMALL[ch]) for ch in word))
    total, digit = 0, None
    for ch in word:
        if ch in _UNITS:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        else:
            digit = _SMALL[ch]
    return total + (digit or 0)


def numbers_to_arabic(text: str) -> str:
    """Rewrite Chinese numerals in an address ("十二号" -> "12号"; "幺零三室" -> "103室")."""
    return _NUMBER_WORD.sub(lambda m: str(chinese_to_int(m.group())), text)
