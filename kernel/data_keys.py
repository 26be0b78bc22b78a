"""The keys that seal data at rest, from `[storage]` (kernel/settings.py StorageSettings).

The current key is `storage.data_key` (base64), else the one kept in `storage.data_key_file`;
a missing file is made (0600) only when `storage.generate_key` is on (a development machine,
the tests). Otherwise start-up stops with a ConfigError naming `storage.data_key`, as it stops
on a known ARI password: encryption with a key nobody chose, kept beside the data, protects
nothing, and a key nobody knows was made is a key nobody backs up.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from kernel.errors import ConfigError
from kernel.sealed_files import KEY_BYTES, DataKeys
from kernel.settings import StorageSettings


def new_key() -> str:
    """A fresh key, as `storage.data_key` takes it."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def _decode(text: str, setting: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(setting, "not base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(setting, f"a key is {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return key


def _key_file(path: Path, generate: bool) -> bytes:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        if not generate:
            raise ConfigError("storage.data_key", "no key: set HOTLINE_STORAGE_DATA_KEY (`hotline data-key new` "
                              f"prints one) or put it in {path} (0600)") from None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return _key_file(path, generate=False)
        with os.fdopen(fd, "w") as out:
            out.write(new_key() + "\n")
        return _key_file(path, generate=False)
    if mode & 0o077:
        raise ConfigError("storage.data_key_file", f"{path} is readable by others ({oct(mode)}): chmod 600 it")
    return _decode(path.read_text(encoding="ascii"), "storage.data_key_file")


def load_data_keys(settings: StorageSettings, key_file: Path) -> DataKeys:
    """The current key and the previous ones; `key_file` is `settings.data_key_file` resolved."""
    current = (_decode(settings.data_key, "storage.data_key") if settings.data_key
               else _key_file(key_file, settings.generate_key))
    keys = {settings.data_key_id: current}
    for entry in settings.previous_keys:
        key_id, _, text = entry.partition(":")
        if not key_id or not text:
            raise ConfigError("storage.previous_keys", "each entry is id:base64")
        if key_id in keys:
            raise ConfigError("storage.previous_keys", f"key id {key_id!r} named twice")
        keys[key_id] = _decode(text, "storage.previous_keys")
    return DataKeys(settings.data_key_id, keys)
