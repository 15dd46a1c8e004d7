"""The node's database: the async engine for SQLite (WAL) or PostgreSQL, and migrations.

What it does: :func:`create_engine` builds an ``AsyncEngine`` configured for the backend
(SQLite: one connection per process, WAL, ``BEGIN IMMEDIATE`` so read-then-write transactions
never race another process; PostgreSQL: a connection pool), :func:`migrate` upgrades the schema
with the alembic scripts shipped in ``node/migrations``, :func:`epoch` gives the integer timestamps
every table uses.

What it deliberately does not do: define tables (``node.models``) or hold queries.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final, TypeAlias, TypeVar

import asyncpg  # type: ignore[import-untyped]
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from node.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
#: SQLite's page cache of a serving node, per connection. Reads come through the memory map
#: (they add nothing to the cache), but every page written stays cached until the cache is
#: full, so a node that issues keeps growing its heap up to this size; 256 MiB grew a soak's
#: RSS by ~20 MiB/min for over ten minutes. Issuance writes near the ends of its indices
#: (attestation, audit) and at random in the current status list's, a few MiB in all.
SQLITE_CACHE_KIB: Final = 16 * 1024
#: The page cache a bulk file import asks for on its connection (:func:`sqlite_cache_size`):
#: random-order primary keys (resident hashes) thrash a small cache.
SQLITE_IMPORT_CACHE_KIB: Final = 256 * 1024
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


@contextlib.asynccontextmanager
async def sqlite_cache_size(engine: AsyncEngine, kib: int) -> AsyncIterator[None]:
    """Give ``engine``'s SQLite connection a ``kib`` page cache for the block (no-op otherwise).

    The node's SQLite engine has one connection, so this is the connection the block uses;
    afterwards the cache goes back to :data:`SQLITE_CACHE_KIB` and SQLite frees the pages
    beyond it.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    async with engine.connect() as conn:
        await conn.exec_driver_sql(f"PRAGMA cache_size=-{int(kib)}")
    try:
        yield
    finally:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")


async def execute_many(conn: AsyncConnection, sql: str, rows: Sequence[Sequence[object]]) -> None:
    """Run ``sql`` (with ``?`` placeholders) once per row as one driver ``executemany``.

    The hot paths (bulk imports, audit appends) use this to skip per-row statement
    compilation; ``?`` becomes ``$n`` on PostgreSQL.
    """
    if not rows:
        return
    await conn.exec_driver_sql(_dialect_sql(conn, sql), [tuple(row) for row in rows])


def _dialect_sql(conn: AsyncConnection, sql: str) -> str:
    return _numbered(sql) if conn.dialect.name == "postgresql" else sql


async def fetch_all(
    conn: AsyncConnection, sql: str, params: Sequence[object]
) -> list[tuple[Any, ...]]:
    """Run one raw query with ``?`` placeholders and return its rows (hot paths only)."""
    result = await conn.exec_driver_sql(_dialect_sql(conn, sql), tuple(params))
    return [tuple(row) for row in result]


@dataclass(frozen=True, slots=True)
class Sql:
    """One statement of a :data:`Script`, with ``?`` placeholders.

    ``many``: ``params`` is a list of rows, run as one ``executemany`` (no result rows).
    """

    text: str
    params: Sequence[Any] = ()
    many: bool = False


_T = TypeVar("_T")
#: A transaction's logic as a generator: it yields each :class:`Sql` and is sent back that
#: statement's result rows (tuples), and returns its result. The same script runs through
#: SQLAlchemy (:func:`run_script`) or, for hot paths, straight on the driver
#: (:func:`run_transaction`), so the logic is written once for both.
Script: TypeAlias = Generator[Sql, list[tuple[Any, ...]], _T]


async def run_script(conn: AsyncConnection, script: Script[_T]) -> _T:
    """Run ``script`` inside ``conn``'s open transaction, one raw driver statement at a time."""
    try:
        stmt = next(script)
        while True:
            if stmt.many:
                await execute_many(conn, stmt.text, stmt.params)
                rows: list[tuple[Any, ...]] = []
            else:
                result = await conn.exec_driver_sql(
                    _dialect_sql(conn, stmt.text), tuple(stmt.params)
                )
                rows = [tuple(row) for row in result] if result.returns_rows else []
            stmt = script.send(rows)
    except StopIteration as stop:
        value: _T = stop.value
        return value


