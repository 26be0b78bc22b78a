"""How alike two Mandarin words sound, syllable by syllable: to read what the recogniser meant.

Why: the small Mandarin model has no word for most of the city's places (兰山区, 罗庄区,
郯城县 are not in its vocabulary), so it writes other words that sound alike: 兰山区 comes back
as 莱山区 or 文山区, 河东区 as 和东西, 罗庄区 as 多争取, 街道 as 接到 (measured on neural
phone-band speech: bench/bench_intake.py --audio). Comparing characters finds none of these;
comparing sounds finds most.

A syllable is its initial, its final and its tone. Two syllables are alike by articulation (l/d/n/t
are made at the same place, an/ang differ only by the nasal ending) and by the confusions the
model was measured to make (l heard as w, zh as j, q as x, u as i, e as en...); the tone counts
a little: the words the model writes for a name it does not know mostly keep its tones (兰山区
lan2 shan1 qu1 -> 莱山区 lai2 shan1 qu1, 河东区 -> 和东西 he2 dong1 xi1). The scores are in 0..1;
1 is the same sound.

Pure functions over text; pypinyin gives each character its reading in its word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, pinyin


@dataclass(frozen=True, slots=True)
class Syllable:
    initial: str  # "" for a syllable that starts with its vowel (y/w are glides of the final)
    final: str  # pypinyin's strict final: "v" is ü, "uei" not "ui"
    tone: int = 0  # 1-4, 5 for the neutral tone, 0 when unknown

    def __str__(self) -> str:
        return f"{self.initial}{self.final}{self.tone or ''}"

    def sounds_as(self, other: Syllable) -> bool:
        """The same syllable whatever the tone (a homophone but for the tone)."""
        return self.initial == other.initial and self.final == other.final


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def syllables(text: str) -> list[Syllable | None]:
    """One syllable per character of `text` (None for anything that is not a Chinese character).

    Readings come from whole runs of characters, so a character reads as it does in its word
    (行 in 银行 is háng).
    """
    result: list[Syllable | None] = []
    run_start = 0
    for i in range(len(text) + 1):
        if i < len(text) and _is_han(text[i]):
            continue
        if run_start < i:
            result += _run_syllables(text[run_start:i])
        if i < len(text):
            result.append(None)
        run_start = i + 1
    return result


@lru_cache(maxsize=4096)
def _run_syllables(run: str) -> tuple[Syllable, ...]:
    initials = pinyin(run, style=Style.INITIALS, strict=True, errors="default")
    finals = pinyin(run, style=Style.FINALS, strict=True, errors="default")
    toned = pinyin(run, style=Style.TONE3, strict=True, neutral_tone_with_five=True, errors="default")
    unread = len(toned) != len(run) or any(t[0] == ch for t, ch in zip(toned, run, strict=True))
    if unread or not len(initials) == len(finals) == len(run):
        # a character pypinyin has no reading for: it sounds like nothing else
        return tuple(_run_syllables(ch)[0] if len(run) > 1 else Syllable("", ch) for ch in run)
    return tuple(Syllable(i[0], f[0], int(t[0][-1]) if t[0][-1:].isdigit() else 0)
                 for i, f, t in zip(initials, finals, toned, strict=True))


# ---------------------------------------------------------------- initials

#: Initials made at the same place of the mouth: the recogniser swaps them most.
_INITIAL_CLASSES = ("bpmf", "dtnl", "gkh", "jqx", "zh ch sh r", "z c s")
#: Pairs across those classes that the model confuses (measured on place names and requests),
#: or that many speakers merge (z/zh, c/ch, s/sh; f/h; l/r).
_NEAR_INITIALS = (("z", "zh"), ("c", "ch"), ("s", "sh"), ("j", "zh"), ("q", "ch"), ("x", "sh"), ("q", "x"),
                  ("f", "h"), ("h", "x"), ("l", "r"), ("r", "y"), ("l", "w"), ("n", "m"), ("l", "m"), ("b", "d"),
                  ("l", "zh"), ("l", ""), ("", "r"))
SAME_CLASS_INITIAL = 0.6
NEAR_INITIAL = 0.5


def _initial_classes() -> dict[str, int]:
    classes: dict[str, int] = {}
    for number, members in enumerate(_INITIAL_CLASSES):
        for initial in members.split() if " " in members else members:
            classes[initial] = number
    return classes


_CLASS = _initial_classes()
_NEAR = frozenset(_NEAR_INITIALS) | frozenset((b, a) for a, b in _NEAR_INITIALS)


def initial_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if (a, b) in _NEAR:
        return NEAR_INITIAL
    if a in _CLASS and _CLASS.get(a) == _CLASS.get(b):
        return SAME_CLASS_INITIAL
    return 0.0


# ---------------------------------------------------------------- finals

#: Each final as (medial, vowel, ending): ian is i+a+n, uang is u+a+ng, ong is o+ng.
_FINAL_PARTS: dict[str, tuple[str, str, str]] = {
    "a": ("", "a", ""), "o": ("", "o", ""), "e": ("", "e", ""), "i": ("", "i", ""), "u": ("", "u", ""),
    "v": ("", "v", ""), "ai": ("", "a", "i"), "ei": ("", "e", "i"), "ao": ("", "a", "u"), "ou": ("", "o", "u"),
    "an": ("", "a", "n"), "en": ("", "e", "n"), "ang": ("", "a", "ng"), "eng": ("", "e", "ng"),
    "ong": ("", "o", "ng"), "er": ("", "e", "r"), "ia": ("i", "a", ""), "ie": ("i", "e", ""),
    "iao": ("i", "a", "u"), "iou": ("i", "o", "u"), "ian": ("i", "a", "n"), "in": ("", "i", "n"),
    "iang": ("i", "a", "ng"), "ing": ("", "i", "ng"), "iong": ("i", "o", "ng"), "ua": ("u", "a", ""),
    "uo": ("u", "o", ""), "uai": ("u", "a", "i"), "uei": ("u", "e", "i"), "uan": ("u", "a", "n"),
    "uen": ("u", "e", "n"), "uang": ("u", "a", "ng"), "ueng": ("u", "e", "ng"), "ve": ("v", "e", ""),
    "van": ("v", "a", "n"), "vn": ("", "v", "n"), "": ("", "", ""),
}
_NEAR_VOWELS = {("a", "e"): 0.5, ("e", "o"): 0.6, ("i", "v"): 0.6, ("u", "v"): 0.6, ("u", "o"): 0.6,
                ("i", "e"): 0.4, ("u", "i"): 0.5, ("u", "e"): 0.4}
_NEAR_ENDINGS = {("n", "ng"): 0.7, ("", "n"): 0.4, ("", "ng"): 0.3, ("", "i"): 0.4, ("", "u"): 0.4,
                 ("", "r"): 0.6, ("i", "n"): 0.2}
_NEAR_MEDIALS = {("", "i"): 0.5, ("", "u"): 0.5, ("i", "v"): 0.5, ("u", "v"): 0.5, ("", "v"): 0.4}


def _pair(table: dict[tuple[str, str], float], a: str, b: str) -> float:
    if a == b:
        return 1.0
    return table.get((a, b)) or table.get((b, a)) or 0.0


def final_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    ma, va, ea = _FINAL_PARTS.get(a, ("", a, ""))
    mb, vb, eb = _FINAL_PARTS.get(b, ("", b, ""))
    return (0.2 * _pair(_NEAR_MEDIALS, ma, mb) + 0.5 * _pair(_NEAR_VOWELS, va, vb)
            + 0.3 * _pair(_NEAR_ENDINGS, ea, eb))


# ---------------------------------------------------------------- syllables and words

#: The vowel carries more of a syllable than its onset, and both more than its tone.
INITIAL_WEIGHT = 0.35
FINAL_WEIGHT = 0.5
TONE_WEIGHT = 0.15


def tone_similarity(a: int, b: int) -> float:
    if a == b:
        return 1.0
    return 0.5 if 0 in (a, b) or 5 in (a, b) else 0.0


@lru_cache(maxsize=65536)
def syllable_similarity(a: Syllable, b: Syllable) -> float:
    if a == b:
        return 1.0
    return (INITIAL_WEIGHT * initial_similarity(a.initial, b.initial)
            + FINAL_WEIGHT * final_similarity(a.final, b.final)
            + TONE_WEIGHT * tone_similarity(a.tone, b.tone))


def similarity(word: Sequence[Syllable], heard: Sequence[Syllable | None]) -> tuple[float, float]:
    """(mean, lowest) syllable similarity of two equally long syllable sequences."""
    if len(word) != len(heard) or not word:
        return 0.0, 0.0
    scores = [0.0 if h is None else syllable_similarity(w, h) for w, h in zip(word, heard, strict=True)]
    return sum(scores) / len(scores), min(scores)


#: A word of three syllables or more is heard in a span this alike on average, no syllable
#: below MIN_WORD_SYLLABLE and all but one the same syllable whatever the tone; a two-syllable
#: word only as the very same syllables and tones (two syllables alike by chance are
#: everywhere: 大人 ~ 打人 but for the tone).
MIN_WORD = 0.85
MIN_WORD_SYLLABLE = 0.7


def heard_as(text: str, words: Sequence[str]) -> str | None:
    """The first of `words` that a span of `text` sounds like (see MIN_WORD), or None.

    For words that matter whatever characters the recogniser chose for them: 没气味 is what it
    wrote for 煤气味, 人气味 for 燃气味.
    """
    heard = heard_among(text, words)
    return next((word for word in words if word in heard), None)


def heard_among(text: str, words: Sequence[str]) -> frozenset[str]:
    """Every one of `words` that a span of `text` sounds like (see MIN_WORD).

    Fast enough for every suggestion of a catalogue of hundreds of words: a span can only be
    a word if all its syllables but one are the word's whatever the tone, so spans are found
    from where the word's syllables occur in the text, and only those are scored.
    """
    heard = syllables("".join(text.split()))
    where: dict[tuple[str, str], list[int]] = {}
    for i, syllable in enumerate(heard):
        if syllable is not None:
            where.setdefault((syllable.initial, syllable.final), []).append(i)
    found: set[str] = set()
    for word in words:
        said = _word_syllables(word)
        if said is None:
            continue
        needed = len(said) - (1 if len(said) > 2 else 0)
        hits: dict[int, int] = {}
        for offset, syllable in enumerate(said):
            for i in where.get((syllable.initial, syllable.final), ()):
                hits[i - offset] = hits.get(i - offset, 0) + 1
        for start, count in hits.items():
            if count < needed or start < 0 or start + len(said) > len(heard):
                continue
            window = heard[start:start + len(said)]
            if any(h is None for h in window):
                continue
            scores = [syllable_similarity(w, h) for w, h in zip(said, window, strict=True) if h is not None]
            if min(scores) == 1.0 or (len(said) > 2 and sum(scores) / len(scores) >= MIN_WORD
                                      and min(scores) >= MIN_WORD_SYLLABLE):
                found.add(word)
                break
    return frozenset(found)


@lru_cache(maxsize=8192)
def _word_syllables(word: str) -> tuple[Syllable, ...] | None:
    """A word's syllables, if it has two or more and all are Chinese characters."""
    said = syllables(word)
    if len(said) < 2 or any(s is None for s in said):
        return None
    return tuple(s for s in said if s is not None)
