"""The issuance transaction on the driver: index reservation across list roll-over, the
``allocated`` count and its migration, the hand-written response body, driver error mapping.

Runs on SQLite and PostgreSQL (``database_url``).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from node import appkeys, issuance
from node.api.attestations import response_body
from node.audit import entries_about, verify_chain
from node.db import Script, Sql, create_engine, is_transient, migrate, run_transaction
from node.status import random_indices
from protocol.attestation import IssuedAttestation, StatusRef
from tests.node.conftest import (
    FakeClock,
    Node,
    holder_keys,
    migrate_url,
    national_id,
    start_node,
    write_node_dir,
)

LIST_SIZE = 64  # 32 usable indices per list (FILL_LIMIT 0.5)


async def _small_list_node(tmp_path: Path, database_url: str) -> Node:
    config = write_node_dir(
        tmp_path / "node", database_url, extra={"status": {"list_size": LIST_SIZE}}
    )
    await migrate_url(database_url)
    node = await start_node(config, FakeClock())
    await node.ok(
        "POST",
        "/v1/scores",
        role="office",
        json={"national_id": national_id(1), "score": 135, "seq": 1},
    )
    await node.ok(
        "POST",
        "/v1/residents/consent",
        role="app",
        json={"national_id": national_id(1), "granted": True},
    )
    return node


@pytest.mark.asyncio
async def test_batches_roll_over_lists_without_reusing_an_index(
    tmp_path: Path, database_url: str
) -> None:
    node = await _small_list_node(tmp_path, database_url)
    try:
        refs: list[tuple[str, int]] = []
        for _ in range(5):  # 100 attestations: more than three lists' worth
            keys = [k.public_jwk for k in holder_keys(20)]
            body = await node.ok(
                "POST",
                "/v1/attestations",
                role="app",
                json={"national_id": national_id(1), "holder_keys": keys},
            )
            assert len(body["attestations"]) == 20
            refs += [(a["status"]["uri"], a["status"]["idx"]) for a in body["attestations"]]
            assert all(0 <= idx < LIST_SIZE for _, idx in refs)
        assert len(set(refs)) == len(refs) == 100
        engine = node.app[appkeys.ENGINE]
        async with engine.connect() as conn:
            lists = (
                await conn.execute(
                    text(
                        'SELECT s.id, s.allocated, s."full", count(a.id) FROM status_list s '
                        "LEFT JOIN attestation a ON a.list_id = s.id "
                        'GROUP BY s.id, s.allocated, s."full" ORDER BY s.id'
                    )
                )
            ).all()
        assert len(lists) == 4
        for list_id, allocated, _full, rows in lists:
            assert allocated == rows <= LIST_SIZE // 2, list_id
        assert [bool(row[2]) for row in lists] == [True, True, True, False]
        assert sum(row[3] for row in lists) == 100
        # One audit entry per batch, chained.
        resident = node.app[appkeys.KEYS].hasher(national_id(1))
        issues = [
            e for e in await entries_about(engine, resident) if e.action == "attestation.issue"
        ]
        assert [e.detail["count"] for e in issues] == [20] * 5
        assert await verify_chain(engine) >= 5
    finally:
        await node.client.close()


@pytest.mark.asyncio
async def test_unknown_resident_leaves_nothing_behind(tmp_path: Path, database_url: str) -> None:
    node = await _small_list_node(tmp_path, database_url)
    try:
        resp = await node.call(
            "POST",
            "/v1/attestations",
            role="app",
            json={"national_id": national_id(2), "holder_keys": [holder_keys(1)[0].public_jwk]},
        )
        assert resp.status == 404
        assert (await resp.json())["error"] == "unknown_resident"
        async with node.app[appkeys.ENGINE].connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM attestation"))).scalar_one()
        assert count == 0
    finally:
        await node.client.close()


@pytest.mark.asyncio
async def test_migration_0002_counts_existing_attestations(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        await migrate(engine, "0001")
        async with engine.begin() as conn:
            for list_id, n in ((1, 3), (2, 0)):
                await conn.execute(
                    text(
                        'INSERT INTO status_list (id, size, bits, version, "full", created_at) '
                        "VALUES (:id, 64, 1, 0, false, 0)"
                    ),
                    {"id": list_id},
                )
                for idx in range(n):
                    await conn.execute(
                        text(
                            "INSERT INTO attestation (list_id, idx, resident, level, issued_at, "
                            "expires_at) VALUES (:l, :i, 'r', 3, 0, 1)"
                        ),
                        {"l": list_id, "i": idx},
                    )
        await migrate(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT id, allocated FROM status_list ORDER BY id"))
            ).all()
        assert [tuple(r) for r in rows] == [(1, 3), (2, 0)]
    finally:
        await engine.dispose()


def _bad_statement(postgres: bool) -> Script[None]:
    del postgres
    yield Sql("SELECT no_such_column FROM audit_head")


def _wrong_parameter_count(postgres: bool) -> Script[None]:
    del postgres
    yield Sql("SELECT seq FROM audit_head WHERE id = ?", (1, 2))


def _duplicate_index(postgres: bool) -> Script[None]:
    del postgres
    yield Sql(
        'INSERT INTO status_list (id, size, bits, version, "full", allocated, created_at) '
        "VALUES (1, 64, 1, 0, ?, 0, 0)",
        (False,),
    )
    row = ("r", 3, None, None, 0, 1, 1, 7)
    yield Sql(
        "INSERT INTO attestation (resident, level, band_low, band_high, issued_at, expires_at, "
        "list_id, idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [row, row],
        many=True,
    )


@pytest.mark.asyncio
async def test_driver_errors_become_sqlalchemy_errors_and_roll_back(database_url: str) -> None:
    await migrate_url(database_url)
    engine = create_engine(database_url, pool_size=1)
    try:
        with pytest.raises(ProgrammingError):  # a bug, not an outage: not retried, 500
            await run_transaction(engine, _bad_statement)
        with pytest.raises(ProgrammingError):
            await run_transaction(engine, _wrong_parameter_count)
        with pytest.raises(IntegrityError):
            await run_transaction(engine, _duplicate_index)
        async with engine.connect() as conn:  # rolled back, and the connection is usable
            assert (await conn.execute(text("SELECT count(*) FROM status_list"))).scalar_one() == 0
    finally:
        await engine.dispose()


def _issued(sd_jwt: str, uri: str = "https://node.test/status/1") -> IssuedAttestation:
    t = datetime(2026, 11, 25, tzinfo=UTC)
    return IssuedAttestation(
        sd_jwt=sd_jwt,
        holder_kid="kid-1_x",
        status=StatusRef(uri=uri, idx=7),
        issued_at=t,
        expires_at=t,
    )


def _expected(issued: list[IssuedAttestation]) -> dict[str, Any]:
    return {
        "attestations": [
            {
                "sd_jwt": a.sd_jwt,
                "holder_kid": a.holder_kid,
                "status": {"uri": a.status.uri, "idx": a.status.idx},
                "issued_at": int(a.issued_at.timestamp()),
                "expires_at": int(a.expires_at.timestamp()),
            }
            for a in issued
        ]
    }


def _cases() -> Iterator[list[IssuedAttestation]]:
    yield []
    yield [_issued("eyJh.eyJi.c2ln~WyJh~"), _issued("eyJh.eyJj.c2ln~", 'https://n.test/"s"/2')]
    yield [_issued('eyJh.eyJi"}],"x":"'), _issued("a\\u0000b")]  # would need escaping
    later = datetime(2026, 11, 26, tzinfo=UTC)
    yield [  # times differ between entries: each keeps its own
        _issued("eyJh.eyJi.c2ln~"),
        dataclasses.replace(_issued("eyJh.eyJj.c2ln~"), expires_at=later),
        dataclasses.replace(_issued("eyJh.eyJk.c2ln~"), issued_at=later, expires_at=later),
    ]


@pytest.mark.parametrize("issued", list(_cases()))
def test_response_body_is_the_json_of_the_attestations(issued: list[IssuedAttestation]) -> None:
    assert json.loads(response_body(issued)) == _expected(issued)


@pytest.mark.parametrize(("size", "count"), [(131_072, 150), (1_000, 400), (10, 3), (8, 8)])
def test_random_indices_are_distinct_and_in_range(size: int, count: int) -> None:
    for _ in range(50):
        drawn = random_indices(size, count)
        assert len(drawn) == len(set(drawn)) == count
        assert all(0 <= idx < size for idx in drawn)


def test_random_indices_cover_the_range_evenly() -> None:
    # 3 of 10 (not a power of two: masked words above 9 are rejected), 30,000 times: each
    # index is expected 9,000 times; 8,500..9,500 is more than 5 standard deviations wide.
    counts = Counter(idx for _ in range(30_000) for idx in random_indices(10, 3))
    assert sorted(counts) == list(range(10))
    assert all(8_500 < n < 9_500 for n in counts.values()), counts


def test_sqlite_errors_are_transient_only_when_busy_locked_or_the_disk_fails(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x INTEGER)")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as busy:
            other.execute("BEGIN IMMEDIATE")
        assert is_transient(busy.value)  # database is locked (SQLITE_BUSY)
        with pytest.raises(sqlite3.OperationalError) as syntax:
            other.execute("SELEC 1")
        assert not is_transient(syntax.value)
        with pytest.raises(sqlite3.OperationalError) as column:
            other.execute("SELECT y FROM t")
        assert not is_transient(column.value)
        with pytest.raises(sqlite3.ProgrammingError) as bindings:
            other.execute("SELECT ?", (1, 2))
        assert not is_transient(bindings.value)
    finally:
        holder.close()
        other.close()


@pytest.mark.parametrize(
    ("err", "transient"),
    [
        (asyncpg.SerializationError("could not serialize access"), True),
        (asyncpg.DeadlockDetectedError("deadlock detected"), True),
        (asyncpg.LockNotAvailableError("could not obtain lock"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg.AdminShutdownError("terminating connection"), True),
        (asyncpg.PostgresSyntaxError("syntax error"), False),
        (asyncpg.UndefinedColumnError("column does not exist"), False),
        (asyncpg.DataError("invalid input for query argument $1"), False),
        (asyncpg.InterfaceError("the server expects 1 argument, 2 were passed"), False),
    ],
)
def test_postgres_errors_are_transient_only_for_contention_and_lost_connections(
    err: Exception, transient: bool
) -> None:
    assert is_transient(err) is transient


def test_a_closed_connection_makes_an_interface_error_transient() -> None:
    err = asyncpg.InterfaceError("cannot perform operation: connection is closed")
    assert is_transient(err, connection_closed=True)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raised", "status", "attempts"),
    [
        (OperationalError("issuance transaction", None, Exception("database is locked")), 503, 5),
        (IntegrityError("issuance transaction", None, Exception("index taken")), 503, 5),
        (ProgrammingError("issuance transaction", None, Exception("syntax error")), 500, 1),
    ],
)
async def test_issuance_retries_transient_errors_and_not_programming_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    status: int,
    attempts: int,
) -> None:
    node = await _small_list_node(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'node.db'}")
    calls = 0

    async def failing(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        raise raised

    monkeypatch.setattr(issuance, "run_transaction", failing)
    try:
        resp = await node.call(
            "POST",
            "/v1/attestations",
            role="app",
            json={"national_id": national_id(1), "holder_keys": [holder_keys(1)[0].public_jwk]},
        )
        assert resp.status == status
        assert (await resp.json())["error"] == (
            "internal_error" if status == 500 else "node_unavailable"
        )
        assert calls == attempts
    finally:
        await node.client.close()
