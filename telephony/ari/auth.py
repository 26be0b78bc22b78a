"""The one way we authenticate to Asterisk's HTTP server (ARI REST, events and media sockets)."""

from __future__ import annotations

import base64


def basic_authorization(username: str, password: str) -> dict[str, str]:
    """HTTP Basic `Authorization` header for ARI users from ari.conf."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
