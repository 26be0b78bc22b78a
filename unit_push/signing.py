"""How a push is signed, and how a receiver checks it. Pure: no I/O.

Each push carries `X-Hotline-Timestamp` (Unix seconds) and `X-Hotline-Signature: v1=<hex>`,
the HMAC-SHA256 under the unit's secret of `<timestamp>.<body bytes>`. Signing the timestamp
with the body lets a receiver refuse a replayed push (an old timestamp) as well as a forged one;
the `v1=` prefix leaves room for a second scheme during a key or algorithm change.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Hotline-Timestamp"
SIGNATURE_HEADER = "X-Hotline-Signature"
#: `<unit>:<seq>`: the same event is always the same delivery (a receiver deduplicates by it).
DELIVERY_HEADER = "X-Hotline-Delivery"
EVENT_HEADER = "X-Hotline-Event"
SCHEME = "v1"
#: How far a receiver should accept a timestamp from its own clock.
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify(secret: str, timestamp: str, body: bytes, signed: str, now: float,
           tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """Whether a push is genuine and fresh (what a unit's receiver runs)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent, body), signed)
