"""Text a number field could carry to turn a dial string: Asterisk dial-string metacharacters
(`/`, `@`, `&`, `,`, `(`), channel names, dialplan variables, control characters, and the usual
SQL/HTML/path payloads. Every number edge must refuse each of them."""

from __future__ import annotations

NUMBER_INJECTIONS = [
    "13812345678/foo", "PJSIP/evil@trunk", "Local/1@default", "138@citizens", "138,,g", "110&PJSIP/x",
    "110(x)", "138 1234 5678 ;", "1381234567\n8", "${SHELL}", "13812345678'", "'; DROP TABLE tickets;--",
    "<script>", "../../etc/passwd", "１３８１２３４５６７８", "+1 202 555 0100", "1" * 40,
]
