"""Files sealed at rest (PIPL, issue 25 item 4): call recordings and evidence, AES-256-GCM.

A recording or an evidence file holds a citizen's voice or documents; a copied disk or backup
must not give them away. A sealed file is

    MAGIC (8 bytes) | header length (2 bytes, big-endian) | header (JSON: version, key id,
    nonce prefix, chunk size) | chunk 0 | chunk 1 | ... | final chunk

where each chunk is up to `CHUNK` bytes of plaintext encrypted with AES-256-GCM (16-byte tag).
Why chunks: a recording is served with HTTP Range (the page seeks), and one chunk is the most
that is decrypted to serve any byte. Each chunk's nonce is the file's random 8-byte prefix and
the chunk's index; its associated data is the whole header, the index and a "final" flag, so a
chunk cannot be moved, a header not swapped, and a file cut at a chunk boundary fails (its last
chunk is not marked final). The plaintext size follows from the file's length.

Keys rotate by id: files are written with the current key, and every key in `DataKeys` still
opens the files sealed with it (`storage.previous_keys`).

Integrity is checked on every read by the SHA-256 of the *sealed* bytes, kept apart from the
file (the `calls` row of a recording, the evidence's sidecar). Why the ciphertext and not the
plaintext: it is checked before a byte is decrypted or served, by hashing the file as stored;
it can be checked without the key (a backup check or an auditor needs no access to the
content); and a plaintext digest kept in the clear would let anyone holding a copy of a
document confirm that the hotline holds it. The GCM tags still authenticate every chunk with
the key, so a file replaced whole with its digest is refused too.

Never does: choose where files live, or read the settings; the callers give paths and keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kernel.errors import ConfigError, DamagedFile

MAGIC = b"HLSEAL1\n"
CHUNK = 64 * 1024
TAG = 16
KEY_BYTES = 32
SEALED_SUFFIX = ".sealed"
_NONCE_PREFIX = 8
_READ = 1024 * 1024


@dataclass(frozen=True)
class DataKeys:
    """The keys of data at rest: the current one writes, every one (current and previous) reads."""

    current_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise ConfigError("storage.data_key_id", "the current key id has no key")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise ConfigError("storage.data_key", f"key {key_id!r} is not {KEY_BYTES} bytes")

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise DamagedFile("sealed with a key this node does not hold (add it to storage.previous_keys)",
                              key_id=key_id) from None


def sealed_path_for(plain: Path) -> Path:
    """Where the sealed copy of `plain` lives (beside it, `.sealed` added)."""
    return plain.with_name(plain.name + SEALED_SUFFIX)


def plain_name(path: Path) -> str:
    """The file's name without the sealing suffix (the download name, the audio type)."""
    return path.name.removesuffix(SEALED_SUFFIX)


def is_sealed(path: Path) -> bool:
    try:
        with path.open("rb") as source:
            return source.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">IB", index, final)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


class SealWriter:
    """Seals a stream as it is written to `out`; `close()` writes the final chunk. The SHA-256
    of every byte written is `digest` once closed."""

    def __init__(self, out: BinaryIO, keys: DataKeys) -> None:
        self._out = out
        self._prefix = secrets.token_bytes(_NONCE_PREFIX)
        self._aes = AESGCM(keys.key(keys.current_id))
        body = json.dumps({"v": 1, "key": keys.current_id, "nonce": self._prefix.hex(), "chunk": CHUNK},
                          separators=(",", ":")).encode()
        self._header = MAGIC + struct.pack(">H", len(body)) + body
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._index = 0
        self.size = 0
        self.digest = ""
        self._emit(self._header)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._hash.update(data)

    def _chunk(self, plain: bytes, final: bool) -> None:
        self._emit(self._aes.encrypt(_nonce(self._prefix, self._index), plain,
                                     _aad(self._header, self._index, final)))
        self._index += 1

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._buffer += data
        # A full chunk is held back until more follows: the last one must be marked final.
        while len(self._buffer) > CHUNK:
            self._chunk(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]

    def close(self) -> str:
        self._chunk(bytes(self._buffer), final=True)
        self._buffer.clear()
        self.digest = self._hash.hexdigest()
        return self.digest


