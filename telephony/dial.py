"""Asterisk dial strings, built only from validated numbers or directory entries of one shape.

A dial string is an instruction to Asterisk: `PJSIP/x@ctx`, `Local/x@ctx`, `&` (ring several),
`,` / `(` (options) each change where a call goes. So nothing from a ticket is ever pasted
into one: outbound calls (survey and desk callbacks, the confidential relay) dial a
`PhoneNumber` through an operator's template (settings), and three-way calls dial a unit
directory entry that is either a number or a single PJSIP endpoint (`PJSIP/unit-housing`),
never a contact, context, channel technology or option list of the entry's choosing.

Pure: no I/O. Must never return a string built from unchecked text.
"""

from __future__ import annotations

from kernel.phone_number import InvalidDialTarget, PhoneNumber, directory_target


def dial_string(template: str, number: PhoneNumber) -> str:
    """The operator's template (`PJSIP/{number}@citizens`) with a validated number in it."""
    if not isinstance(number, PhoneNumber):  # the type is the guarantee: refuse plain text
        raise InvalidDialTarget("only a validated phone number is dialled", reason="type")
    return template.format(number=number.digits)


def number_dial(template: str, raw: str, *, field: str) -> str:
    """The dial string of a number kept as text (a ticket's, a task's): parsed again here,
    because rows written before numbers were validated at the edge may hold anything."""
    return dial_string(template, PhoneNumber.parse(raw, field=field))


def directory_dial(template: str, entry: str, *, unit: str = "") -> str:
    """The dial string of a unit directory entry (`directory_target`)."""
    target = directory_target(entry, unit=unit)
    return target if isinstance(target, str) else dial_string(template, target)