async def run_transaction(
    engine: AsyncEngine,
    script: Callable[[bool], Script[_T]],
    *,
    before_commit: Callable[[], Awaitable[None]] | None = None,
) -> _T:
    """Run ``script(postgres)`` in a transaction of its own, on the driver connection itself.

    No statement goes through SQLAlchemy's execution layer. On SQLite the whole script runs in
    the driver's thread in one call (``BEGIN IMMEDIATE``, every statement; a call into
    ``aiosqlite``'s thread per statement costs more than SQLite's work for it); on PostgreSQL
    each statement is one ``asyncpg`` call (prepared statements cached per connection).
    ``before_commit`` is awaited on the event loop between the last statement and the commit.

    Raises:
        IntegrityError: a constraint refused a statement (the caller may retry).
        OperationalError: a transient driver error (:func:`is_transient`: the database is
            busy or locked, a serialization failure or deadlock, the connection lost, the
            disk full or failing); the caller may retry.
        ProgrammingError: any other driver error -- a bug in a statement (syntax, an unknown
            column, a wrong parameter count or type); retrying cannot help.
    """
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        postgres = conn.dialect.name == "postgresql"
        try:
            if postgres:
                async with driver.transaction():
                    result = await _run_asyncpg(driver, script(True))
                    if before_commit is not None:
                        await before_commit()
                return result
            # aiosqlite runs every call in its connection's thread through ``_execute``; the
            # script goes there as one call (tests/node cover this path on every run).
            result = await driver._execute(_run_sqlite, driver._conn, script(False))
            try:
                if before_commit is not None:
                    await before_commit()
                await driver.commit()
            except BaseException:
                await driver.rollback()
                raise
            return result
        except (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError) as err:
            raise IntegrityError("issuance transaction", None, err) from err
        except (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            if is_transient(err, connection_closed=postgres and driver.is_closed()):
                raise OperationalError("issuance transaction", None, err) from err
            raise ProgrammingError("issuance transaction", None, err) from err


#: SQLite primary result codes of a transient failure: another connection holds a lock, memory,
#: the disk (I/O error, full), the file could not be opened, a WAL locking race.
_SQLITE_TRANSIENT: Final = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)
#: PostgreSQL SQLSTATE classes of a transient failure: connection exception (08), transaction
#: rollback -- serialization failure, deadlock (40), insufficient resources (53), operator
#: intervention -- shutdown, cancelled (57), system error (58); and lock not available (55P03).
_PG_TRANSIENT_CLASSES: Final = frozenset({"08", "40", "53", "57", "58"})


def is_transient(err: BaseException, *, connection_closed: bool = False) -> bool:
    """Whether a driver error (``sqlite3`` or ``asyncpg``) may pass if the work is retried.

    ``connection_closed``: the ``asyncpg`` connection is closed (its client-side
    ``InterfaceError`` then means the connection was lost, not a misuse of the API).
    """
    if isinstance(err, sqlite3.Error):
        code = getattr(err, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_TRANSIENT
    if isinstance(err, asyncpg.PostgresError):
        state = str(getattr(err, "sqlstate", "") or "")
        return state[:2] in _PG_TRANSIENT_CLASSES or state == "55P03"
    if isinstance(err, asyncpg.InterfaceError):
        return connection_closed
    return isinstance(err, OSError | TimeoutError)


def _run_sqlite(db: sqlite3.Connection, script: Script[_T]) -> _T:
    """In the SQLite driver's thread: ``BEGIN IMMEDIATE`` and the script, not the commit."""
    db.execute("BEGIN IMMEDIATE")
    try:
        stmt = next(script)
        while True:
            if stmt.many:
                db.executemany(stmt.text, stmt.params)
                rows: list[tuple[Any, ...]] = []
            else:
                rows = db.execute(stmt.text, stmt.params).fetchall()
            stmt = script.send(rows)
    except StopIteration as stop:
        value: _T = stop.value
        return value
    except BaseException:
        db.rollback()
        raise


async def _run_asyncpg(db: Any, script: Script[_T]) -> _T:
    try:
        stmt = next(script)
        while True:
            sql = _numbered(stmt.text)
            if stmt.many:
                await db.executemany(sql, stmt.params)
                rows: list[tuple[Any, ...]] = []
            else:
                rows = [tuple(row) for row in await db.fetch(sql, *stmt.params)]
            stmt = script.send(rows)
    except StopIteration as stop:
        value: _T = stop.value
        return value


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


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
