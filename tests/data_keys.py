"""Keys that seal recordings and evidence in tests (kernel/sealed_files.py): fresh per test run."""

from __future__ import annotations

import secrets

from kernel.sealed_files import KEY_BYTES, DataKeys


def fresh_keys(key_id: str = "test1") -> DataKeys:
    return DataKeys(key_id, {key_id: secrets.token_bytes(KEY_BYTES)})


TEST_KEYS = fresh_keys()