class SealedFile:
    """An open sealed file: its plaintext size and any byte range of it, decrypted chunk by chunk.

    Raises `DamagedFile` (with the file's name, never its content) for a header that does not
    parse, a length no chunk layout gives, or a chunk whose tag fails."""

    def __init__(self, path: Path, keys: DataKeys) -> None:
        self.path = path
        self._source = path.open("rb")
        try:
            self._parse(keys, os.fstat(self._source.fileno()).st_size)
        except BaseException:
            self._source.close()
            raise

    def _damaged(self, why: str) -> DamagedFile:
        return DamagedFile(f"sealed file failed its check: {why}", file=self.path.name)

    def _parse(self, keys: DataKeys, length: int) -> None:
        start = self._source.read(len(MAGIC) + 2)
        if len(start) < len(MAGIC) + 2 or not start.startswith(MAGIC):
            raise self._damaged("not a sealed file")
        (header_length,) = struct.unpack(">H", start[len(MAGIC):])
        body = self._source.read(header_length)
        try:
            header = json.loads(body)
            self._prefix = bytes.fromhex(header["nonce"])
            self._chunk = int(header["chunk"])
            key_id = str(header["key"])
        except (ValueError, KeyError, TypeError):
            raise self._damaged("header unreadable") from None
        if header.get("v") != 1 or len(self._prefix) != _NONCE_PREFIX or not 0 < self._chunk <= 2**24:
            raise self._damaged("header unreadable")
        self._header = start + body
        self._aes = AESGCM(keys.key(key_id))
        self.key_id = key_id
        payload = length - len(self._header)
        if payload < TAG:
            raise self._damaged("truncated")
        self._chunks = math.ceil(payload / (self._chunk + TAG))
        if payload - (self._chunks - 1) * (self._chunk + TAG) < TAG:
            raise self._damaged("truncated")  # a last chunk too short to hold its tag
        self.size = payload - self._chunks * TAG

    def _decrypt(self, index: int) -> bytes:
        self._source.seek(len(self._header) + index * (self._chunk + TAG))
        sealed = self._source.read(self._chunk + TAG)
        try:
            return self._aes.decrypt(_nonce(self._prefix, index), sealed,
                                     _aad(self._header, index, index == self._chunks - 1))
        except InvalidTag:
            raise self._damaged(f"chunk {index} does not authenticate (tampered or truncated)") from None

    def read_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The plaintext bytes [start, end), one decrypted chunk at a time."""
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            if self.size == 0:
                self._decrypt(0)  # an empty file is one final chunk: still authenticated
            return
        for index in range(start // self._chunk, (end - 1) // self._chunk + 1):
            plain = self._decrypt(index)
            base = index * self._chunk
            yield plain[max(0, start - base):end - base]

    def read_all(self) -> bytes:
        return b"".join(self.read_range())

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> SealedFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def file_digest(path: Path) -> str:
    """The SHA-256 of the file as stored (the check every read makes before serving)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_READ):
            digest.update(block)
    return digest.hexdigest()


def check_digest(path: Path, expected: str | None) -> None:
    """Refuse a file whose stored bytes are not the ones sealed (`DamagedFile`)."""
    if expected is None:
        raise DamagedFile("sealed file has no recorded digest", file=path.name)
    if not secrets.compare_digest(file_digest(path), expected):
        raise DamagedFile("sealed file failed its check: digest differs (tampered or truncated)",
                          file=path.name)


def private_dir(path: Path) -> Path:
    """`path` made (with its parents) readable by this process's user alone (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):  # a directory another user owns keeps its mode
        path.chmod(0o700)
    return path


def seal_file(plain: Path, sealed: Path, keys: DataKeys) -> str:
    """Seal `plain` into `sealed` (0600, written under a temporary name, synced, renamed), then
    remove `plain`; return the sealed file's SHA-256. Run again after a crash it finishes the
    job: a sealed file already in place is kept and its digest returned."""
    if sealed.exists() and not plain.exists():
        return file_digest(sealed)
    fd, tmp_name = tempfile.mkstemp(dir=sealed.parent, prefix=".sealing-")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out, plain.open("rb") as source:
            writer = SealWriter(out, keys)
            while block := source.read(_READ):
                writer.write(block)
            digest = writer.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, sealed)
    finally:
        tmp.unlink(missing_ok=True)
    plain.unlink()
    return digest


def decrypt_into(sealed: Path, keys: DataKeys, digest: str | None, folder: Path) -> Path:
    """A checked, decrypted copy of `sealed` in `folder` (0600), for tools that read a file by
    name (the speech decoder). The caller gives a private temporary folder and removes it."""
    check_digest(sealed, digest)
    target = folder / plain_name(sealed)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, SealedFile(sealed, keys) as source:
        for block in source.read_range():
            out.write(block)
    return target
