"""Evidence files (证明材料) kept by content: the SHA-256 of the bytes is the file's name.

Units attach evidence to return, extension and termination requests and to feedback; the
hotline reviews it. Naming a file by its hash means the evidence a review relied on can never
be swapped afterwards, the same file uploaded twice is stored once, and a ticket event only
needs `sha256:<hex>` to point at it. A file is written to a temporary name and renamed into
place once complete and hashed, so a half-uploaded file is never visible under its hash.

Next to each file a small JSON sidecar remembers who uploaded it first (and, for a unit, which
unit), its original name and its content type, for the access check and the download name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from kernel.errors import InvalidInput, NotFound

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 64 * 1024


class EvidenceTooLarge(InvalidInput):
    code = "evidence_too_large"


@dataclass(frozen=True)
class StoredEvidence:
    sha256: str
    size: int
    name: str
    content_type: str
    uploaded_by: str
    uploader_unit: str | None
    uploaded_at: str

    @property
    def uri(self) -> str:
        return f"sha256:{self.sha256}"


class EvidenceStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self._root = root
        self._max_bytes = max_bytes

    def _path(self, sha256: str) -> Path:
        if not SHA256_HEX.match(sha256):
            raise InvalidInput("not a SHA-256 hex digest", sha256=sha256[:80])
        return self._root / sha256[:2] / sha256

    async def put(self, chunks: AsyncIterator[bytes], *, name: str, content_type: str,
                  uploaded_by: str, uploader_unit: str | None) -> StoredEvidence:
        """Store a stream; nothing is kept when it is empty or exceeds the size limit."""
        self._root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._root, prefix=".upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise EvidenceTooLarge(f"evidence larger than {self._max_bytes} bytes",
                                               limit=self._max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise InvalidInput("empty evidence file", name=name)
            sha256 = digest.hexdigest()
            final = self._path(sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                tmp.unlink()
                return self.get(sha256)  # the same bytes were uploaded before: keep the first
            record = StoredEvidence(sha256=sha256, size=size, name=name[:200],
                                    content_type=content_type[:100], uploaded_by=uploaded_by,
                                    uploader_unit=uploader_unit,
                                    uploaded_at=datetime.now(UTC).isoformat())
            final.with_suffix(".json").write_text(json.dumps(asdict(record), ensure_ascii=False))
            os.replace(tmp, final)
            return record
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, sha256: str) -> StoredEvidence:
        path = self._path(sha256)
        if not path.exists():
            raise NotFound("no such evidence file", sha256=sha256)
        return StoredEvidence(**json.loads(path.with_suffix(".json").read_text()))

    def path_of(self, sha256: str) -> Path:
        self.get(sha256)
        return self._path(sha256)

    def check_reference(self, sha256: str, size: int) -> None:
        """An attachment names stored evidence with its true size (else InvalidInput)."""
        try:
            stored = self.get(sha256)
        except NotFound:
            raise InvalidInput("evidence not uploaded: upload it to /api/evidence first",
                               sha256=sha256) from None
        if stored.size != size:
            raise InvalidInput("evidence size does not match the uploaded file",
                               sha256=sha256, size=size, stored_size=stored.size)
