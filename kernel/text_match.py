"""Character n-grams for Chinese text: the one similarity measure the ticket domain uses.

Chinese has no spaces, and we want no NLP library (no segmenter, no model to ship), so
requests are compared by overlapping character bigrams: "小区停水三天" and "我们小区又停水了"
share 小区, 停水, which is what matters for dispatch suggestions, duplicate detection and
clustering. Pure functions; no I/O.
"""

from __future__ import annotations

import re
import unicodedata

# Keep CJK ideographs, Latin letters and digits; punctuation splits the text into runs.
_SPLIT = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, whitespace removed, punctuation -> " ".

    Whitespace is dropped rather than treated as a separator because Chinese does not use it
    between words, while speech transcripts (Vosk) put a space between every word: "停 水"
    must still match 停水.
    """
    text = _SPACE.sub("", unicodedata.normalize("NFKC", text).lower())
    return _SPLIT.sub(" ", text).strip()


def ngrams(text: str, n: int = 2) -> frozenset[str]:
    """The set of character n-grams of each run of text (n-grams never span punctuation).

    A run shorter than `n` is kept whole so that one-character words still count.
    """
    grams: set[str] = set()
    for run in normalize(text).split(" "):
        if not run:
            continue
        if len(run) < n:
            grams.add(run)
            continue
        grams.update(run[i : i + n] for i in range(len(run) - n + 1))
    return frozenset(grams)


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    """Sørensen-Dice coefficient in [0, 1]; kinder than Jaccard to texts of unequal length."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def containment(small: frozenset[str], large: frozenset[str]) -> float:
    """Share of `small`'s n-grams found in `large` (a short summary inside a long account)."""
    if not small:
        return 0.0
    return len(small & large) / len(small)


def request_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """How much two requests (as bigram sets) say the same thing, in [0, 1].

    The better of Dice and the containment of the shorter in the longer: a caller calling
    back, or a neighbour calling about the same outage, often says less, or says it with
    extra words. Containment is damped for very short texts, which would otherwise be
    "contained" in anything.
    """
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    damped = containment(small, large) * min(1.0, len(small) / 6)
    return max(dice(a, b), damped)


def similarity(a: str, b: str) -> float:
    """`request_similarity` of two texts."""
    return request_similarity(ngrams(a), ngrams(b))
