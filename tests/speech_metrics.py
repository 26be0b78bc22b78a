"""Character error rate of Mandarin recognition, for tests and benchmarks (pure, no I/O).

Chinese has no word boundaries the recogniser and the reference agree on (Vosk puts spaces
between its words), so errors are counted per character, after removing punctuation and
spaces. Digits are compared as digits: "12345", "幺二三四五" and "一二三四五" are the same
spoken words; `to_arabic_digits` maps each digit character (幺, 两, 洞...) on both sides, so a
misheard digit still counts as one error.
"""

from __future__ import annotations

import unicodedata

from asr.chinese_numbers import to_arabic_digits


def normalise(text: str) -> str:
    """Letters and digits only (punctuation, spaces and Vosk's [unk] removed), digits arabic."""
    text = text.replace("[unk]", "")
    kept = (ch for ch in text if unicodedata.category(ch)[0] in "LN")
    return to_arabic_digits("".join(kept)).lower()


def edit_distance(reference: str, hypothesis: str) -> int:
    """Levenshtein distance in characters (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_char in enumerate(reference, 1):
        current = [i]
        for j, hyp_char in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ref_char != hyp_char)))
        previous = current
    return previous[-1]


def character_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(errors, reference length) after `normalise`: sum both over a set for its overall CER."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp), len(ref)
