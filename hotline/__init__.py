"""Cross-cutting pieces of the 12345 hotline backend: settings, errors, logging, storage, CLI.

The capabilities themselves live in `telephony/`, `asr/`, `tickets/` and `agent_desk/`;
this package only holds what all of them share and the composition root that wires them.
"""
