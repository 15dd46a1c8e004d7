"""SQLite's page cache: small for a serving node (its heap must not grow with every page
issuance writes), large only for the connection of a bulk file import, and back afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.db import SQLITE_CACHE_KIB, SQLITE_IMPORT_CACHE_KIB, create_engine, sqlite_cache_size

pytestmark = pytest.mark.asyncio


async def test_import_cache_is_scoped_to_the_block(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'node.db'}")

    async def cache_kib() -> int:
        async with engine.connect() as conn:
            return -int((await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one())

    try:
        assert await cache_kib() == SQLITE_CACHE_KIB
        assert SQLITE_CACHE_KIB <= 32 * 1024 < SQLITE_IMPORT_CACHE_KIB
        async with sqlite_cache_size(engine, SQLITE_IMPORT_CACHE_KIB):
            assert await cache_kib() == SQLITE_IMPORT_CACHE_KIB
        assert await cache_kib() == SQLITE_CACHE_KIB
        with pytest.raises(RuntimeError):
            async with sqlite_cache_size(engine, SQLITE_IMPORT_CACHE_KIB):
                raise RuntimeError("import failed")
        assert await cache_kib() == SQLITE_CACHE_KIB
    finally:
        await engine.dispose()
