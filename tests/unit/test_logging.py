import json
import logging

from kernel.log import JsonFormatter, mask_phone


def test_phone_numbers_are_masked() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("110") == "***"


def test_log_lines_are_json_with_context_and_masked_caller() -> None:
    record = logging.LogRecord("telephony", logging.INFO, __file__, 1, "call arrived", None, None)
    record.call_id = "c-1"
    record.caller = "13812345678"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "call arrived"
    assert entry["call_id"] == "c-1"
    assert entry["caller"] == "138****5678"


def test_numbers_inside_messages_errors_and_other_fields_are_masked_too() -> None:
    try:
        raise ValueError("duplicate key (caller_number)=(13812345678) for 0531-88776655")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("tickets", logging.ERROR, __file__, 1, "write of %s failed", ("+86 13912345678",),
                               exc_info)
    record.error = "ticket for 8613712345678 refused"
    record.started_ms = 1765123456789  # not a number of anybody's
    record.channel = "1765123456.42"
    line = JsonFormatter().format(record)
    for number in ("13812345678", "88776655", "13912345678", "13712345678"):
        assert number not in line, line
    entry = json.loads(line)
    assert entry["msg"] == "write of 139****5678 failed"
    assert entry["error"] == "ticket for 137****5678 refused"
    assert "138****5678" in entry["exc"] and "053******6655" in entry["exc"]
    assert entry["started_ms"] == 1765123456789 and entry["channel"] == "1765123456.42"
