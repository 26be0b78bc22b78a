"""HTTP API of evidence files (证明材料), an aiohttp route table.

    POST /api/evidence              multipart/form-data with one part `file`: store it
    GET  /api/evidence/{sha256}     the file (its metadata with ?meta=1)

Upload first, then name the file in a command's `attachments` by the `sha256` and `size` the
upload answered: the ticket API refuses an attachment whose file was never uploaded, so a
reviewed request never points at evidence that does not exist. Hotline staff may read every
file; a unit reads the files it uploaded itself (`kernel.access_policy`, `Read.EVIDENCE`); each
read, of the file or its metadata, writes one row to the access audit, refusals too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from kernel import auth
from kernel.access_policy import Decision, Read, Subject, decide
from kernel.audit import audit_read, reader_of
from kernel.errors import DamagedFile, InvalidInput, NotFound
from kernel.openapi import Operation
from kernel.roles import EVIDENCE_UPLOADERS
from tickets.evidence_store import CHUNK, EvidenceStore, StoredEvidence

EVIDENCE_STORE = web.AppKey("evidence_store", EvidenceStore)
UPLOAD_ROLES = EVIDENCE_UPLOADERS

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


def _json(record: StoredEvidence) -> dict[str, object]:
    return {**asdict(record), "uri": record.uri,
            "attachment": {"name": record.name, "sha256": record.sha256, "size": record.size}}


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


@routes.post("/api/evidence")
async def upload(request: web.Request) -> web.Response:
    principal = auth.require(request, UPLOAD_ROLES)
    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("upload evidence as multipart/form-data with a part named 'file'")
    reader = await request.multipart()
    async for part in reader:
        if isinstance(part, BodyPartReader) and part.name == "file":
            record = await request.app[EVIDENCE_STORE].put(
                _chunks(part), name=part.filename or "evidence",
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                uploaded_by=principal.user, uploader_unit=principal.unit)
            return web.json_response(_json(record), status=201)
    raise InvalidInput("no part named 'file' in the upload")


@routes.get("/api/evidence/{sha256}")
async def download(request: web.Request) -> web.StreamResponse:
    principal = auth.require(request, UPLOAD_ROLES)
    store = request.app[EVIDENCE_STORE]
    uploads = store.uploads(request.match_info["sha256"])
    # A unit reads what it uploaded itself, also bytes another unit uploaded first; it sees its
    # own upload's name and metadata, never another uploader's. Hotline staff see the first.
    own = [r for r in uploads if (r.uploaded_by, r.uploader_unit) == (principal.user, principal.unit)]
    record = own[0] if own else uploads[0]
    meta = bool(request.query.get("meta"))
    subject = Subject(units=frozenset(r.uploader_unit for r in uploads if r.uploader_unit))
    decision = decide(reader_of(principal), Read.EVIDENCE, subject)
    detail = f"evidence {record.sha256[:16]} {'metadata' if meta else 'file'}"
    blocks: Iterator[bytes] = iter(())
    if decision.allowed and not meta:
        try:
            # Checked whole before a byte is sent (evidence is at most `evidence.max_bytes`).
            blocks = await asyncio.to_thread(store.read, record)
        except DamagedFile as exc:
            # Never served; the read's one audit row says so, the log names the file only.
            log.error("evidence refused: it failed its integrity check",
                      extra={"evidence": record.sha256[:16], "error": exc.message})
            await audit_read(request, principal, Decision(
                False, "the stored file failed its integrity check", decision.kind), detail=detail)
            raise DamagedFile("this evidence file failed its integrity check and is not served",
                              sha256=record.sha256) from None
    await audit_read(request, principal, decision, detail=detail)
    if not decision.allowed:
        raise NotFound("no such evidence file", sha256=record.sha256)  # do not confirm it exists
    if meta:
        return web.json_response(_json(record))
    # Always an opaque download, whatever type the uploader claimed: an "evidence" file that is
    # really HTML or SVG must never render, nor run script, on the hotline's own origin. The
    # claimed type is in the metadata (`?meta=1`); `nosniff` is on every response.
    response = web.StreamResponse(headers={
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(record.name)}",
        "Content-Length": str(record.size),
        "Cache-Control": "private, no-store"})
    await response.prepare(request)
    if request.method != "HEAD":
        for block in blocks:
            await response.write(block)
    await response.write_eof()
    return response


def _quote(name: str) -> str:
    return quote(name, safe="")


def operations() -> list[Operation]:
    return [
        Operation("post", "/api/evidence",
                  "Upload an evidence file (multipart/form-data, one part named `file`)",
                  UPLOAD_ROLES, success=201),
        Operation("get", "/api/evidence/{sha256}", "An evidence file (`?meta=1`: its metadata)",
                  UPLOAD_ROLES, note="hotline staff every file, a unit its own uploads",
                  query=(("meta", "string"),), content_type="application/octet-stream"),
    ]
