"""Serving a recording, sealed or not, with HTTP Range (the page's <audio> seeks).

A sealed recording (kernel/sealed_files.py) is checked against the digest the call row keeps
before a byte leaves, then decrypted chunk by chunk for the range asked; nothing decrypted is
written to disk. A recording stored before sealing existed is served as it is (FileResponse).
One range per request: a multi-range request gets the whole file (RFC 9110 lets a server
ignore Range), a range past the end 416 with the size.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

from kernel.sealed_files import DataKeys, SealedFile, check_digest, is_sealed, plain_name

#: What browsers play: the recordings are PCM WAV files (`call_flow.recording_format`).
AUDIO_TYPES = {".wav": "audio/wav", ".ogg": "audio/ogg", ".mp3": "audio/mpeg", ".gsm": "audio/x-gsm"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def audio_type(path: Path) -> str:
    return AUDIO_TYPES.get(Path(plain_name(path)).suffix.lower(), "application/octet-stream")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `Range: bytes=...` header; None: serve the whole file.
    Raises HTTPRequestRangeNotSatisfiable for a range that starts past the end."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        return max(0, size - suffix), size
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, end


async def check_sealed(path: Path, digest: str | None) -> bool:
    """Whether `path` is sealed; a sealed file whose stored bytes differ from `digest` raises
    DamagedFile (hashed in a thread: a long call's file is tens of megabytes)."""
    if not is_sealed(path):
        return False
    await asyncio.to_thread(check_digest, path, digest)
    return True


async def serve_sealed(request: web.Request, path: Path, keys: DataKeys,
                       headers: dict[str, str]) -> web.StreamResponse:
    """The decrypted recording, whole or the range asked (206)."""
    with SealedFile(path, keys) as sealed:
        size = sealed.size
        asked = byte_range(request.headers.get("Range", ""), size)
        start, end = asked or (0, size)
        response = web.StreamResponse(status=206 if asked else 200, headers={
            **headers, "Accept-Ranges": "bytes", "Content-Length": str(end - start)})
        if asked:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        await response.prepare(request)
        if request.method != "HEAD":
            for block in sealed.read_range(start, end):
                await response.write(block)
        await response.write_eof()
        return response
