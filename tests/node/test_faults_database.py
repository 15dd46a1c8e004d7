"""The database unavailable for a while: the node answers 503 and recovers by itself.

PostgreSQL is reached through a TCP relay on 127.0.0.1 that the test takes down (listener
closed, every open connection cut, so new connections are refused) and brings back on the same
port. Meanwhile every database-backed route answers 503 ``node_unavailable``, ``/readyz`` says
``not_ready`` and ``/healthz`` stays up; afterwards the node serves again without a restart,
and every write it accepted before the outage is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from aiohttp.test_utils import unused_port
from sqlalchemy.engine import make_url

from tests.node.conftest import FakeClock, migrate_url, national_id, start_node, write_node_dir

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres]


class TcpRelay:
    """A TCP relay to ``upstream`` that can be taken down and brought back on the same port."""

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.port = port
        self.upstream = upstream
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


async def test_database_down_then_back(tmp_path: Path, postgres_url: str) -> None:
    real = make_url(postgres_url)
    relay = TcpRelay(unused_port(), (real.host or "127.0.0.1", real.port or 5432))
    await relay.up()
    url = real.set(port=relay.port).render_as_string(hide_password=False)
    await migrate_url(postgres_url)
    config = write_node_dir(tmp_path / "node", url)
    node = await start_node(config, FakeClock())
    try:
        accepted = {}
        for i in range(5):
            stats = await node.ok(
                "POST",
                "/v1/scores",
                role="office",
                json={"national_id": national_id(i), "score": 100 + i, "seq": 1},
            )
            assert stats["applied"] == 1
            accepted[national_id(i)] = 100 + i

        await relay.down()
        for _ in range(3):  # pooled connections die first, then new ones are refused
            resp = await node.call(
                "POST",
                "/v1/scores",
                role="office",
                json={"national_id": national_id(99), "score": 150, "seq": 1},
            )
            assert resp.status == 503
            assert (await resp.json())["error"] == "node_unavailable"
        for path in ("/.well-known/huxin-node", "/status/1"):
            resp = await node.call("GET", path)
            assert (resp.status, (await resp.json())["error"]) == (503, "node_unavailable"), path
        resp = await node.call("POST", "/v1/residents/me", role="app", json={"national_id": "x"})
        assert resp.status == 503  # the credential lookup itself needs the database
        ready = await node.call("GET", "/readyz")
        body = await ready.json()
        assert ready.status == 503
        assert body["status"] == "not_ready"
        assert body["checks"]["database"] is False
        assert (await node.call("GET", "/healthz")).status == 200
        metrics = await (await node.call("GET", "/metrics")).text()
        assert 'route="scores_push",status="503"' in metrics

        await relay.up()
        for _ in range(20):  # recovers by itself: no restart, a bounded number of requests
            ready = await node.call("GET", "/readyz")
            if ready.status == 200:
                break
            await asyncio.sleep(0.1)
        assert ready.status == 200, await ready.json()
        for nid, score in accepted.items():
            me = await node.ok("POST", "/v1/residents/me", role="app", json={"national_id": nid})
            assert me["score"] == score
        refused = await node.call(
            "POST", "/v1/residents/me", role="app", json={"national_id": national_id(99)}
        )
        assert refused.status == 404  # the write refused during the outage left nothing behind
        stats = await node.ok(
            "POST",
            "/v1/scores",
            role="office",
            json={"national_id": national_id(99), "score": 150, "seq": 1},
        )
        assert stats["applied"] == 1
    finally:
        await node.client.close()
        await relay.down()
