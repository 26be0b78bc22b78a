"""Database engine and migrations.

SQLite (aiosqlite) is the embedded default and PostgreSQL (asyncpg) the production choice;
both run the same code and the same Alembic migrations. `open_database` checks the URL and
that the database answers, so a bad URL fails at start-up with a one-line `ConfigError` or
`Unavailable` instead of at the first call.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kernel.errors import ConfigError, Unavailable

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
#: Seconds to open a connection (or get one from the pool) before giving up.
CONNECT_TIMEOUT = 5.0
#: PostgreSQL advisory lock key held while migrating (any fixed number unique to this schema).
MIGRATION_LOCK = 12345_0010


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def create_engine(url: str) -> AsyncEngine:
    """The backend's engine. `hide_parameters`: an error's text (logged, or in a readiness
    answer) names the statement but never its bound values, which are callers' numbers, names
    and words (PIPL: issue 25 item 4)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError("database.url", f"not a database URL: {url!r}") from exc
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets the bridge write while the desk reads; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # Bounded waits: a database that does not answer must fail a call's write in seconds (it
    # then goes to the outbox), never hold it forever. `timeout` is asyncpg's connect timeout.
    connect_args = {"timeout": CONNECT_TIMEOUT} if parsed.drivername.endswith("asyncpg") else {}
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                               pool_timeout=CONNECT_TIMEOUT, connect_args=connect_args,
                               hide_parameters=True)


async def open_database(url: str, *, migrate: bool = True) -> AsyncEngine:
    """Create the engine, check the database answers and bring its schema to head."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        if migrate:
            await upgrade(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        await engine.dispose()
        reason = str(getattr(exc, "orig", exc) or exc).splitlines()[0]
        raise Unavailable(f"database {make_url(url).render_as_string()} is unreachable: {reason}") from exc
    return engine


def _run(connection: Connection, action: str, revision: str) -> None:
    config = _alembic_config(str(connection.engine.url))
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate once, even when several nodes start together: on PostgreSQL the migration runs
    under a transaction-scoped advisory lock, so the other nodes wait for it and then find the
    schema at head (SQLite serialises writers by itself and is one node's database)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(_run, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_run, "downgrade", revision)
