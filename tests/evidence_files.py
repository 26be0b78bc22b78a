"""Evidence stores for API tests, holding the files the tests attach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from tests.data_keys import TEST_KEYS
from tickets.evidence_store import EvidenceStore


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def evidence_store_with(root: Path, *files: bytes) -> EvidenceStore:
    store = EvidenceStore(root, max_bytes=1024 * 1024, keys=TEST_KEYS)
    for data in files:
        await store.put(_once(data), name="evidence.txt", content_type="text/plain",
                        uploaded_by="test", uploader_unit=None)
    return store
