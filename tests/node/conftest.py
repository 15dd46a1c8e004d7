"""Node test harness: a data directory, a database (SQLite or PostgreSQL), a running app.

Every HTTP test runs once on SQLite and once on PostgreSQL (``database_url`` is parametrized).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from node import appkeys, auth, keystore
from node.app import create_app
from node.config import NodeConfig, load_config, write_config
from node.db import create_engine, migrate
from protocol.jose import KeySigner

if TYPE_CHECKING:  # tests.node.sim imports this module
    from tests.node.sim import SimFederation

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PUBLIC_URL = "https://zhengzhou.node.test"


@dataclass
class FakeClock:
    """A settable clock for the node under test."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The node database URL: SQLite in ``tmp_path``, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


def write_node_dir(
    data_dir: Path, database_url: str, *, extra: Mapping[str, Mapping[str, object]] = {}
) -> NodeConfig:
    """Create a node data directory (config and keys), like ``huxin node init``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, dict[str, object]] = {
        "node": {"city": "zhengzhou", "public_url": PUBLIC_URL},
        "database": {"url": database_url},
        "status": {"list_size": 4096},
    }
    for section, body in extra.items():
        values.setdefault(section, {}).update(body)
    write_config(data_dir, values)
    config = load_config(data_dir)
    keystore.create_keys(config)
    return config


async def migrate_url(url: str) -> None:
    """Bring a database to the newest schema."""
    engine = create_engine(url, pool_size=1)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


@dataclass
class Node:
    """A node application under test with one credential per role."""

    client: TestClient[Any, Any]
    config: NodeConfig
    clock: FakeClock
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def app(self) -> Any:
        return self.client.app

    async def call(
        self,
        method: str,
        path: str,
        *,
        role: str | None = None,
        json: object = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ClientResponse:
        """One request, with the bearer token of ``role`` when given."""
        hdrs = dict(headers or {})
        if role is not None:
            hdrs["Authorization"] = f"Bearer {self.tokens[role]}"
        if json is not None:
            return await self.client.request(method, path, json=json, headers=hdrs)
        return await self.client.request(method, path, data=data, headers=hdrs)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request that must succeed; its JSON body."""
        resp = await self.call(method, path, **kwargs)
        body = await resp.json()
        assert resp.status in (200, 201), body
        return body


async def start_node(config: NodeConfig, clock: FakeClock, *, credentials: bool = True) -> Node:
    """Start an app for ``config`` on a test server and add one credential per role."""
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(config, clock=clock)))
    await client.start_server()
    node = Node(client=client, config=config, clock=clock)
    engine = client.app[appkeys.ENGINE]
    for role in auth.Role if credentials else ():
        node.tokens[role.value] = await auth.add_credential(
            engine, name=f"test-{role.value}", role=role, actor="test", now=clock()
        )
    return node


@pytest_asyncio.fixture
async def node(tmp_path: Path, database_url: str) -> AsyncIterator[Node]:
    """A fresh node (Zhengzhou, 商鼎分) on the parametrized database."""
    config = write_node_dir(tmp_path / "node", database_url)
    await migrate_url(database_url)
    started = await start_node(config, FakeClock())
    try:
        yield started
    finally:
        await started.client.close()


def holder_keys(n: int) -> list[KeySigner]:
    """``n`` fresh holder key pairs (the wallet's side)."""
    return [KeySigner.generate() for _ in range(n)]


NationalId = Callable[[int], str]


def national_id(i: int) -> str:
    """A synthetic 18-character national ID."""
    return f"41010219900101{i:04d}"


@pytest.fixture
def sim_extra() -> dict[str, dict[str, object]] | None:
    """Extra node.toml sections for every node of :func:`sim`; a test module may override it."""
    return None


@pytest_asyncio.fixture
async def sim(
    tmp_path: Path, sim_extra: dict[str, dict[str, object]] | None
) -> AsyncIterator[SimFederation]:
    """The in-memory five-city federation of ``tests/node/sim.py``, started, closed after."""
    from tests.node.sim import SimFederation

    federation = SimFederation(tmp_path)
    try:
        await federation.start(extra=sim_extra)
        yield federation
    finally:
        await federation.close()
