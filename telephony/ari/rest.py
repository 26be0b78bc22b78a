"""ARI REST calls over aiohttp, each with a timeout and a typed `AriError` on failure.

One method per Asterisk operation the hotline uses; nothing here knows about calls or
tickets. 404 is common and expected during hang-up races, so callers can ask for it to be
ignored (`missing_ok=True`) instead of catching errors everywhere.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from kernel.errors import AriError, Unavailable, cause_of
from telephony.ari.auth import basic_authorization
from telephony.ari.models import ApplicationState, Bridge, Channel

log = logging.getLogger(__name__)


#: Seconds an idle kept-alive connection is reused: below Asterisk's `session_inactivity`
#: (30 s by default), so the client never sends a request on a connection the server closed.
KEEPALIVE_SECONDS = 10.0


class AriRest:
    def __init__(self, base_url: str, username: str, password: str, app: str,
                 timeout: float = 5.0, connections: int = 32) -> None:
        """`connections` bounds the pool: Asterisk's HTTP server counts each one against its
        `sessionlimit`, shared with the media websockets of live calls (see AriSettings)."""
        self.base_url = base_url.rstrip("/") + "/ari"
        self.app = app
        self.connections = connections
        self._headers = basic_authorization(username, password)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=self.connections,
                                         keepalive_timeout=KEEPALIVE_SECONDS)
        return aiohttp.ClientSession(headers=self._headers, timeout=self._timeout,
                                     connector=connector)

    async def __aenter__(self) -> AriRest:
        self._session = self._new_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, missing_ok: bool = False) -> Any:
        if self._session is None:
            self._session = self._new_session()
        clean = {k: str(v).lower() if isinstance(v, bool) else str(v)
                 for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}{path}"
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        try:
            async with self._session.request(method, url, params=clean, json=json) as response:
                body = await response.text()
                if response.status == 404 and missing_ok:
                    return None
                if response.status >= 400:
                    detail = body.strip()[:200] or "(no body)"
                    raise AriError(f"ARI {method} {path} -> {response.status}: {detail}",
                                   status=response.status, path=path, cause=detail)
                if not body:
                    return None
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # A timeout has no message of its own: say which error, and after how long, so a
            # slow Asterisk (the request may have been carried out) is told from a refusal.
            cause = cause_of(exc)
            waited = loop.time() - sent_at
            raise AriError(f"ARI {method} {path} failed after {waited:.1f}s: {cause}",
                           path=path, cause=cause, waited=round(waited, 3)) from exc

    # --- asterisk / applications ------------------------------------------------------------
    async def ping(self) -> None:
        await self.request("GET", "/asterisk/ping")

    async def application(self) -> ApplicationState:
        return ApplicationState.from_json(await self.request("GET", f"/applications/{self.app}"))

    # --- channels ---------------------------------------------------------------------------
    async def get_channel(self, channel_id: str) -> Channel | None:
        data = await self.request("GET", f"/channels/{channel_id}", missing_ok=True)
        return Channel.from_json(data) if data else None

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", params={"reason": reason},
                           missing_ok=True)

    async def originate(self, endpoint: str, *, channel_id: str, app_args: str = "",
                        caller_id: str | None = None, timeout: float = 30.0) -> Channel:
        """Ring `endpoint`; when it answers, the channel enters our application (StasisStart)."""
        data = await self.request("POST", "/channels", params={
            "endpoint": endpoint, "app": self.app, "appArgs": app_args, "channelId": channel_id,
            "callerId": caller_id, "timeout": round(timeout)})
        return Channel.from_json(data)

    async def start_channel_moh(self, channel_id: str, moh_class: str = "default") -> None:
        await self.request("POST", f"/channels/{channel_id}/moh", params={"mohClass": moh_class})

    async def stop_channel_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/moh", missing_ok=True)

    async def mute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("POST", f"/channels/{channel_id}/mute", params={"direction": direction})

    async def unmute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("DELETE", f"/channels/{channel_id}/mute", params={"direction": direction},
                           missing_ok=True)

    async def play_on_channel(self, channel_id: str, media: str, playback_id: str | None = None) -> str:
        data = await self.request("POST", f"/channels/{channel_id}/play",
                                  params={"media": media, "playbackId": playback_id})
        return str(data["id"])

    async def playback_exists(self, playback_id: str) -> bool:
        """Whether the playback is queued or playing (a finished one is gone)."""
        return await self.request("GET", f"/playbacks/{playback_id}", missing_ok=True) is not None

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a prompt (a channel's control queue waits for its playbacks to finish)."""
        await self.request("DELETE", f"/playbacks/{playback_id}", missing_ok=True)

    async def snoop(self, channel_id: str, *, spy: str, app_args: str, snoop_id: str,
                    whisper: str = "none") -> Channel:
        data = await self.request("POST", f"/channels/{channel_id}/snoop",
                                  params={"app": self.app, "spy": spy, "whisper": whisper,
                                          "appArgs": app_args, "snoopId": snoop_id})
        return Channel.from_json(data)

    async def external_media_websocket(self, *, channel_id: str, format: str = "slin16") -> Channel:
        """A chan_websocket media channel in server mode (Asterisk 22); we connect to it."""
        data = await self.request("POST", "/channels/externalMedia", params={
            "app": self.app, "transport": "websocket", "connection_type": "server",
            "encapsulation": "none", "format": format, "channelId": channel_id,
        })
        return Channel.from_json(data)

    # --- bridges ----------------------------------------------------------------------------
    async def create_bridge(self, bridge_id: str, name: str = "") -> Bridge:
        data = await self.request("POST", f"/bridges/{bridge_id}",
                                  params={"type": "mixing", "name": name or bridge_id})
        return Bridge.from_json(data)

    async def get_bridge(self, bridge_id: str) -> Bridge | None:
        data = await self.request("GET", f"/bridges/{bridge_id}", missing_ok=True)
        return Bridge.from_json(data) if data else None

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", params={"channel": channel_id})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}", missing_ok=True)

    async def play_on_bridge(self, bridge_id: str, media: str, playback_id: str | None = None) -> str:
        data = await self.request("POST", f"/bridges/{bridge_id}/play",
                                  params={"media": media, "playbackId": playback_id})
        return str(data["id"])

    async def start_bridge_moh(self, bridge_id: str, moh_class: str = "default") -> None:
        await self.request("POST", f"/bridges/{bridge_id}/moh", params={"mohClass": moh_class})

    async def stop_bridge_moh(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}/moh", missing_ok=True)

    async def record_bridge(self, bridge_id: str, name: str, format: str = "wav") -> None:
        await self.request("POST", f"/bridges/{bridge_id}/record", params={
            "name": name, "format": format, "ifExists": "fail", "beep": False,
            "terminateOn": "none",
        })

    async def record_channel(self, channel_id: str, name: str, format: str = "wav", *,
                             max_seconds: float = 0) -> None:
        """Record what the channel says (queued behind its playbacks, like every command)."""
        await self.request("POST", f"/channels/{channel_id}/record", params={
            "name": name, "format": format, "ifExists": "overwrite", "beep": False,
            "terminateOn": "none", "maxDurationSeconds": int(max_seconds)})

    # --- recordings -------------------------------------------------------------------------
    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{name}/stop", missing_ok=True)

    async def live_recording(self, name: str) -> dict[str, Any] | None:
        data = await self.request("GET", f"/recordings/live/{name}", missing_ok=True)
        return data if isinstance(data, dict) else None

    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str = "s",
                                   priority: int = 1) -> None:
        """Leave the application: the channel goes on in the dialplan at `context`."""
        await self.request("POST", f"/channels/{channel_id}/continue", params={
            "context": context, "extension": extension, "priority": priority})

async def wait_for_ari(url: str, user: str, password: str, timeout: float) -> None:
    """Raise Unavailable unless ARI answers a ping within `timeout` seconds."""
    try:
        async with aiohttp.ClientSession(headers=basic_authorization(user, password)) as session:
            async with session.get(f"{url}/ari/asterisk/ping",
                                   timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                if response.status != 200:
                    raise Unavailable(f"ARI at {url} answered {response.status}", url=url)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f"ARI at {url} is unreachable: {cause_of(exc)}", url=url) from exc
