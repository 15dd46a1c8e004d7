"""``huxin node run --workers 2``: pre-forked workers sharing the port, supervised.

A real supervisor process on SQLite: both workers start and answer (over fresh connections,
which the kernel spreads over the workers' ``SO_REUSEPORT`` sockets); a one-way presentation is
accepted once by the node, not once per worker (the workers share the replay cache); a worker
killed with SIGKILL is reported and replaced; SIGTERM to the supervisor stops every worker and
the supervisor exits 0. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp.test_utils import unused_port
from click.testing import CliRunner
from prometheus_client.mmap_dict import MmapedDict

from certs.update import initial_root, member_entry, parse_member_entry
from node import auth
from node.cli import cli
from node.db import create_engine
from node.metrics import MULTIPROC_ENV
from node.server import METRICS_DIR
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present
from tests.certs.sim import Federation as CertsFederation
from tests.certs.sim import sign_root
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


@contextlib.contextmanager
def _node(
    tmp_path: Path,
    extra: dict[str, dict[str, object]],
    before: Callable[[Path], None] | None = None,
    environ: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], str, dict[str, str]]]:
    """``huxin node run --workers 2`` on a fresh SQLite node; ``before`` sees the data directory
    before the node starts; ``environ`` adds to its environment."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'node' / 'node.db'}"
    config = write_node_dir(tmp_path / "node", url, extra=extra)
    if before is not None:
        before(config.data_dir)

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
    env.pop(MULTIPROC_ENV, None)
    env.update(environ or {})
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
        _wait_for("two workers", lambda: len(_children(proc.pid)) == 2)
        yield proc, base, tokens
    finally:
        if proc.poll() is None:
            for pid in _children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, dict[str, str]]]:
    with _node(tmp_path, {"sync": {"interval_seconds": 0}}) as node:
        yield node


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


# --------------------------------------------------------------------------------------------
# What the workers share: sync leadership, office changes, metrics


def _worker_pids(tmp_path: Path) -> dict[int, int]:
    """Worker index -> pid of the newest process started for it (from the node's log)."""
    return {
        int(e["worker"]): int(e["pid"])  # type: ignore[call-overload]
        for e in _log(tmp_path)
        if e.get("msg") == "worker started"
    }


def _socket_owner(client_port: int, server_port: int) -> int | None:
    """Which process holds the TCP connection from ``client_port`` to ``server_port``."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if (
                    int(local.rsplit(":", 1)[1], 16) == client_port
                    and int(remote.rsplit(":", 1)[1], 16) == server_port
                ):
                    inode = fields[9]
    if inode is None:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return int(proc.name)
    return None


class _FakePeer:
    """A member node that answers 404 to everything and notes which worker process asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int | None]] = []
        self._lock = threading.Lock()
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner = _socket_owner(self.client_address[1], peer.port)
                with peer._lock:
                    peer.requests.append((self.path, owner))
                body = b'{"error": "not_found"}'
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def materials(self) -> list[int | None]:
        with self._lock:
            return [owner for path, owner in self.requests if path == "/federation/material"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pin_root(data_dir: Path, peer_url: str) -> None:
    """A federation root of this node's city and one peer (wuhan) served by ``peer_url``."""
    fed = CertsFederation()
    members = [fed["zhengzhou"].entry()]
    wuhan = fed["wuhan"]
    entry = member_entry(
        city="wuhan",
        name_zh=wuhan.name_zh,
        name_en=wuhan.name_en,
        issuer=peer_url,
        node_url=peer_url,
        scale_id=wuhan.scale_id,
        ca_certificate=wuhan.ca_cert,
        governance_keys=[wuhan.governance.public_key],
    )
    members.append(parse_member_entry(json.dumps(entry).encode(), federation=fed.federation))
    root = initial_root(
        federation=fed.federation,
        members=members,
        threshold=2,
        expires=datetime.now(UTC) + timedelta(days=365),
    )
    signed = sign_root(root, fed.governance("zhengzhou", "wuhan"))
    (data_dir / "federation-root.json").write_bytes(signed)


def _fresh_get(base: str, path: str) -> requests.Response:
    return requests.get(f"{base}{path}", headers={"Connection": "close"}, timeout=10)


def test_one_worker_syncs_and_the_others_take_its_copies(tmp_path: Path) -> None:
    peer = _FakePeer()
    try:
        extra: dict[str, dict[str, object]] = {"sync": {"interval_seconds": 1, "attempts": 1}}
        with _node(tmp_path, extra, lambda d: _pin_root(d, peer.url)) as (proc, base, _):
            leader = _worker_pids(tmp_path)[0]
            _wait_for("three sync rounds", lambda: len(peer.materials()) >= 3, 30)
            owners = peer.materials()
            # Every round came from worker 0; one syncing worker makes one request a round.
            assert set(owners) == {leader}, (owners, leader)

            # The other worker reports the leader's peer state (from sync.dir).
            def every_worker_reports_the_failure() -> bool:
                for _ in range(16):
                    body = _fresh_get(base, "/readyz").json()
                    wuhan = body["federation"]["peers"]["wuhan"]
                    if wuhan["last_error"] != "peer_http_error" or wuhan["errors"] < 1:
                        return False
                return True

            _wait_for("the peer state on every worker", every_worker_reports_the_failure, 10)
            # Any worker's /metrics: the leader's rounds, the peer down, root version 1.
            for _ in range(6):
                samples = _samples(base)
                assert samples["huxin_sync_rounds_total"] >= 3
                assert samples['huxin_sync_peer_up{peer="wuhan"}'] == 0
                assert samples["huxin_federation_root_version"] == 1

            # The leader's replacement leads: rounds continue from it, and only from it.
            os.kill(leader, signal.SIGKILL)
            _wait_for(
                "a replacement worker 0",
                lambda: (
                    _worker_pids(tmp_path)[0] != leader
                    and len(_children(proc.pid)) == 2
                    and leader not in _children(proc.pid)
                ),
            )
            successor = _worker_pids(tmp_path)[0]
            done = len(peer.materials())
            _wait_for("two rounds of the new leader", lambda: len(peer.materials()) >= done + 2)
            assert set(peer.materials()[done:]) == {successor}
    finally:
        peer.close()


def _per_worker(data_dir: Path, metric: str, labels: dict[str, str]) -> dict[int, float]:
    """``metric``'s value with ``labels`` in each worker's own multiprocess file."""
    out: dict[int, float] = {}
    for item in (data_dir / METRICS_DIR).glob("counter_*.db"):
        pid = int(item.stem.rsplit("_", 1)[1])
        for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(item)):  # type: ignore[no-untyped-call]
            _metric, name, found, _help = json.loads(key)
            if name == metric and found == labels:
                out[pid] = out.get(pid, 0.0) + value
    return out


