"""The ARI event stream: a websocket that reconnects by itself.

Why a separate reader: Asterisk drops an ARI websocket whose writes block for more than
`websocket_write_timeout` (100 ms), so this reader only parses JSON and yields; handlers must
hand slow work to tasks. After every (re)connect it yields a synthetic `Connected` event so
the call flow can reconcile what happened while it was away (events are not queued for a
disconnected app, but channels stay in Stasis).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncGenerator
from urllib.parse import urlencode

import websockets
from websockets.asyncio.client import connect

from telephony.ari.auth import basic_authorization
from telephony.ari.models import AriEvent, Connected, parse_event

log = logging.getLogger(__name__)


class AriEventStream:
    def __init__(self, base_url: str, username: str, password: str, app: str, *,
                 backoff_initial: float = 0.2, backoff_max: float = 5.0,
                 open_timeout: float = 5.0, subscribe_all: bool = False) -> None:
        """`subscribe_all` receives every event of the Asterisk (observers, monitoring)."""
        ws_base = base_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        self.url = f"{ws_base}/ari/events?{urlencode({'app': app, 'subscribeAll': str(subscribe_all).lower()})}"
        self._headers = basic_authorization(username, password)
        self.app = app
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        self.connected = asyncio.Event()
        #: Events Asterisk sent that could not be read (skipped, never fatal), and the last one.
        self.malformed = 0
        self.last_malformed_at: float | None = None
        self.last_malformed_error: str | None = None

    def decode(self, message: str | bytes) -> AriEvent | None:
        """One websocket message as an event, or None when it cannot be read: one malformed
        event (a newer Asterisk, a bug) must cost that event, never the call handling."""
        try:
            data = json.loads(message)
            if not isinstance(data, dict):
                raise TypeError(f"an event is a JSON object, not {type(data).__name__}")
            return parse_event(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.malformed += 1
            self.last_malformed_at = time.time()
            self.last_malformed_error = f"{type(exc).__name__}: {exc}"
            log.warning("ARI sent an event that cannot be read; skipped",
                        extra={"size": len(message), "error": self.last_malformed_error})
            return None

    def _backoff(self, attempt: int) -> float:
        delay = float(min(self.backoff_max, self.backoff_initial * (2 ** attempt)))
        return delay * random.uniform(0.8, 1.2)

    async def events(self) -> AsyncGenerator[AriEvent, None]:
        """Yield events forever, reconnecting with exponential back-off."""
        try:
            attempt = 0
            connections = 0
            while True:
                try:
                    async with connect(self.url, additional_headers=self._headers,
                                       open_timeout=self.open_timeout, ping_interval=20,
                                       ping_timeout=20, max_size=2**22) as ws:
                        attempt = 0
                        self.connected.set()
                        log.info("ARI events connected", extra={"app": self.app,
                                                                "reconnect": connections > 0})
                        yield Connected(type="Connected", application=self.app, timestamp=None,
                                        raw={}, reconnect=connections > 0)
                        connections += 1
                        async for message in ws:
                            event = self.decode(message)
                            if event is not None:
                                yield event
                except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                    log.warning("ARI events disconnected", extra={"app": self.app,
                                                                  "error": str(exc) or type(exc).__name__})
                self.connected.clear()
                delay = self._backoff(attempt)
                attempt += 1
                await asyncio.sleep(delay)
        finally:
            # Closed by its reader (a supervised restart): no longer connected either.
            self.connected.clear()
