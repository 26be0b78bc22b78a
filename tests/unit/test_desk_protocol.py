"""The desk protocol refuses bad messages with typed errors and accepts the documented ones."""

from __future__ import annotations

import json

import pytest

from agent_desk.protocol import (
    CLIENT_TYPES,
    ERROR_CODES,
    MAX_MESSAGE_BYTES,
    DeskProtocolError,
    Hold,
    SetStatus,
    WrapUp,
    parse_client_message,
    protocol_schema,
)


def code_of(raw: str | bytes) -> str:
    with pytest.raises(DeskProtocolError) as caught:
        parse_client_message(raw)
    assert caught.value.code in ERROR_CODES
    return caught.value.code


def test_documented_messages_parse() -> None:
    assert parse_client_message('{"type": "agent.set_status", "status": "available"}') == SetStatus(
        type="agent.set_status", status="available")
    hold = parse_client_message('{"type": "call.hold", "call_id": "c1", "on": true, "ref": "r9"}')
    assert isinstance(hold, Hold) and hold.on and hold.ref == "r9"
    wrap = parse_client_message('{"type": "call.wrap_up", "call_id": "c1", "harassment": true}')
    assert isinstance(wrap, WrapUp) and wrap.harassment and not wrap.no_new_content


@pytest.mark.parametrize(("raw", "code"), [
    ("not json", "malformed"),
    ("[1, 2]", "malformed"),
    (b"\xff\xfe", "malformed"),
    ('{"type": "call.steal", "call_id": "x"}', "unknown_type"),
    ('{"status": "available"}', "unknown_type"),
    ('{"type": "agent.set_status", "status": "asleep"}', "invalid"),
    ('{"type": "agent.set_status", "status": "break"}', "invalid"),
    ('{"type": "call.hold", "call_id": "c1"}', "invalid"),
    ('{"type": "call.hangup", "call_id": "c1", "extra": 1}', "invalid"),
    ('{"type": "call.hangup", "call_id": ""}', "invalid"),
])
def test_bad_messages_get_typed_errors(raw: str | bytes, code: str) -> None:
    assert code_of(raw) == code


@pytest.mark.parametrize("raw", [
    '{"type": "ping", "ref": "\\ud800"}',  # a lone surrogate: valid JSON, no text (the ref is echoed)
    '{"type": "\\udfff"}',  # the unknown type is echoed in the error's message
    '{"type": "call.hangup", "call_id": "c\\ud83d"}',
    "[" * 8_000 + "]" * 8_000,  # nesting beyond the parser's recursion limit, within the size cap
], ids=["lone-surrogate-ref", "lone-surrogate-type", "lone-surrogate-field", "deep-nesting"])
def test_json_that_holds_no_text_or_nests_too_deep_is_malformed(raw: str) -> None:
    assert len(raw) <= MAX_MESSAGE_BYTES
    assert code_of(raw) == "malformed"


def test_an_escaped_surrogate_pair_is_text() -> None:
    assert parse_client_message('{"type": "ping", "ref": "\\ud83d\\ude42"}').ref == "\U0001f642"


def test_oversized_messages_are_refused_before_parsing() -> None:
    big = json.dumps({"type": "call.wrap_up", "call_id": "c1", "note": "x" * MAX_MESSAGE_BYTES})
    assert code_of(big) == "too_large"


def test_an_error_echoes_the_ref_of_the_message_it_refuses() -> None:
    with pytest.raises(DeskProtocolError) as caught:
        parse_client_message('{"type": "call.hold", "call_id": "c1", "ref": "r42"}')
    assert caught.value.to_message() == {"type": "error", "code": "invalid",
                                         "message": caught.value.message, "ref": "r42"}


def test_the_schema_lists_every_client_message() -> None:
    schema = protocol_schema()
    listed = json.dumps(schema["client_messages"])
    assert schema["version"] == 1
    for kind in CLIENT_TYPES:
        assert kind in listed


def test_three_way_transfer_and_leave_messages_parse() -> None:
    from agent_desk.protocol import Leave, ThreeWay, Transfer

    assert isinstance(parse_client_message('{"type": "call.three_way", "call_id": "c", "unit": "city-housing"}'),
                      ThreeWay)
    transfer = parse_client_message('{"type": "call.transfer", "call_id": "c", "line": "119"}')
    assert isinstance(transfer, Transfer) and not transfer.warm
    assert isinstance(parse_client_message('{"type": "call.leave", "call_id": "c"}'), Leave)
    assert code_of('{"type": "call.transfer", "call_id": "c", "line": "12345"}') == "invalid"
