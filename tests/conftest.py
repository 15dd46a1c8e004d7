"""Fixtures shared by every test package: the PostgreSQL server for database tests.

``HUXIN_TEST_POSTGRES_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) names
a server and a maintenance database. Each test that asks for :func:`postgres_url` gets a fresh,
empty database created from ``template0`` and dropped afterwards. When the server is unreachable
the test is skipped with a clear message -- unless ``CI=true``, where a missing PostgreSQL is a
failure, so CI can never pass by skipping the PostgreSQL half of the suite.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
import pytest

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _server_url() -> str:
    return os.environ.get("HUXIN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(url), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server URL, after checking it answers (skip, or fail under CI)."""
    url = _server_url()
    try:
        asyncio.run(_admin(url, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        message = f"PostgreSQL at {url} is unreachable ({err}); set HUXIN_TEST_POSTGRES_URL"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- required when CI=true")
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"huxin_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(postgres_server, f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield _with_database(postgres_server, name)
    finally:
        asyncio.run(_admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
