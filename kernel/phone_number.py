"""One phone-number type for every number that enters the backend or leaves it towards Asterisk.

A number arrives from many edges (the ticket API, the message spool, the ARI channel's caller
id, FastAGI's `agi_callerid`) and some of them end up inside an Asterisk dial string. A string
such as `1/foo@context` or `138,,&PJSIP/evil` in a dial string turns an outbound call into a call
to any channel or dialplan context; so a number is parsed once, at its edge, into this value,
and the dial-string builders (`telephony/dial.py`) accept only this value.

What is a number here: what a real phone in China can send or the hotline needs to dial —
a mobile (11 digits, `1[3-9]...`), a fixed line with its area code (`0539-8100000`), a local
fixed line without one (some trunks drop the area code of local callers), and the special
service numbers the hotline transfers to (110/119/120/122) or meets as callers (the 123xx
government lines). Separators a person types (spaces, `-`) and the country prefix (`+86`,
`0086`) are accepted and dropped. Anything else is refused with `InvalidPhoneNumber`, whose
context names the field and the reason and never the number itself (it may be a citizen's).

Also the shape of a unit directory entry (`directory_target`): a number, or one PJSIP endpoint.

Pure: no I/O. Must never accept a character that is not a digit into `digits`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from kernel.errors import InvalidInput
from kernel.privacy import mask_phone

MAX_LENGTH = 32
#: Caller ids that mean "withheld", as Asterisk and carriers spell them.
WITHHELD = frozenset({"", "anonymous", "unknown", "unavailable", "private", "restricted", "withheld"})
#: Short numbers the hotline dials or meets: emergency lines (110 police, 119 fire, 120
#: ambulance, 122 traffic police) and the 123xx government service lines.
SERVICE_NUMBERS = frozenset({
    "110", "119", "120", "122", "12345", "12315", "12319", "12320", "12328", "12333", "12338",
    "12348", "12350", "12358", "12365", "12366", "12369", "12110",
})

_TYPED = re.compile(r"^\+?[0-9][0-9 \-]*$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
#: Area code 010 / 02x (eight-digit local numbers) or 0[3-9]xx (seven or eight digits); a local
#: number never starts with 0 or 1.
_FIXED_LINE = re.compile(r"^(?:0(?:10|2[0-9])[2-9][0-9]{7}|0[3-9][0-9]{2}[2-9][0-9]{6,7})$")
_LOCAL = re.compile(r"^[2-9][0-9]{6,7}$")
#: A unit directory entry that names one PJSIP endpoint of this Asterisk (a unit's registered
#: softphone): no `@contact`, no options, no other channel technology.
_ENDPOINT_ENTRY = re.compile(r"^PJSIP/[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


class PhoneKind(StrEnum):
    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    LOCAL = "local"
    SERVICE = "service"


class InvalidPhoneNumber(InvalidInput):
    """Not a phone number this hotline can receive or dial. Context: `field`, `reason`."""

    code = "invalid_phone_number"


class InvalidDialTarget(InvalidInput):
    """A unit directory entry that is neither a phone number nor a single PJSIP endpoint."""

    code = "invalid_dial_target"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A validated number in national form, digits only (`13812345678`, `05398100000`, `110`)."""

    digits: str
    kind: PhoneKind

    def __post_init__(self) -> None:
        if kind_of(self.digits) is not self.kind:
            raise InvalidPhoneNumber("not a phone number of this kind", field="number",
                                     reason="kind", kind=str(self.kind))

    @classmethod
    def parse(cls, raw: object, *, field: str = "number") -> PhoneNumber:
        """The number `raw` spells, or `InvalidPhoneNumber` saying which field and why."""
        if not isinstance(raw, str):
            raise InvalidPhoneNumber("a phone number is text", field=field, reason="type")
        text = raw.strip()
        if not text or len(text) > MAX_LENGTH:
            raise InvalidPhoneNumber(f"a phone number has 3 to {MAX_LENGTH} characters",
                                     field=field, reason="length")
        if not _TYPED.fullmatch(text):
            raise InvalidPhoneNumber("a phone number has digits, spaces, '-' and a leading '+' only",
                                     field=field, reason="characters")
        digits = national_digits(text)
        kind = kind_of(digits)
        if kind is None:
            raise InvalidPhoneNumber("not a Chinese mobile, fixed-line or service number",
                                     field=field, reason="shape", masked=mask_phone(digits))
        return cls(digits, kind)

    def __str__(self) -> str:
        return self.digits

    @property
    def masked(self) -> str:
        """The form for logs and restricted views (`138****5678`)."""
        return mask_phone(self.digits)


def national_digits(text: str) -> str:
    """Digits of `text` without separators, in national form: the +86 / 0086 country prefix
    dropped, and the trunk prefix 0 put back on a fixed line written internationally."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        if not digits.startswith("86"):
            return "+" + digits  # another country: "+" never matches a shape
        national = digits[2:]
    elif digits.startswith("0086"):
        national = digits[4:]
    elif len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        return digits[2:]
    else:
        return digits
    return national if _MOBILE.fullmatch(national) or national.startswith("0") else "0" + national


def kind_of(digits: str) -> PhoneKind | None:
    if _MOBILE.fullmatch(digits):
        return PhoneKind.MOBILE
    if digits in SERVICE_NUMBERS:
        return PhoneKind.SERVICE
    if _FIXED_LINE.fullmatch(digits):
        return PhoneKind.FIXED_LINE
    if _LOCAL.fullmatch(digits):
        return PhoneKind.LOCAL
    return None


def optional_number(raw: object, *, field: str) -> PhoneNumber | None:
    """An optional number field of an API body: None or "" stays None, anything else must parse."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return PhoneNumber.parse(raw, field=field)


def validated_digits(raw: object, *, field: str) -> str | None:
    """An optional number field of a request body, as the digits to store. Pydantic validators
    call this in "before" mode (ahead of the field's own length check), and `InvalidPhoneNumber`
    is not a ValueError, so it reaches the HTTP edge typed, whatever the payload."""
    number = optional_number(raw, field=field)
    return number.digits if number is not None else None


def caller_id_digits(raw: str | None) -> str:
    """A caller id as the call path keeps it: the national digits, or "" (withheld, or text
    that is no phone number: it can neither be dialled back nor restrict anyone)."""
    number = caller_id(raw)
    return number.digits if number is not None else ""


def caller_id(raw: str | None) -> PhoneNumber | None:
    """A caller id as a channel reports it: None when withheld or not a number a phone can send.

    Never raises: a call is never refused for its caller id; a caller id that is not a number
    is treated like a withheld one (it identifies nobody, so it must restrict nobody).
    """
    text = (raw or "").strip().strip('"')
    if text.lower() in WITHHELD:
        return None
    try:
        return PhoneNumber.parse(text, field="caller_id")
    except InvalidPhoneNumber:
        return None


def directory_target(entry: str, *, unit: str = "") -> str | PhoneNumber:
    """A unit directory entry checked for its shape: the endpoint (`PJSIP/unit-housing`) as it
    is, or the number. Anything else (`Local/...`, `PJSIP/x@host`, options) is refused."""
    text = entry.strip()
    if _ENDPOINT_ENTRY.fullmatch(text):
        return text
    if "/" in text:
        raise InvalidDialTarget("a directory entry is a phone number or PJSIP/<endpoint>",
                                unit=unit, reason="dial_string")
    return PhoneNumber.parse(text, field="dial")
