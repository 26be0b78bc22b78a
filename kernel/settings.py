"""Settings loading shared by every capability: typed sections, one TOML file, env overrides.

Each capability declares the section it reads (`telephony.settings.CallFlowSettings`,
`abuse.settings.AbuseSettings`...) as a `Section`; the application (`hotline.settings`) puts
the sections together. `load_sections` reads `config/hotline.toml`, overlays
`HOTLINE_<SECTION>_<KEY>` environment variables and validates once at start-up: a wrong value
becomes a `ConfigError` naming the key (`ari.url`, `database.url`...) so the CLI can print one
line and exit non-zero instead of a traceback. Nothing else in the code base reads the
environment. The sections every capability shares (database, Redis, HTTP, node, auth) are here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from kernel.errors import ConfigError

ENV_PREFIX = "HOTLINE_"
_S = TypeVar("_S", bound=BaseModel)


class Section(BaseModel):
    """One `[section]` of the settings file: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///var/hotline.sqlite3"

    @field_validator("url")
    @classmethod
    def _known_async_driver(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {value!r}") from exc
        if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError(
                f"driver {url.drivername!r} is not supported; use sqlite+aiosqlite or postgresql+asyncpg"
            )
        return value


class RedisSettings(Section):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "hotline:"
    #: Longest life of a Redis key holding citizens' data (the call mirror's callers' numbers):
    #: renewed while a call writes it, gone this long after its last write. The anti-abuse
    #: counters expire with their own windows (config/abuse_policy.toml).
    personal_data_ttl_hours: float = Field(default=12.0, gt=0, le=24 * 7)

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"not a Redis URL: {value!r}")
        return value


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: How long an `Idempotency-Key` is remembered (kernel/idempotency.py): a retry after this
    #: is a new request.
    idempotency_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    #: Websockets one person, and everyone together, may hold open on this node
    #: (kernel/socket_caps.py); one more is closed at once with code 4429, or 1013.
    websockets_per_person: int = Field(default=10, ge=1, le=1000)
    websockets_total: int = Field(default=1000, ge=1, le=100_000)
    #: Requests per minute one client address may make to the public routes that need no
    #: credential (the monthly disclosure): past it, 429 until the minute ends.
    public_requests_per_minute: int = Field(default=60, ge=1, le=100_000)


class AuthSettings(Section):
    #: The hotline's key (softphone passwords, and the signed tokens of tests). Empty: a random
    #: key is kept in `secret_file` (made 0600 on first use), so a fresh machine works without
    #: set-up and every node on it agrees.
    secret: str = ""
    secret_file: Path = Path("var/auth-secret")
    #: Accept the signed bearer tokens of `hotline token` (kernel/auth.py): for the test harness
    #: and the development stack only. Off, the API refuses them and `hotline token` issues none:
    #: people sign in (sessions), programs send API keys (`hotline api-key`).
    test_tokens: bool = False
    #: The longest life of a signed token, checked when it is issued and when it is verified.
    token_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    #: People's sessions (kernel/sessions.py): ended after this long without a request or an
    #: open websocket, and in any case this long after sign-in.
    session_idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    session_absolute_hours: float = Field(default=12.0, gt=0, le=24 * 7)
    #: The session cookie's Secure flag: off only for plain-HTTP development on one machine.
    session_cookie_secure: bool = True
    #: Open websockets re-check their session this often (closed within this after a revocation).
    socket_recheck_seconds: float = Field(default=2.0, ge=0.1, le=5.0)
    #: Origins besides the backend's own from which pages may open websockets ("https://wall.example").
    allowed_origins: tuple[str, ...] = ()
    #: Failed sign-ins allowed per account, and per client address, within the window; then
    #: refused until the window ends (counted in Redis, shared by every node).
    signin_failures_per_account: int = Field(default=5, ge=1, le=100)
    signin_failures_per_address: int = Field(default=30, ge=1, le=10_000)
    signin_window_minutes: float = Field(default=15.0, gt=0, le=24 * 60)


