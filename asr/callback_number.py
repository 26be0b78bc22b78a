"""The number to call the caller back on, from what the caller said, and when it may be offered.

Why a module of its own: a number heard in a call competes with the caller id the network gave,
and the recogniser often mishears one digit of a number read out digit by digit (幺 as 要, 九
as 就): what is left of "幺三八 一二三四 五六七八" can be a 7-digit run that looks like a local
landline. Such a fragment once replaced a caller's real caller id in the callback field and
stayed on the closed ticket, so the rule is:

* a *complete* number — a mobile (11 digits, 1[3-9]…) or a landline with its area code
  (0 + 2-3 digits + 7-8 digits) — may be offered whatever the caller id;
* a bare local number (7-8 digits) may be a fragment: it is offered only when the call has no
  usable caller id (withheld, or not a phone number), because then it is all we have;
* when the caller id is not known to the reader (`caller_id=None`: the desk's draft endpoint,
  whose form already holds the caller id), a bare local number is not offered either.

Digits the recogniser wrote as other words (幺 as 要 or 妖, 五 as 物, 七 as 器, 八 as 把) are read
as digits when they sound like one (kernel/sound_alike.py) and sit among digits; the number
found this way counts only if it is complete and most of its digits were heard as digits
(`MIN_DIGITS_HEARD`), and with less confidence.

Pure text functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asr.chinese_numbers import DIGITS, digit_runs
from kernel.privacy import normalize_number
from kernel.sound_alike import Syllable, syllable_similarity, syllables

_PHONE_CUES = ("电话", "号码", "手机", "联系", "打给", "回电", "打回", "座机")
MOBILE = re.compile(r"1[3-9]\d{9}")
#: 0 + area code (2-3 digits: 10, 539) + subscriber number (7-8 digits, not starting 0/1).
LANDLINE_WITH_AREA_CODE = re.compile(r"0(?:[1-9]\d|[1-9]\d{2})[2-9]\d{6,7}")
LOCAL_NUMBER = re.compile(r"[2-9]\d{6,7}")


def is_complete_number(digits: str) -> bool:
    """A number that can be dialled back as it is: a mobile or a landline with its area code."""
    return bool(MOBILE.fullmatch(digits) or LANDLINE_WITH_AREA_CODE.fullmatch(digits))


@dataclass(frozen=True, slots=True)
class HeardNumber:
    digits: str
    confidence: float
    evidence: str  # the caller's words


#: How each digit is read out on the phone.
DIGIT_READINGS = {"1": "幺一", "2": "二两", "3": "三", "4": "四", "5": "五", "6": "六", "7": "七", "8": "八", "9": "九",
                  "0": "零洞"}
#: A character sounding at least this much like a digit's reading is that digit, among digits
#: (要 ~ 幺, 把 ~ 八, 器 ~ 七: the same syllable in another tone is 0.85).
DIGIT_ALIKE = 0.85
#: Of a number recovered from such characters, at least this many digits were written as digits.
MIN_DIGITS_HEARD = 7
RECOVERED_CONFIDENCE = 0.6


def _digit_syllables() -> list[tuple[str, Syllable]]:
    readings: list[tuple[str, Syllable]] = []
    for digit, characters in DIGIT_READINGS.items():
        for ch in characters:
            syllable = syllables(ch)[0]
            if syllable is not None:
                readings.append((digit, syllable))
    return readings


_READINGS = _digit_syllables()
_SKIPPED = " \u3000-—_,，、.。"


def _heard_digit(ch: str, syllable: Syllable | None) -> tuple[str, bool] | None:
    """(digit, written as a digit) for a character, or None if it is no digit."""
    if ch in DIGITS:
        return DIGITS[ch], True
    if syllable is None:
        return None
    digit, alike = max(((d, syllable_similarity(r, syllable)) for d, r in _READINGS), key=lambda x: x[1])
    return (digit, False) if alike >= DIGIT_ALIKE else None


def recovered_numbers(text: str) -> list[tuple[str, int, int]]:
    """Complete numbers read out among words that sound like digits: (digits, start, end)."""
    heard = syllables(text)
    runs: list[list[tuple[str, bool, int]]] = [[]]
    for i, ch in enumerate(text):
        if ch in _SKIPPED:
            continue
        digit = _heard_digit(ch, heard[i])
        if digit is None:
            runs.append([])
        else:
            runs[-1].append((digit[0], digit[1], i))
    found: list[tuple[str, int, int]] = []
    for run in runs:
        best: tuple[int, int, str, int, int] | None = None  # most digits heard, then longest
        for size in (10, 11, 12):
            for first in range(len(run) - size + 1):
                window = run[first:first + size]
                digits = "".join(d for d, _, _ in window)
                written = sum(1 for _, w, _ in window if w)
                if written < MIN_DIGITS_HEARD or written == size or not is_complete_number(digits):
                    continue
                if best is None or (written, size) > best[:2]:
                    best = (written, size, digits, window[0][2], window[-1][2] + 1)
        if best is not None:
            found.append(best[2:])
    return found


def find_callback_number(text: str, caller_id: str | None = None) -> HeardNumber | None:
    """A callback number read out in `text` (digit by digit: 幺三八…), or None.

    `caller_id` is the number the network gave for the call ("" when withheld), or None when
    the reader does not know it. See the module docstring for when a bare local number counts.
    """
    caller = normalize_number(caller_id) if caller_id is not None else None
    locals_allowed = caller is not None and not is_complete_number(caller)
    candidates: list[tuple[float, str, str]] = []
    for digits, start, end in digit_runs(text):
        cue = any(c in text[max(0, start - 8): start] for c in _PHONE_CUES)
        evidence = text[start:end].strip()
        if MOBILE.fullmatch(digits):
            candidates.append((0.95 if cue else 0.8, digits, evidence))
        elif LANDLINE_WITH_AREA_CODE.fullmatch(digits):
            candidates.append((0.9 if cue else 0.6, digits, evidence))
        elif locals_allowed and LOCAL_NUMBER.fullmatch(digits):
            candidates.append((0.75 if cue else 0.45, digits, evidence))
    if not any(c[0] >= 0.6 for c in candidates):
        for digits, start, end in recovered_numbers(text):
            cue = any(c in text[max(0, start - 8): start] for c in _PHONE_CUES)
            candidates.append((RECOVERED_CONFIDENCE if cue else RECOVERED_CONFIDENCE - 0.1, digits,
                               text[start:end]))
    if not candidates:
        return None
    confidence, digits, evidence = max(candidates, key=lambda c: c[0])  # first of the most certain
    return HeardNumber(digits, confidence, evidence)
