"""Password hashes are argon2id; account fields are checked before anything is stored."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from accounts.model import ACCOUNT_ROLES, check_account, check_password, check_username
from accounts.passwords import Passwords
from kernel.errors import InvalidInput
from kernel.roles import Role

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def test_a_password_is_stored_as_an_argon2id_hash_that_verifies_only_itself() -> None:
    passwords = Passwords()  # the production parameters
    stored = await passwords.hash("正确的密码-correct horse")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse" not in stored
    assert await passwords.verify(stored, "正确的密码-correct horse")
    assert not await passwords.verify(stored, "正确的密码-correct hors")
    assert not await passwords.verify(stored, "")
    assert await passwords.hash("正确的密码-correct horse") != stored  # salted
    assert not passwords.needs_rehash(stored)


async def test_an_unknown_user_is_checked_against_a_dummy_hash_and_never_matches() -> None:
    passwords = Passwords(CHEAP)
    assert not await passwords.verify(None, "")
    assert not await passwords.verify(None, "anything at all")


async def test_broken_hashes_never_verify_and_weak_ones_are_rehashed() -> None:
    strong = Passwords()
    assert not await strong.verify("not-a-hash", "x")
    assert strong.needs_rehash("not-a-hash")
    assert strong.needs_rehash(await Passwords(CHEAP).hash("a long password"))


def test_user_names_use_the_desks_safe_alphabet() -> None:
    for good in ("zhang", "a7", "li-na", "0", "x" * 32):
        assert check_username(good) == good
    for bad in ("", "Zhang", "li_na", "-li", "张三", "x" * 33, "a b", "../x"):
        with pytest.raises(InvalidInput):
            check_username(bad)


def test_every_role_but_the_systems_may_hold_an_account() -> None:
    assert frozenset(Role) - {Role.SYSTEM} == ACCOUNT_ROLES
    assert check_account("wang", " 王班长 ", "supervisor", None) == ("wang", "王班长", Role.SUPERVISOR, None)
    assert check_account("zhang", "张", "unit", "city-housing")[2:] == (Role.UNIT, "city-housing")
    for bad in (("wang", "王", "system", None), ("wang", "王", "caller", None), ("wang", "", "agent", None),
                ("zhang", "张", "unit", None), ("li", "李", "agent", "city-housing")):
        with pytest.raises(InvalidInput):
            check_account(*bad)


def test_new_passwords_have_a_minimum_and_a_maximum_length() -> None:
    assert check_password("0123456789") == "0123456789"
    for bad in ("", "short", "x" * 257):
        with pytest.raises(InvalidInput):
            check_password(bad)


def test_a_programs_account_may_have_any_role_and_only_it_may_be_system() -> None:
    from accounts.model import MACHINE_ROLES

    assert frozenset(Role) == MACHINE_ROLES
    assert check_account("web-intake", "网站受理", "system", None, machine=True)[2] is Role.SYSTEM
    assert check_account("housing-sys", "住建局办件系统", "unit", "city-housing", machine=True)[2:] == (
        Role.UNIT, "city-housing")
    with pytest.raises(InvalidInput, match="--machine"):
        check_account("web-intake", "网站受理", "system", None)
    for bad in (("x", "某", "unit", None), ("x", "某", "caller", None), ("x", "某", "system", "city-housing")):
        with pytest.raises(InvalidInput):
            check_account(*bad, machine=True)
