"""The node's database: the async engine for SQLite (WAL) or PostgreSQL, and migrations.

What it does: :func:`create_engine` builds an ``AsyncEngine`` configured for the backend
(SQLite: one connection per process, WAL, ``BEGIN IMMEDIATE`` so read-then-write transactions
never race another process; PostgreSQL: a connection pool), :func:`migrate` upgrades the schema
with the alembic scripts shipped in ``node/migrations``, :func:`epoch` gives the integer timestamps
every table uses.

What it deliberately does not do: define tables (``node.models``) or hold queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from node.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
#: Page cache and memory map sizes: random-order primary keys (resident hashes) thrash the
#: default 2 MiB cache during bulk imports.
SQLITE_CACHE_KIB: Final = 256 * 1024
SQLITE_MMAP_BYTES: Final = 1 << 30


def epoch(now: datetime) -> int:
    """Integer Unix seconds of a timezone-aware datetime."""
    if now.tzinfo is None:
        raise ValueError("naive datetime")
    return int(now.timestamp())


def from_epoch(seconds: int) -> datetime:
    """The UTC datetime of integer Unix seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``).

    Raises:
        ConfigError: the URL is not one of the supported drivers.
    """
    if url.startswith("sqlite+aiosqlite://"):
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: object, record: ConnectionPoolEntry) -> None:
            del record
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()
            # Let SQLAlchemy, not the driver, start transactions (see _on_begin).
            dbapi_connection.isolation_level = None  # type: ignore[attr-defined]

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql+asyncpg://"):
        try:
            return create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        except ArgumentError as err:
            raise ConfigError(f"bad database URL: {err}") from err
    raise ConfigError("database.url must start with sqlite+aiosqlite:// or postgresql+asyncpg://")


async def execute_many(conn: AsyncConnection, sql: str, rows: Sequence[Sequence[object]]) -> None:
    """Run ``sql`` (with ``?`` placeholders) once per row as one driver ``executemany``.

    The hot paths (bulk imports, audit appends) use this to skip per-row statement
    compilation; ``?`` becomes ``$n`` on PostgreSQL.
    """
    if not rows:
        return
    await conn.exec_driver_sql(_dialect_sql(conn, sql), [tuple(row) for row in rows])


def _dialect_sql(conn: AsyncConnection, sql: str) -> str:
    if conn.dialect.name == "postgresql":
        parts = sql.split("?")
        sql = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))
    return sql


async def fetch_all(
    conn: AsyncConnection, sql: str, params: Sequence[object]
) -> list[tuple[Any, ...]]:
    """Run one raw query with ``?`` placeholders and return its rows (hot paths only)."""
    result = await conn.exec_driver_sql(_dialect_sql(conn, sql), tuple(params))
    return [tuple(row) for row in result]


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("node") / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the newest)."""

    def run(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def schema_is_current(engine: AsyncEngine) -> bool:
    """Whether the database is at the newest migration (used by ``/readyz``)."""

    def check(connection: Connection) -> bool:
        script = ScriptDirectory.from_config(_alembic_config(connection))
        current = MigrationContext.configure(connection).get_current_heads()
        return set(current) == set(script.get_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(check)
