"""Programs' API keys, the pure part: the key's shape, what is stored of it, and when it stops
working (kernel/api_keys.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kernel.api_keys import ApiKeyRecord, is_api_key, key_hash, key_id_of, needs_touch, new_api_key, refusal

NOW = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)


def record(key: str, **changes: object) -> ApiKeyRecord:
    fields: dict[str, object] = dict(id=key_id_of(key), user="web-intake", name="网站受理", role="system", unit=None,
                                     secret_hash=key_hash(key), last_used_at=None, revoked_at=None, user_active=True)
    fields.update(changes)
    return ApiKeyRecord(**fields)  # type: ignore[arg-type]


def test_a_new_key_names_its_public_id_and_carries_256_random_bits() -> None:
    made = [new_api_key() for _ in range(200)]
    assert len({key for _, key in made}) == len({key_id for key_id, _ in made}) == 200
    for key_id, key in made:
        assert key.startswith(f"hk_{key_id}_") and len(key) == 3 + 12 + 1 + 43
        assert is_api_key(key) and key_id_of(key) == key_id
    stored = key_hash(made[0][1])
    assert len(stored) == 64 and made[0][1] not in stored  # the store keeps a digest, never the key


def test_anything_but_a_well_formed_key_names_no_key() -> None:
    _, key = new_api_key()
    for bad in ("", "hk_", key[:-1], key + "x", key.replace("hk_", "HK_"), "hk_" + "g" * 12 + key[15:],
                key[:15] + "." + key[16:], "v1.abc.def"):
        assert key_id_of(bad) is None, bad
    assert not is_api_key("v1.abc.def")


def test_a_key_works_until_revoked_or_its_account_is_disabled() -> None:
    _, key = new_api_key()
    assert refusal(record(key), key) is None
    assert refusal(record(key, revoked_at=NOW), key) == "this API key was revoked"
    assert refusal(record(key, user_active=False), key) == "this API key's account is disabled"
    _, other = new_api_key()
    forged = key[:16] + other[16:]  # the right id, another secret
    assert refusal(record(key), forged) == "unknown API key"


def test_last_use_is_written_at_most_once_a_minute() -> None:
    _, key = new_api_key()
    assert needs_touch(record(key), NOW)
    used = record(key, last_used_at=NOW)
    assert not needs_touch(used, NOW + timedelta(seconds=59))
    assert needs_touch(used, NOW + timedelta(minutes=1))
