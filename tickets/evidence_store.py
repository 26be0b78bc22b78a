"""Evidence files (证明材料) kept by content: the SHA-256 of the bytes is the file's name.

Units attach evidence to return, extension and termination requests and to feedback; the
hotline reviews it. Naming a file by its hash means the evidence a review relied on can never
be swapped afterwards, the same file uploaded twice is stored once, and a ticket event only
needs `sha256:<hex>` to point at it. A file is written to a temporary name and renamed into
place once complete and hashed, so a half-uploaded file is never visible under its hash.

Next to each file a small JSON sidecar remembers who uploaded it first (and, for a unit, which
unit), its original name and its content type, for the access check and the download name.
Each later uploader of the same bytes gets a sidecar of their own (`<sha256>.uploads/`): the
upload answers with *their* record, never the first uploader's (which told a unit that another
unit already held a document, issue 25), and a unit may read what it uploaded itself.

The file is sealed as it is written (kernel/sealed_files.py, AES-256-GCM): no plain copy of a
citizen's documents ever reaches the disk. The sidecar keeps the SHA-256 of the sealed file,
checked before every read serves a byte, and the plaintext's SHA-256 (the name) is checked
again once the file is decrypted whole. A file stored before sealing (no sealed digest) is
checked against its name. A file that fails either check raises `DamagedFile`, never served.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from kernel.errors import DamagedFile, InvalidInput, NotFound
from kernel.sealed_files import DataKeys, SealedFile, SealWriter, check_digest, private_dir

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
    #: The SHA-256 of the sealed file as stored; None for a file stored before sealing.
    sealed_sha256: str | None = None

    @property
    def uri(self) -> str:
        return f"sha256:{self.sha256}"


class EvidenceStore:
    def __init__(self, root: Path, max_bytes: int, keys: DataKeys) -> None:
        self._root = root
        self._max_bytes = max_bytes
        self._keys = keys

    def _path(self, sha256: str) -> Path:
        if not SHA256_HEX.match(sha256):
            raise InvalidInput("not a SHA-256 hex digest", sha256=sha256[:80])
        return self._root / sha256[:2] / sha256

    async def put(self, chunks: AsyncIterator[bytes], *, name: str, content_type: str,
                  uploaded_by: str, uploader_unit: str | None) -> StoredEvidence:
        """Store a stream; nothing is kept when it is empty or exceeds the size limit."""
        private_dir(self._root)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._root, prefix=".upload-")  # 0600
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                sealer = SealWriter(out, self._keys)
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise EvidenceTooLarge(f"evidence larger than {self._max_bytes} bytes",
                                               limit=self._max_bytes)
                    digest.update(chunk)
                    sealer.write(chunk)
                sealed_sha256 = sealer.close()
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise InvalidInput("empty evidence file", name=name)
            sha256 = digest.hexdigest()
            final = self._path(sha256)
            private_dir(final.parent)
            record = StoredEvidence(sha256=sha256, size=size, name=name[:200],
                                    content_type=content_type[:100], uploaded_by=uploaded_by,
                                    uploader_unit=uploader_unit,
                                    uploaded_at=datetime.now(UTC).isoformat(), sealed_sha256=sealed_sha256)
            if final.exists():
                tmp.unlink()
                # The same bytes were uploaded before: the stored file stays; this uploader's
                # own record is kept beside it (their first one, if they uploaded it before).
                first = self.get(sha256)
                mine = replace(record, sealed_sha256=first.sealed_sha256)
                return self._own_record(mine) if (first.uploaded_by, first.uploader_unit) != (
                    uploaded_by, uploader_unit) else first
            _write_json(final.with_suffix(".json"), record)
            os.replace(tmp, final)
            return record
        finally:
            tmp.unlink(missing_ok=True)

    def _uploads_dir(self, sha256: str) -> Path:
        return self._path(sha256).with_suffix(".uploads")

    def _own_record(self, record: StoredEvidence) -> StoredEvidence:
        """A later uploader's record of stored bytes: written once, their earliest kept."""
        key = hashlib.sha256(f"{record.uploader_unit or ''}\0{record.uploaded_by}".encode()).hexdigest()[:32]
        path = private_dir(self._uploads_dir(record.sha256)) / f"{key}.json"
        if path.exists():
            return StoredEvidence(**json.loads(path.read_text(encoding="utf-8")))
        _write_json(path, record)
        return record

    def uploads(self, sha256: str) -> list[StoredEvidence]:
        """Every uploader's record of the file, the first uploader's first."""
        first = self.get(sha256)
        later = sorted(self._uploads_dir(sha256).glob("*.json")) if self._uploads_dir(sha256).is_dir() else []
        return [first, *(StoredEvidence(**json.loads(p.read_text(encoding="utf-8"))) for p in later)]

    def files_of(self, sha256: str) -> list[Path]:
        """What deleting the evidence removes: the file, its sidecar, every uploader's record."""
        path = self.path_of(sha256)
        uploads = self._uploads_dir(sha256)
        return [path, path.with_suffix(".json"), *(sorted(uploads.glob("*.json")) if uploads.is_dir() else [])]

    def get(self, sha256: str) -> StoredEvidence:
        path = self._path(sha256)
        if not path.exists():
            raise NotFound("no such evidence file", sha256=sha256)
        return StoredEvidence(**json.loads(path.with_suffix(".json").read_text()))

    def path_of(self, sha256: str) -> Path:
        self.get(sha256)
        return self._path(sha256)

    def read(self, record: StoredEvidence) -> Iterator[bytes]:
        """The file's bytes, checked: the sealed digest before a byte is decrypted, and the
        plaintext against its name at the end (DamagedFile, never a wrong file)."""
        path = self._path(record.sha256)
        digest = hashlib.sha256()
        if record.sealed_sha256 is None:  # stored before sealing
            data = path.read_bytes()
            digest.update(data)
            blocks: Iterator[bytes] = iter((data,))
        else:
            check_digest(path, record.sealed_sha256)
            with SealedFile(path, self._keys) as sealed:
                plain = sealed.read_all()
            digest.update(plain)
            blocks = (plain[i:i + CHUNK] for i in range(0, len(plain), CHUNK))
        if digest.hexdigest() != record.sha256:
            raise DamagedFile("evidence file failed its check: content differs from its name", file=path.name)
        return blocks

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


def _write_json(path: Path, record: StoredEvidence) -> None:
    """A sidecar, created 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as meta:
        meta.write(json.dumps(asdict(record), ensure_ascii=False))
