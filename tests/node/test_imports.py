"""Bulk score imports: files (CSV, NDJSON), idempotency, resumption after a kill, HTTP bulk."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mapping.scale import builtin_scale
from node.audit import verify_chain
from node.db import create_engine
from node.imports import RecordValidator, import_file
from node.keystore import load_keys
from tests.node.conftest import Node, migrate_url, national_id, write_node_dir

pytestmark = pytest.mark.asyncio


def _write_csv(path: Path, n: int, *, dupes: int = 0) -> dict[str, int]:
    """``n`` residents; the first ``dupes`` appear again later with a newer seq."""
    final: dict[str, int] = {}
    with path.open("w") as fh:
        fh.write("national_id,score,seq\n")
        for i in range(n):
            score = (i * 37) % 201
            fh.write(f"{national_id(i)},{score},1\n")
            final[national_id(i)] = score
        for i in range(dupes):
            fh.write(f"{national_id(i)},{(i + 50) % 201},2\n")
            final[national_id(i)] = (i + 50) % 201
        for i in range(dupes):  # stale re-sends: ignored
            fh.write(f"{national_id(i)},0,1\n")
    return final


def _db_state(db: Path) -> tuple[dict[str, float], int]:
    with sqlite3.connect(db) as conn:
        scores = dict(conn.execute("SELECT resident, score FROM resident").fetchall())
        changes = conn.execute(
            "SELECT count(*) FROM audit_entry WHERE action = 'score.change'"
        ).fetchone()[0]
    return scores, int(changes)


async def test_file_import_is_idempotent(tmp_path: Path, database_url: str) -> None:
    config = write_node_dir(tmp_path / "node", database_url)
    await migrate_url(database_url)
    csv_path = tmp_path / "scores.csv"
    final = _write_csv(csv_path, 3000, dupes=200)
    ndjson = tmp_path / "more.ndjson"
    ndjson.write_text(
        "\n".join(
            json.dumps({"national_id": national_id(i), "score": 199, "seq": 9}) for i in range(10)
        )
        + "\n\n"
    )
    validate = RecordValidator(builtin_scale("shangding"), load_keys(config).hasher)
    engine = create_engine(database_url, pool_size=2)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    try:
        seen: list[int] = []
        stats = await import_file(
            engine,
            csv_path,
            validate=validate,
            actor="t",
            clock=clock,
            batch_size=500,
            progress=seen.append,
        )
        assert stats.records == 3400
        assert stats.applied == 3200
        assert sum(seen) == 3400
        again = await import_file(engine, csv_path, validate=validate, actor="t", clock=clock)
        assert again.applied == 0
        assert again.skipped == 3400
        stats = await import_file(engine, ndjson, validate=validate, actor="t", clock=clock)
        assert stats.applied == 10
        count = await verify_chain(engine)
        assert count == 3000 + 200 + 10 + 2  # changes + one import.file entry per file
    finally:
        await engine.dispose()
    del final


async def test_import_killed_midway_then_rerun(tmp_path: Path) -> None:
    db = tmp_path / "node" / "node.db"
    url = f"sqlite+aiosqlite:///{db}"
    write_node_dir(tmp_path / "node", url)
    await migrate_url(url)
    csv_path = tmp_path / "scores.csv"
    final = _write_csv(csv_path, 40_000, dupes=2_000)
    cmd = [
        sys.executable,
        "-c",
        "from node.cli import main; main()",
        "node",
        "import",
        "--data",
        str(tmp_path / "node"),
        "--batch-size",
        "500",
        "--quiet",
        str(csv_path),
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    position = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    row = conn.execute("SELECT position FROM import_checkpoint").fetchone()
                position = 0 if row is None else int(row[0])
            except sqlite3.OperationalError:
                position = 0
            if position >= 2_000:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "import finished before it could be killed; grow the file"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    scores, _ = _db_state(db)
    assert 0 < len(scores) < 40_000  # genuinely interrupted midway
    rerun = subprocess.run(cmd, env=env, capture_output=True, timeout=120, check=False)  # noqa: S603
    assert rerun.returncode == 0, rerun.stderr.decode()
    result = json.loads(rerun.stdout)
    assert result["skipped_by_checkpoint"] >= 2_000
    config_keys = load_keys(
        __import__("node.config", fromlist=["load_config"]).load_config(tmp_path / "node")
    )
    scores, changes = _db_state(db)
    assert len(scores) == 40_000
    expected = {config_keys.hasher(nid): float(score) for nid, score in final.items()}
    assert scores == expected
    assert changes == 42_000  # every change audited exactly once, none twice
    engine = create_engine(url)
    try:
        await verify_chain(engine)
    finally:
        await engine.dispose()


async def test_http_bulk_formats(node: Node) -> None:
    csv_body = "national_id,score,seq\n" + "".join(
        f"{national_id(i)},{100 + i},1\n" for i in range(50)
    )
    stats = await node.ok(
        "POST",
        "/v1/scores/bulk",
        role="office",
        data=csv_body,
        headers={"Content-Type": "text/csv"},
    )
    assert stats["applied"] == 50
    ndjson = "".join(
        json.dumps({"national_id": national_id(i), "score": 100 + i, "seq": 2}) + "\n"
        for i in range(60)
    )
    stats = await node.ok(
        "POST",
        "/v1/scores/bulk",
        role="office",
        data=ndjson,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert stats["applied"] == 60
    again = await node.ok(
        "POST",
        "/v1/scores/bulk",
        role="office",
        data=ndjson,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert again["applied"] == 0
    assert again["unchanged"] == 60
    body = {"records": [{"national_id": national_id(1), "score": 180, "seq": 3}]}
    stats = await node.ok("POST", "/v1/scores/bulk", role="office", json=body)
    assert stats["applied"] == 1


async def test_parallel_parsing_matches_and_reports_bad_records(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'node' / 'node.db'}"
    config = write_node_dir(tmp_path / "node", url)
    await migrate_url(url)
    csv_path = tmp_path / "scores.csv"
    _write_csv(csv_path, 2500, dupes=100)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"national_id,score,seq\n{national_id(1)},100,7\n\n{national_id(2)},250,7\n")
    validate = RecordValidator(builtin_scale("shangding"), load_keys(config).hasher)
    engine = create_engine(url)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    try:
        stats = await import_file(
            engine,
            csv_path,
            validate=validate,
            actor="t",
            clock=clock,
            batch_size=400,
            parallel=True,
        )
        assert (stats.records, stats.applied) == (2700, 2600)
        from node.errors import ScoreRejectedError

        with pytest.raises(ScoreRejectedError, match=r"bad\.csv line 4"):
            await import_file(engine, bad, validate=validate, actor="t", clock=clock, parallel=True)
        await verify_chain(engine)
    finally:
        await engine.dispose()
