"""One rule for callers' numbers and names wherever they leave the trusted core.

Logs, API views for roles that may not see a number, and error messages all mask with these
functions, so a number is never shown three different ways (`138****5678` everywhere).
`normalize_number` makes one key of one caller however the number arrives (+86, 0086, dashes).
Pure: no I/O.
"""

from __future__ import annotations

import re

_KEEP_HEAD = 3
_KEEP_TAIL = 4


def normalize_number(number: str | None) -> str:
    """Digits only, without the +86 / 0086 country prefix: "+86 138-1234-5678" -> "13812345678"."""
    if not number:
        return ""
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits.startswith("0086") and len(digits) > 4:
        return digits[4:]
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits


def mask_phone(number: object) -> str:
    """`13812345678` -> `138****5678`; numbers shorter than 8 characters are masked whole.

    Accepts any value (log fields may hold ints); None and "" give "".
    """
    if number is None:
        return ""
    text = str(number).strip()
    if len(text) <= _KEEP_HEAD + _KEEP_TAIL:
        return "*" * len(text)
    return f"{text[:_KEEP_HEAD]}{'*' * (len(text) - _KEEP_HEAD - _KEEP_TAIL)}{text[-_KEEP_TAIL:]}"


def mask_name(name: str | None) -> str:
    """`张三丰` -> `张**`: the family name only, for views that must not identify the caller."""
    if not name:
        return ""
    text = name.strip()
    return text[:1] + "*" * (len(text) - 1)


#: Phone numbers inside free text: an 11-digit mobile (1[3-9]...), optionally +86/0086/86
#: before it, or a fixed line with its area code (0 + 2-3 digits, a dash or not, 7-8 digits).
#: Runs of digits longer than these (timestamps in ms, ids) are left alone.
_NUMBER_IN_TEXT = re.compile(
    r"(?<![\d])(?:(?:\+|00)?86[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?![\d])")


def redact_numbers(text: str) -> str:
    """Every phone number inside `text` masked as `mask_phone` does: for text nobody chose to
    hold a number (an exception's message, a log line made elsewhere), where a field-by-field
    rule cannot reach."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask_phone(m.group(1)), text)
