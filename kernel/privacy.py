"""One rule for callers' numbers and names wherever they leave the trusted core.

Logs, API views for roles that may not see a number, and error messages all mask with these
functions, so a number is never shown three different ways (`138****5678` everywhere).
`normalize_number` makes one key of one caller however the number arrives (+86, 0086, dashes).
Pure: no I/O.
"""

from __future__ import annotations

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