def _scrape(base: str, sample: str) -> float:
    """``sample``'s value in ``/metrics`` (over a fresh connection); 0 when absent."""
    return _samples(base).get(sample, 0.0)


def _samples(base: str) -> dict[str, float]:
    text = _fresh_get(base, "/metrics").text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_office_changes_metrics_and_memtrace_reach_every_worker(tmp_path: Path) -> None:
    memtrace = {
        "HUXIN_TRACEMALLOC": str(tmp_path / "mem.txt"),
        "HUXIN_TRACEMALLOC_INTERVAL": "0.2",
        "HUXIN_TRACEMALLOC_FRAMES": "0",
    }
    with _node(tmp_path, {"sync": {"interval_seconds": 0}}, environ=memtrace) as node:
        _office_changes_and_metrics(tmp_path, *node)


def _office_changes_and_metrics(
    tmp_path: Path, proc: subprocess.Popen[bytes], base: str, tokens: dict[str, str]
) -> None:
    data_dir = tmp_path / "node"
    workers = _children(proc.pid)
    # Each worker traces itself and writes its own report (the supervisor does not trace).
    pids = _worker_pids(tmp_path)

    def reports() -> bool:
        for index, pid in pids.items():
            path = tmp_path / f"mem.txt.{index}"
            if not path.exists() or f"=== pid={pid} " not in path.read_text():
                return False
        return True

    _wait_for("a memtrace report from each worker", reports, 10)
    assert not (tmp_path / "mem.txt").exists()

    # Requests counted by the worker that answered; /metrics from any worker sums them all.
    for _ in range(30):
        assert _fresh_get(base, "/healthz").status_code == 200
    healthz = {"route": "healthz", "status": "200"}
    counted = _per_worker(data_dir, "huxin_http_requests_total", healthz)
    assert set(counted) == workers, counted  # both workers answered some
    assert sum(counted.values()) == 30
    sample = 'huxin_http_requests_total{route="healthz",status="200"}'
    assert {_scrape(base, sample) for _ in range(8)} == {30.0}

    # A catalogue replaced through one worker is served by every worker.
    doc = _fresh_get(base, "/incentives").json()
    doc["version"] = "workers-test"
    resp = requests.put(
        f"{base}/v1/incentives",
        json=doc,
        headers={"Authorization": f"Bearer {tokens['office']}", "Connection": "close"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    route = {"route": "incentives", "status": "200"}
    before = _per_worker(data_dir, "huxin_http_requests_total", route)

    def every_worker_serves_it() -> bool:
        return all(
            _fresh_get(base, "/incentives").json()["version"] == "workers-test" for _ in range(16)
        )

    _wait_for("the new catalogue on every worker", every_worker_serves_it, 5)
    after = _per_worker(data_dir, "huxin_http_requests_total", route)
    assert {pid for pid in workers if after.get(pid, 0) > before.get(pid, 0)} == workers
    # A worker that exits leaves its counts in the node's totals.
    os.kill(min(workers), signal.SIGKILL)
    _wait_for("a replacement worker", lambda: min(workers) not in _children(proc.pid))
    _wait_for("two workers", lambda: len(_children(proc.pid)) == 2)
    assert _scrape(base, sample) == 30.0
