"""``huxin node run --workers 2``: pre-forked workers sharing the port, supervised.

A real supervisor process on SQLite: both workers start and answer (over fresh connections,
which the kernel spreads over the workers' ``SO_REUSEPORT`` sockets); a one-way presentation is
accepted once by the node, not once per worker (the workers share the replay cache); a worker
killed with SIGKILL is reported and replaced; SIGTERM to the supervisor stops every worker and
the supervisor exits 0. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp.test_utils import unused_port
from click.testing import CliRunner

from node import auth
from node.cli import cli
from node.db import create_engine
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present
from tests.node.conftest import migrate_url, national_id, write_node_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = "workers-test-merchant"


def _children(pid: int) -> set[int]:
    """Live child processes of ``pid`` (from /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(what: str, condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, dict[str, str]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'node' / 'node.db'}"
    config = write_node_dir(tmp_path / "node", url, extra={"sync": {"interval_seconds": 0}})

    async def prepare() -> dict[str, str]:
        await migrate_url(url)
        engine = create_engine(url, pool_size=1)
        try:
            return {
                role.value: await auth.add_credential(
                    engine, name=f"w-{role.value}", role=role, actor="test", now=datetime.now(UTC)
                )
                for role in auth.Role
            }
        finally:
            await engine.dispose()

    tokens = asyncio.run(prepare())
    port = unused_port()
    cmd = [sys.executable, "-c", "from node.cli import main; main()", "node", "run"]
    cmd += ["--data", str(config.data_dir), "--port", str(port), "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log_path = tmp_path / "node.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, log_path.read_text()[-2000:]
            try:
                return requests.get(f"{base}/readyz", timeout=2).status_code in (200, 503)
            except requests.ConnectionError:
                return False

        _wait_for("the node answers", ready)
        yield proc, base, tokens
    finally:
        if proc.poll() is None:
            for pid in _children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=10)


def _log(tmp_path: Path) -> list[dict[str, object]]:
    lines = (tmp_path / "node.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _post(base: str, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    # A fresh connection per request: the kernel picks a worker per connection.
    resp = requests.post(
        f"{base}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Connection": "close"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert isinstance(result, dict)
    return result


def test_two_workers_serve_share_replays_restart_and_stop(
    supervised: tuple[subprocess.Popen[bytes], str, dict[str, str]], tmp_path: Path
) -> None:
    proc, base, tokens = supervised
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    for _ in range(20):
        resp = requests.get(f"{base}/healthz", headers={"Connection": "close"}, timeout=10)
        assert resp.status_code == 200
    log = _log(tmp_path)
    loops = [e for e in log if str(e.get("msg", "")).startswith("event loop:")]
    assert {e["pid"] for e in loops} == workers
    assert {e["loop"] for e in loops} <= {"uvloop", "asyncio"}

    # Issue one attestation and present it one-way (no nonce), then replay it on fresh
    # connections: the node accepts it exactly once whichever worker answers.
    nid = national_id(1)
    _post(base, "/v1/scores", tokens["office"], {"national_id": nid, "score": 135, "seq": 1})
    _post(base, "/v1/residents/consent", tokens["app"], {"national_id": nid, "granted": True})
    holder = KeySigner.generate()
    issued = _post(
        base,
        "/v1/attestations",
        tokens["app"],
        {"national_id": nid, "holder_keys": [holder.public_jwk]},
    )
    attestations = issued["attestations"]
    assert isinstance(attestations, list)
    pres = present(
        attestations[0]["sd_jwt"],
        holder,
        request=DisclosureRequest(level=True),
        audience=AUDIENCE,
        nonce=None,
        now=datetime.now(UTC),
    )
    verdicts = [
        _post(base, "/v1/verify", tokens["merchant"], {"presentation": pres, "audience": AUDIENCE})
        for _ in range(8)
    ]
    assert [v["valid"] for v in verdicts].count(True) == 1, verdicts
    assert {v["error"] for v in verdicts if not v["valid"]} == {"replayed"}

    # A worker that dies is reported and replaced.
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    _wait_for(
        "a replacement worker",
        lambda: len(_children(proc.pid)) == 2 and victim not in _children(proc.pid),
    )
    for _ in range(10):
        resp = requests.get(f"{base}/healthz", headers={"Connection": "close"}, timeout=10)
        assert resp.status_code == 200
    exited = [e for e in _log(tmp_path) if e.get("msg") == "worker exited"]
    assert [(e["pid"], e["signal"]) for e in exited] == [(victim, "SIGKILL")]

    # SIGTERM stops every worker, then the supervisor, which exits 0.
    current = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    _wait_for("every worker gone", lambda: not any(_alive(pid) for pid in current), 10)
    stopped = [e for e in _log(tmp_path) if e.get("msg") == "worker stopped"]
    assert {e["pid"] for e in stopped} == current
    assert {e["exit_code"] for e in stopped} == {0}


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_workers_option_is_a_config_error(value: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["node", "run", "--data", str(tmp_path), "--workers", value])
    assert result.exit_code == 1
    assert "error[config_error]: --workers must be a positive number or auto" in result.output
