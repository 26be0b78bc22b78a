"""Accounts: who may sign in, under which name, role and unit. Pure: no I/O.

A user name is also an agent's id on the desk and in the ACD, and becomes a SIP endpoint name
(`agent-<name>`), so it uses the desk's safe alphabet. Every role of `kernel.roles` may hold a
person's account except `system`, which is for automated jobs; a unit's staff name their unit.

An account may also be a program's (`machine`): a unit's own case system, the web intake. It has
no password and never signs in; it works with API keys (`kernel.api_keys`). Only a program's
account may have the role `system`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from kernel.api_keys import KEY_PREFIX
from kernel.errors import InvalidInput
from kernel.roles import ROLE_TITLES, Role

#: The desk's agent-id alphabet (agent_desk.desk.AGENT_ID): lowercase letters, digits, dashes.
USERNAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
MIN_PASSWORD_LENGTH = 10
#: Long enough for any passphrase; bounded so nobody makes the server hash megabytes.
MAX_PASSWORD_LENGTH = 256
MAX_DISPLAY_NAME = 64

#: Roles a person's account may have (automated jobs are `system`, never a person).
ACCOUNT_ROLES: frozenset[Role] = frozenset(Role) - {Role.SYSTEM}
#: Roles a program's account may have: any a person may, and `system` (web intake).
MACHINE_ROLES: frozenset[Role] = frozenset(Role)
#: The password hash of a program's account: not an argon2 hash, so no password matches it.
NO_PASSWORD = "!machine: no password, API keys only"


@dataclass(frozen=True, slots=True)
class Account:
    """A person who may sign in (without the password hash, which stays in the store)."""

    username: str
    display_name: str
    role: Role
    unit: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    #: A program's account: no password, never signs in, works with API keys.
    machine: bool = False

    def as_json(self) -> dict[str, object]:
        return {"username": self.username, "display_name": self.display_name,
                "role": self.role.value, "role_title": ROLE_TITLES[self.role], "unit": self.unit,
                "active": self.active, "machine": self.machine, "created_at": self.created_at.isoformat()}


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise InvalidInput("a user name is 1-32 lowercase letters, digits or dashes, starting with a "
                           "letter or digit", field="username")
    return username


def check_account(username: str, display_name: str, role: str, unit: str | None, *,
                  machine: bool = False) -> tuple[str, str, Role, str | None]:
    """The account's fields, validated: InvalidInput names the first bad one. `machine`: a
    program's account, which may also have the role `system`."""
    check_username(username)
    display_name = display_name.strip()
    if not display_name or len(display_name) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"a display name of 1 to {MAX_DISPLAY_NAME} characters is needed",
                           field="display_name")
    try:
        account_role = Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}", field="role",
                           allowed=sorted(r.value for r in (MACHINE_ROLES if machine else ACCOUNT_ROLES))) from None
    if account_role not in (MACHINE_ROLES if machine else ACCOUNT_ROLES):
        raise InvalidInput(f"role {role!r} is for automated jobs, not people (a program's account: --machine)",
                           field="role")
    if (account_role is Role.UNIT) != bool(unit):
        raise InvalidInput("a unit code is needed for role 'unit' and only for it", field="unit")
    if unit is not None and len(unit) > 64:
        raise InvalidInput("unit code too long", field="unit")
    return username, display_name, account_role, unit


def check_password(password: str) -> str:
    """A new password: long enough to resist guessing, short enough to hash."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_LENGTH} characters", field="password")
    return password


# ---- programs' API keys (kernel/api_keys.py) -------------------------------------------------

MAX_KEY_NAME = 64
#: Live keys an account may hold at once: a program needs one, two while it rotates; not hundreds.
MAX_KEYS_PER_ACCOUNT = 20


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A program's key as listings show it: never the key, which is shown once when made."""

    id: str
    username: str
    name: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoked_reason: str | None

    @property
    def shown(self) -> str:
        """How the key begins, to tell which key a program holds."""
        return f"{KEY_PREFIX}{self.id}_…"

    def as_json(self) -> dict[str, object]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.id, "username": self.username, "name": self.name, "shown": self.shown,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "last_used_at": iso(self.last_used_at), "revoked_at": iso(self.revoked_at),
                "revoked_by": self.revoked_by, "revoked_reason": self.revoked_reason,
                "active": self.revoked_at is None}


def check_key_name(name: str) -> str:
    """A key's name says which program holds it (网站受理, 住建局办件系统)."""
    name = name.strip()
    if not name or len(name) > MAX_KEY_NAME or any(ch < " " for ch in name):
        raise InvalidInput(f"a key name of 1 to {MAX_KEY_NAME} printable characters is needed", field="name")
    return name