class AuditSettings(Section):
    #: How long access-audit rows are kept (kernel/audit.py). Network logs must be kept at least
    #: six months; the database refuses to delete younger rows whatever this says.
    retention_days: int = Field(default=365, ge=183, le=3650)


class StorageSettings(Section):
    """`[storage]`: the key that seals recordings and evidence at rest (kernel/sealed_files.py)."""

    #: The current key: base64 of 32 random bytes (`hotline data-key new` prints one). Empty:
    #: the key kept in `data_key_file`. Set the same keys on every node.
    data_key: str = ""
    #: The current key's id, written in every file it seals; a new key needs a new id.
    data_key_id: str = Field(default="k1", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    #: Retired keys still read ("id:base64", comma-separated in the environment): files sealed
    #: with them open until they are sealed again or purged.
    previous_keys: tuple[str, ...] = ()
    #: The key kept on disk (0600) when `data_key` is empty.
    data_key_file: Path = Path("var/data-key")
    #: Make `data_key_file` when it is missing: for a development machine and the tests only.
    #: Off (the default), start-up refuses to run without a key, as it refuses a known ARI
    #: password: a key made silently beside the data protects nothing, and a lost one loses
    #: every recording.
    generate_key: bool = False

    @field_validator("previous_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value


class RetentionSettings(Section):
    """`[retention]`: how long each kind of a citizen's data is kept after its ticket closed, in
    days; `retention_purge` (tickets/retention.py) removes what is older, closed tickets only.

    《个人信息保护法》 第十九条 keeps personal information no longer than its purpose needs, and
    第四十七条 asks for deletion once the purpose is met; 临沂条例 第二十三条 asks for data security
    and 第二十四条 for a true, complete archive of each request and its handling. So the ticket
    (what was asked, who handled it, the result) stays; the personal parts go once the time in
    which the handling may still be challenged has passed:

    * recordings 183 days: past the six months of an administrative suit (行政诉讼法 第四十六条)
      and the 60 days of an administrative review (行政复议法), and the dissatisfaction review;
    * transcripts 365 days and evidence 365 days: the yearly assessment of the units (考核) reads
      the handling and its proof;
    * caller numbers on closed tickets 365 days, then masked: repeated requests (多次反映) are
      looked for within a year; statistics never need the number.
    """

    recordings_days: int = Field(default=183, ge=30, le=3650)
    transcripts_days: int = Field(default=365, ge=30, le=3650)
    evidence_days: int = Field(default=365, ge=30, le=3650)
    caller_numbers_days: int = Field(default=365, ge=30, le=3650)
    #: How often the purge runs (one node at a time), and how many tickets one batch takes.
    interval_hours: float = Field(default=24.0, gt=0, le=24 * 7)
    batch_size: int = Field(default=200, ge=1, le=10_000)


class NodeSettings(Section):
    id: str = Field(default="N01", pattern=r"^[A-Z][0-9A-Z]{1,5}$")


def _apply_env(model: type[BaseModel], raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay HOTLINE_<SECTION>_<KEY> variables. Unknown sections/keys are errors too."""
    sections = model.model_fields
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ("HOTLINE_CONFIG",):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(name, "unknown setting (no such section)")
        key = rest[len(section) + 1:]
        section_model = sections[section].annotation
        assert section_model is not None
        if key not in section_model.model_fields:
            raise ConfigError(f"{section}.{key}", f"unknown setting (from {name})")
        raw.setdefault(section, {})[key] = value
    return raw


def load_sections(model: type[_S], path: Path, environ: Mapping[str, str]) -> _S:
    """Read `path`, overlay the environment and validate as `model`; ConfigError names the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("config", f"file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from exc
    raw = _apply_env(model, raw, environ)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError.from_validation(exc) from None
