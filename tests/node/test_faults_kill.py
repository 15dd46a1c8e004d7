"""A real ``huxin node run`` killed (SIGKILL) during issuance and during revocation/publication.

The node runs as a subprocess on SQLite. Several clients issue batches concurrently and the node
is killed while requests are in flight; after a restart every attestation a client received is
in the attestations table, no status index appears twice, attestations issued after the restart
never reuse an index handed out before, and the signed status list agrees with the table. Then a
consent withdrawal (revoking every attestation, which re-publishes the list) races a second
kill: after the next restart the list shows exactly the revocations the table holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from aiohttp.test_utils import unused_port

from node import auth
from node.db import create_engine
from protocol.jose import KeySigner, b64u_decode
from protocol.status_list import decode_status_list
from tests.node.conftest import migrate_url, national_id, write_node_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BATCH = 8


class NodeProcess:
    """``huxin node run`` on a port of its own, started and SIGKILLed by the test."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-c", "from node.cli import main; main()", "node", "run"]
        cmd += ["--data", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with (self.data_dir / "node.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)  # noqa: S603
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.data_dir / "node.log").read_text()[-2000:]
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code in (200, 503):
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError("the node did not start within 30 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def node_proc(tmp_path: Path) -> Iterator[tuple[NodeProcess, dict[str, str], Path]]:
    db = tmp_path / "node" / "node.db"
    url = f"sqlite+aiosqlite:///{db}"
    config = write_node_dir(tmp_path / "node", url)

    async def prepare() -> dict[str, str]:
        await migrate_url(url)
        engine = create_engine(url, pool_size=1)
        try:
            return {
                role.value: await auth.add_credential(
                    engine,
                    name=f"kill-{role.value}",
                    role=role,
                    actor="test",
                    now=datetime.now(UTC),
                )
                for role in auth.Role
            }
        finally:
            await engine.dispose()

    tokens = asyncio.run(prepare())
    proc = NodeProcess(config.data_dir, unused_port())
    try:
        yield proc, tokens, db
    finally:
        proc.stop()


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def _table(db: Path) -> dict[tuple[int, int], bool]:
    """``(list_id, idx) -> revoked`` for every attestation row."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT list_id, idx, revoked_at FROM attestation").fetchall()
    table = {(int(r[0]), int(r[1])): r[2] is not None for r in rows}
    assert len(table) == len(rows), "a status index appears twice"
    return table


def _consistent(node: NodeProcess, db: Path) -> dict[tuple[int, int], bool]:
    """The table, after checking every list the node publishes agrees with it."""
    table = _table(db)
    for list_id in {key[0] for key in table}:
        resp = requests.get(f"{node.url}/status/{list_id}", timeout=10)
        assert resp.status_code == 200, resp.text
        payload = json.loads(b64u_decode(resp.text.split(".")[1]))
        lst = decode_status_list(payload["status_list"])
        for (lid, idx), revoked in table.items():
            if lid == list_id:
                assert lst.status(idx) == (1 if revoked else 0), (lid, idx, revoked)
    return table


def _issue(node: NodeProcess, tokens: dict[str, str], nid: str) -> list[tuple[int, int]]:
    keys = [KeySigner.generate().public_jwk for _ in range(BATCH)]
    resp = requests.post(
        f"{node.url}/v1/attestations",
        json={"national_id": nid, "holder_keys": keys},
        headers=_auth(tokens, "app"),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    out = []
    for att in resp.json()["attestations"]:
        uri, idx = att["status"]["uri"], att["status"]["idx"]
        out.append((int(uri.rsplit("/", 1)[1]), int(idx)))
    return out


def test_killed_during_issuance_then_during_revocation(
    node_proc: tuple[NodeProcess, dict[str, str], Path],
) -> None:
    node, tokens, db = node_proc
    node.start()
    nid = national_id(7)
    resp = requests.post(
        f"{node.url}/v1/scores",
        json={"national_id": nid, "score": 150, "seq": 1},
        headers=_auth(tokens, "office"),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    resp = requests.post(
        f"{node.url}/v1/residents/consent",
        json={"national_id": nid, "granted": True},
        headers=_auth(tokens, "app"),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text

    # Issuance under way from four clients; the node is killed with requests in flight.
    handed_out: list[tuple[int, int]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> int:
        done = 0
        while not stop.is_set() and done < 200:
            try:
                got = _issue(node, tokens, nid)
            except (requests.RequestException, AssertionError):
                return done  # the node died under us
            with lock:
                handed_out.extend(got)
            done += 1
        return done

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(handed_out) < 20 * BATCH:
            time.sleep(0.01)
        node.kill()
        stop.set()
        for f in futures:
            f.result(timeout=30)
    before = set(handed_out)
    assert len(before) == len(handed_out) >= 20 * BATCH  # no index handed out twice

    node.start()
    table = _consistent(node, db)
    assert before <= set(table), "an attestation a client received was lost"
    after: list[tuple[int, int]] = []
    for _ in range(3):
        after.extend(_issue(node, tokens, nid))
    assert not set(after) & set(table), "an index handed out before the kill was reused"
    table = _consistent(node, db)
    assert set(after) <= set(table)

    # A consent withdrawal revokes every attestation and re-publishes; kill right behind it.
    resp = requests.post(
        f"{node.url}/v1/residents/consent",
        json={"national_id": nid, "granted": False},
        headers=_auth(tokens, "app"),
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    revoked = resp.json()["revoked"]

    def fetch_status() -> None:
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{node.url}/status/1", timeout=5)

    status_fetch = threading.Thread(target=fetch_status, daemon=True)
    status_fetch.start()  # publication of the new version under way ...
    node.kill()  # ... when the node dies
    status_fetch.join(10)
    node.start()
    table = _consistent(node, db)
    assert revoked == len(table)  # the accepted withdrawal revoked everything, durably
    assert all(table.values())


def _residents(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM resident").fetchone()[0])


def test_killed_during_a_bulk_import(node_proc: tuple[NodeProcess, dict[str, str], Path]) -> None:
    """A bulk request is one transaction: after a kill it is wholly there or wholly absent."""
    node, tokens, db = node_proc
    node.start()
    n = 20_000
    body = "".join(
        json.dumps({"national_id": national_id(i), "score": i % 200, "seq": 1}) + "\n"
        for i in range(n)
    )
    outcome: dict[str, object] = {}

    def push() -> None:
        try:
            resp = requests.post(
                f"{node.url}/v1/scores/bulk",
                data=body.encode(),
                headers={**_auth(tokens, "office"), "Content-Type": "application/x-ndjson"},
                timeout=30,
            )
            outcome["status"] = resp.status_code
        except requests.RequestException as err:
            outcome["error"] = err

    sender = threading.Thread(target=push)
    sender.start()
    time.sleep(0.3)  # the body is being parsed, validated or written
    node.kill()
    sender.join(30)
    node.start()
    count = _residents(db)
    if outcome.get("status") == 200:
        assert count == n  # it had finished: all of it is durable
    else:
        assert count in (0, n), count  # killed midway: nothing half-applied
    # Resending the same request is always safe (idempotent by seq) and completes it.
    resp = requests.post(
        f"{node.url}/v1/scores/bulk",
        data=body.encode(),
        headers={**_auth(tokens, "office"), "Content-Type": "application/x-ndjson"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    stats = resp.json()
    assert stats["applied"] + stats["unchanged"] == n
    assert stats["applied"] == n - count
    assert _residents(db) == n
    audit = requests.get(f"{node.url}/v1/audit/verify", headers=_auth(tokens, "office"), timeout=30)
    assert audit.status_code == 200, audit.text
