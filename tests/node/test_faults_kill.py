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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp.test_utils import unused_port

from node import auth
from node.config import load_config
from node.db import create_engine
from node.keystore import load_keys
from protocol.jose import KeySigner
from protocol.keys import StaticKeyResolver
from protocol.status_list import StatusList, verify_status_list_token
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

    def start(self, failpoints: str = "") -> None:
        cmd = [sys.executable, "-c", "from node.cli import main; main()", "node", "run"]
        cmd += ["--data", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HUXIN_FAILPOINTS": failpoints}
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

    def log_size(self) -> int:
        return (self.data_dir / "node.log").stat().st_size

    def wait_for_failpoint(self, name: str, since: int, timeout: float = 30) -> None:
        """Wait until the node logs that it reached failpoint ``name`` (after offset ``since``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (self.data_dir / "node.log").open("rb") as log:
                log.seek(since)
                for line in log:
                    with contextlib.suppress(ValueError):
                        entry = json.loads(line)
                        if entry.get("msg") == "failpoint reached" and entry["failpoint"] == name:
                            return
            assert self.proc is not None
            assert self.proc.poll() is None, "the node exited"
            time.sleep(0.02)
        raise AssertionError(f"the node did not reach failpoint {name} within {timeout} s")

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
        lst = _verified(node, resp.text, list_id)
        for (lid, idx), revoked in table.items():
            if lid == list_id:
                assert lst.status(idx) == (1 if revoked else 0), (lid, idx, revoked)
    return table


def _verified(node: NodeProcess, token: str, list_id: int) -> StatusList:
    """The list of a served token, after checking its signature with the node's key."""
    config = load_config(node.data_dir)
    key = load_keys(config).signer.public_key
    verified = verify_status_list_token(
        token,
        keys=StaticKeyResolver.of({config.issuer: key}),
        uri=f"{config.public_url}/status/{list_id}",
        allowed_algorithms=frozenset({"ES256", "EdDSA"}),
        now=datetime.now(UTC),
        issuer=config.issuer,
    )
    return verified.status_list


def _post(
    node: NodeProcess, tokens: dict[str, str], role: str, path: str, body: dict[str, Any]
) -> Any:
    resp = requests.post(f"{node.url}{path}", json=body, headers=_auth(tokens, role), timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _enrol(node: NodeProcess, tokens: dict[str, str], nid: str, score: int) -> None:
    _post(node, tokens, "office", "/v1/scores", {"national_id": nid, "score": score, "seq": 1})
    _post(node, tokens, "app", "/v1/residents/consent", {"national_id": nid, "granted": True})


def _in_background(
    call: Callable[[], requests.Response],
) -> tuple[threading.Thread, dict[str, Any]]:
    """Run one request in a thread; the dict gets its ``status`` and ``body``, or ``error``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            resp = call()
            outcome["status"], outcome["body"] = resp.status_code, resp.text
        except requests.RequestException as err:
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _issue_response(
    node: NodeProcess, tokens: dict[str, str], nid: str, timeout: float = 10
) -> requests.Response:
    keys = [KeySigner.generate().public_jwk for _ in range(BATCH)]
    return requests.post(
        f"{node.url}/v1/attestations",
        json={"national_id": nid, "holder_keys": keys},
        headers=_auth(tokens, "app"),
        timeout=timeout,
    )


def _issue(node: NodeProcess, tokens: dict[str, str], nid: str) -> list[tuple[int, int]]:
    resp = _issue_response(node, tokens, nid)
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


def test_killed_while_publishing_a_status_list(
    node_proc: tuple[NodeProcess, dict[str, str], Path],
) -> None:
    """SIGKILL inside status list publication (failpoint ``status.publish``: read and signed,
    not yet cached or served), while another revocation is accepted meanwhile."""
    node, tokens, db = node_proc
    node.start(failpoints="status.publish=sleep:60")
    a, b = national_id(1), national_id(2)
    issued: dict[str, list[tuple[int, int]]] = {}
    for nid in (a, b):
        _enrol(node, tokens, nid, score=150)
        issued[nid] = [ref for _ in range(3) for ref in _issue(node, tokens, nid)]
    withdrawn = _post(
        node, tokens, "app", "/v1/residents/consent", {"national_id": a, "granted": False}
    )
    assert withdrawn["revoked"] == 3 * BATCH
    list_id = issued[a][0][0]

    since = node.log_size()
    fetch, outcome = _in_background(
        lambda: requests.get(f"{node.url}/status/{list_id}", timeout=60)
    )
    node.wait_for_failpoint("status.publish", since)
    # While that list is being published, b's score falls from level 5 to level 2: accepted.
    fell = _post(node, tokens, "office", "/v1/scores", {"national_id": b, "score": 90, "seq": 2})
    assert fell["revoked"] == 3 * BATCH
    node.kill()
    fetch.join(10)
    assert not fetch.is_alive()
    assert "status" not in outcome, "the dying publication served something"

    node.start()
    table = _consistent(node, db)  # every served list verifies and agrees with the table
    assert {ref for ref, revoked in table.items() if revoked} == set(issued[a]) | set(issued[b])
    after = _issue(node, tokens, b)
    assert not set(after) & set(table), "an index handed out before the kill was reused"
    _consistent(node, db)


def test_killed_between_index_reservation_and_commit(
    node_proc: tuple[NodeProcess, dict[str, str], Path],
) -> None:
    """SIGKILL inside issuance (failpoint ``issuance.commit``: indices reserved, attestations
    signed, audit entry written, not committed): the request leaves nothing behind."""
    node, tokens, db = node_proc
    node.start()
    nid = national_id(3)
    _enrol(node, tokens, nid, score=130)
    accepted = [ref for _ in range(2) for ref in _issue(node, tokens, nid)]
    node.kill()

    node.start(failpoints="issuance.commit=sleep:60")
    since = node.log_size()
    request, outcome = _in_background(lambda: _issue_response(node, tokens, nid))
    node.wait_for_failpoint("issuance.commit", since)
    node.kill()
    request.join(10)
    assert not request.is_alive()
    assert "status" not in outcome, "the killed issuance answered"

    node.start()
    table = _consistent(node, db)
    assert set(table) == set(accepted), "the uncommitted issuance left rows behind"
    after = _issue(node, tokens, nid)
    assert not set(after) & set(accepted), "an index handed out before the kill was reused"
    audit = requests.get(f"{node.url}/v1/audit/verify", headers=_auth(tokens, "office"), timeout=30)
    assert audit.status_code == 200, audit.text
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (entries,) = conn.execute(
            "SELECT count(*) FROM audit_entry WHERE action = 'attestation.issue'"
        ).fetchone()
    assert entries == 3  # the two accepted requests and the one after the restart


def test_killed_before_a_bulk_import_commits(
    node_proc: tuple[NodeProcess, dict[str, str], Path],
) -> None:
    """SIGKILL inside a bulk import (failpoint ``import.commit``: every record written, not
    committed): nothing of it is there afterwards, and resending applies all of it."""
    node, tokens, db = node_proc
    node.start(failpoints="import.commit=sleep:60")
    n = 2_000
    body = "".join(
        json.dumps({"national_id": national_id(i), "score": i % 200, "seq": 1}) + "\n"
        for i in range(n)
    ).encode()
    headers = {**_auth(tokens, "office"), "Content-Type": "application/x-ndjson"}
    since = node.log_size()
    push, outcome = _in_background(
        lambda: requests.post(f"{node.url}/v1/scores/bulk", data=body, headers=headers, timeout=60)
    )
    node.wait_for_failpoint("import.commit", since)
    node.kill()
    push.join(10)
    assert "status" not in outcome
    node.start()
    assert _residents(db) == 0
    resp = requests.post(f"{node.url}/v1/scores/bulk", data=body, headers=headers, timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.json()["applied"] == n
    assert _residents(db) == n
