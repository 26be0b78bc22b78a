"""Structured (JSON-lines) logging with call and ticket context, phone numbers masked.

Fields passed with `extra=` (call_id, ticket_no, agent, caller...) become JSON keys. Any key
named like a phone number field is masked (`138****5678`), and so is every phone number found
in the message, in other text fields and in an exception's text (a driver's error quoting a
value, a message made elsewhere): logs travel further than the database and must not leak
callers' numbers.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from kernel.privacy import mask_phone, redact_numbers

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
PHONE_KEYS = {"caller", "caller_number", "number", "callback_number", "phone"}
#: Libraries whose records below WARNING `hotline run` does not write (the access log would
#: otherwise name every request's path, numbers in it included).
QUIET_LOGGERS = ("websockets", "aiohttp.access", "alembic")



class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_numbers(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if key in PHONE_KEYS and value:
                entry[key] = mask_phone(value)
            else:
                entry[key] = redact_numbers(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact_numbers(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
