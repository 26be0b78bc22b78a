"""What the recogniser wrote -> the caller's words as Chinese is written (pure, no I/O).

Vosk separates its words with spaces ("我 家 住在 兰山区") and writes `[unk]` for sounds it has
no word for; on telephone audio it also makes short "words" of line noise and of the silence
after the caller stops ("你 [unk]", measured on the Mandarin small model at 8 kHz: a 0.06 s
"你" in 30 of 30 trailing silences). Agents read the transcript on the desk, units read it on the
ticket, and the intake rules read it for the draft, so every final and every partial passes
through here before it is stored, published or read:

- `[unk]` is dropped;
- words are joined as Chinese is written: no space between Chinese words, one space only
  between two Latin/digit tokens ("WiFi 6", "G2 高速" keeps "G2" and "高速" apart only if both
  sides are Latin/digit);
- a segment left with nothing, or with only interjection characters each shorter than a
  syllable (`NOISE_WORD_SECONDS`), is noise: `clean_words` returns no words, and the decoder
  keeps no segment for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

UNKNOWN_WORD = "[unk]"
#: Single characters the recogniser writes for breath, clicks and line noise. A real "嗯" or
#: "啊" (an answer, a hesitation) lasts a syllable; noise "words" are far shorter.
INTERJECTIONS = frozenset("你啊嗯呃哦唉诶哎呀嘛吧呢哈")
#: Shorter than any spoken syllable: measured noise words are 0.03-0.07 s, a spoken 嗯 0.2 s+.
NOISE_WORD_SECONDS = 0.12


class TimedWord(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def join_words(words: Iterable[str]) -> str:
    """Recogniser tokens -> text: `[unk]` dropped, spaces only between Latin/digit tokens."""
    text = ""
    for raw in words:
        word = raw.strip()
        if not word or word == UNKNOWN_WORD:
            continue
        if text and _is_latin(text[-1]) and _is_latin(word[0]):
            text += " "
        text += word
    return text


def clean_text(text: str) -> str:
    """A recogniser text without word timings (a partial, Vosk's `text`) as it is shown."""
    return join_words(text.split())


def is_noise_word(word: TimedWord) -> bool:
    """An interjection character shorter than a syllable: breath, a click, line noise."""
    return word.text in INTERJECTIONS and (word.end - word.start) < NOISE_WORD_SECONDS


W = TypeVar("W", bound=TimedWord)


def clean_words(words: Sequence[W]) -> tuple[W, ...]:
    """The words worth keeping; empty when the segment is noise or silence only.

    `[unk]` goes, and so do short interjections at either edge of the segment (the noise
    before and after speech). Inside speech a short "你" may be a clipped real word: the
    transcript keeps what the recogniser heard there rather than guess.
    """
    known = [word for word in words if word.text.strip() and word.text != UNKNOWN_WORD]
    start, end = 0, len(known)
    while start < end and is_noise_word(known[start]):
        start += 1
    while end > start and is_noise_word(known[end - 1]):
        end -= 1
    return tuple(known[start:end])
