"""The one phone-number type and the dial strings built from it (pure)."""

from __future__ import annotations

import pytest

from kernel.errors import InvalidInput
from kernel.phone_number import (
    InvalidDialTarget,
    InvalidPhoneNumber,
    PhoneKind,
    PhoneNumber,
    caller_id,
    directory_target,
    optional_number,
)
from telephony.dial import dial_string, directory_dial, number_dial
from telephony.message_spool import parse_meta
from tests.number_payloads import NUMBER_INJECTIONS

INJECTIONS = [*NUMBER_INJECTIONS, "", "   "]


@pytest.mark.parametrize(("raw", "digits", "kind"), [
    ("13812345678", "13812345678", PhoneKind.MOBILE),
    ("+86 138-1234-5678", "13812345678", PhoneKind.MOBILE),
    ("008613812345678", "13812345678", PhoneKind.MOBILE),
    ("8613812345678", "13812345678", PhoneKind.MOBILE),
    ("0539-8100000", "05398100000", PhoneKind.FIXED_LINE),
    ("010 62345678", "01062345678", PhoneKind.FIXED_LINE),
    ("+86 21 6234 5678", "02162345678", PhoneKind.FIXED_LINE),
    ("8100000", "8100000", PhoneKind.LOCAL),
    ("110", "110", PhoneKind.SERVICE),
    ("12345", "12345", PhoneKind.SERVICE),
])
def test_real_numbers_parse_to_national_digits(raw: str, digits: str, kind: PhoneKind) -> None:
    number = PhoneNumber.parse(raw)
    assert (number.digits, number.kind, str(number)) == (digits, kind, digits)


@pytest.mark.parametrize("raw", [*INJECTIONS, "1001", "12", "999", "0123456", "02112345678901"])
def test_anything_else_is_a_typed_error_naming_the_field_not_the_number(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        PhoneNumber.parse(raw, field="callback_number")
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.context["field"] == "callback_number"
    assert raw.strip() == "" or raw not in repr(caught.value.context)


def test_a_number_cannot_be_built_around_the_parser() -> None:
    with pytest.raises(InvalidPhoneNumber):
        PhoneNumber("1/x@ctx", PhoneKind.MOBILE)


def test_caller_ids_that_identify_nobody_are_none_and_never_raise() -> None:
    assert caller_id("13812345678") == PhoneNumber.parse("13812345678")
    assert [caller_id(raw) for raw in (None, "", "anonymous", '"Unknown"', "1001", "PJSIP/x")] == [None] * 6


def test_optional_fields_keep_none_and_refuse_garbage() -> None:
    assert optional_number(None, field="f") is None and optional_number(" ", field="f") is None
    with pytest.raises(InvalidPhoneNumber):
        optional_number("138/1", field="f")


def test_dial_strings_are_built_from_validated_numbers_only() -> None:
    assert dial_string("PJSIP/{number}@citizens", PhoneNumber.parse("+86 138 1234 5678")) == \
        "PJSIP/13812345678@citizens"
    with pytest.raises(InvalidDialTarget):
        dial_string("PJSIP/{number}@citizens", "13812345678")  # type: ignore[arg-type]
    for raw in INJECTIONS:
        with pytest.raises(InvalidInput):
            number_dial("PJSIP/{number}@citizens", raw, field="caller_number")


def test_directory_entries_are_a_number_or_one_pjsip_endpoint() -> None:
    assert directory_dial("PJSIP/{number}@units", "0539-8100000") == "PJSIP/05398100000@units"
    assert directory_dial("PJSIP/{number}@units", "PJSIP/unit-housing") == "PJSIP/unit-housing"
    assert directory_target("PJSIP/unit_1") == "PJSIP/unit_1"
    for entry in ("Local/1@default", "PJSIP/x@evil", "PJSIP/a&PJSIP/b", "PJSIP/a,30", "IAX2/x", "PJSIP/",
                  "PJSIP/a\nb", "PJSIP/a b"):
        with pytest.raises(InvalidInput):
            directory_dial("PJSIP/{number}@units", entry, unit="city-housing")


def test_a_spooled_message_keeps_a_crafted_caller_id_out_but_is_kept() -> None:
    message = parse_meta("channel_id=pbx1-1.7\ncaller_number=13800138000%2Ffoo%40ctx\n"
                         "started_at=1796000000\nended_at=1796000030\n")
    assert message.channel_id == "pbx1-1.7" and message.caller_number == ""
