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
