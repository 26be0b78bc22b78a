"""When a call's set-up is tried again after an ARI request failed or timed out.

A failed request does not mean Asterisk did nothing: a request that timed out under load was
often carried out a moment later (issue 26). So the call flow never simply repeats a step: it
waits, re-reads the channel's real state, and each step checks what Asterisk already did
(the bridge exists, the channel is in it, the greeting plays) before asking again. This module
only says how long to wait and when to say so loudly; it does no I/O.

There is no last attempt: the caller is answered and recorded by the dialplan already, so the
set-up (bridge, greeting, queue) is tried for as long as the caller stays on the line. Giving
up would leave a recorded caller in silence with no way to an agent.
"""

from __future__ import annotations

#: Waits before the 1st, 2nd... retry; the last one repeats. Short first (a single lost
#: request), then no faster than one attempt in 4 s per call (an overloaded Asterisk must not
#: be hammered by the very calls it is late with).
DELAYS_SECONDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)

#: From this retry on, the failure is logged as an error: not a hiccup any more.
PERSISTENT_AFTER = len(DELAYS_SECONDS)


def delay_before(retry: int) -> float:
    """Seconds to wait before retry number `retry` (1 for the first)."""
    if retry < 1:
        raise ValueError(f"retries count from 1, got {retry}")
    return DELAYS_SECONDS[min(retry, len(DELAYS_SECONDS)) - 1]


def persistent(retry: int) -> bool:
    """Whether the set-up has failed often enough that an operator should look."""
    return retry >= PERSISTENT_AFTER
