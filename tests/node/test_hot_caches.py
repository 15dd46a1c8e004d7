"""The node's in-process caches on the request path, and how stale they may be.

Status lists for ``/v1/verify``: a revocation through this replica shows at once, through
another replica sharing the database within ``status.source_refresh_seconds``. Credentials: one
revoked through this process stops at once, one revoked elsewhere within ``auth.cache_seconds``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import update

from node import appkeys, auth
from node.db import create_engine
from node.models import CREDENTIALS
from protocol.presentation import DisclosureRequest, present
from tests.node.conftest import FakeClock, Node, migrate_url, start_node, write_node_dir
from tests.node.test_api import _issue, _resident

pytestmark = pytest.mark.asyncio

REFRESH = 2


@pytest_asyncio.fixture
async def replicas(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Node, Node]]:
    """Two replicas of one node on one database, one clock."""
    config = write_node_dir(
        tmp_path / "node",
        database_url,
        extra={"status": {"source_refresh_seconds": REFRESH, "list_size": 64}},
    )
    await migrate_url(database_url)
    clock = FakeClock()
    a = await start_node(config, clock)
    b = await start_node(config, clock, credentials=False)
    b.tokens = a.tokens  # one credential store: the shared database
    try:
        yield a, b
    finally:
        await a.client.close()
        await b.client.close()


async def _verify(node: Node, att: dict[str, Any], signer: Any, nonce: str) -> dict[str, Any]:
    pres = present(
        att["sd_jwt"],
        signer,
        request=DisclosureRequest(level=True),
        audience="hz-library",
        nonce=nonce,
        now=node.clock(),
    )
    body = {"presentation": pres, "audience": "hz-library", "nonce": nonce}
    result: dict[str, Any] = await node.ok("POST", "/v1/verify", role="merchant", json=body)
    return result


async def test_revocation_shows_here_at_once_and_on_the_other_replica_within_refresh(
    replicas: tuple[Node, Node],
) -> None:
    a, b = replicas
    nid = await _resident(a, 1, 150)
    signers, atts = await _issue(a, nid, 6)
    # Both replicas have the lists in memory.
    assert (await _verify(a, atts[0], signers[0], "a-0"))["valid"] is True
    assert (await _verify(b, atts[1], signers[1], "b-1"))["valid"] is True

    await a.ok(
        "POST", "/v1/residents/consent", role="app", json={"national_id": nid, "granted": False}
    )
    # Replica A revoked: its next verdict follows at once.
    assert (await _verify(a, atts[2], signers[2], "a-2"))["error"] == "revoked"
    # Replica B keeps its copy for the refresh window, then asks the database again.
    a.clock.advance(seconds=REFRESH - 1)
    assert (await _verify(b, atts[3], signers[3], "b-3"))["valid"] is True
    a.clock.advance(seconds=1)
    assert (await _verify(b, atts[4], signers[4], "b-4"))["error"] == "revoked"


async def test_a_list_opened_here_is_served_at_once(replicas: tuple[Node, Node]) -> None:
    a, _ = replicas
    nid = await _resident(a, 2, 150)
    signers, atts = await _issue(a, nid, 1)
    assert (await _verify(a, atts[0], signers[0], "n-0"))["valid"] is True
    # Issue until issuance rolls over to a new list (list_size 64: closed at 32 indices).
    for _ in range(3):
        more_signers, more = await _issue(a, nid, 20)
    assert more[-1]["status"]["uri"] != atts[0]["status"]["uri"]
    assert (await _verify(a, more[-1], more_signers[-1], "n-1"))["valid"] is True


async def test_credential_revoked_here_stops_at_once(node: Node) -> None:
    await node.ok("GET", "/v1/audit/verify", role="office")  # remembered now
    await auth.revoke_credential(
        node.app[appkeys.ENGINE], name="test-office", actor="test", now=node.clock()
    )
    resp = await node.call("GET", "/v1/audit/verify", role="office")
    assert resp.status == 401


async def test_every_spelling_of_a_remembered_credential_is_forgotten_at_revocation(
    node: Node,
) -> None:
    token = node.tokens["office"]
    spellings = [f"Bearer {token}", f"bearer   {token}  "]
    for header in spellings:  # each spelling is remembered on its own
        await node.ok("GET", "/v1/audit/verify", headers={"Authorization": header})
    await auth.revoke_credential(
        node.app[appkeys.ENGINE], name="test-office", actor="test", now=node.clock()
    )
    for header in spellings:
        resp = await node.call("GET", "/v1/audit/verify", headers={"Authorization": header})
        assert resp.status == 401


async def test_a_remembered_credential_is_not_trusted_before_it_was_looked_up(node: Node) -> None:
    await node.ok("GET", "/v1/audit/verify", role="office")  # remembered now
    engine = node.app[appkeys.ENGINE]
    header = f"Bearer {node.tokens['office']}"
    cache_for = node.config.auth_cache
    assert auth.remembered(engine, header, now=node.clock(), cache_for=cache_for) is not None
    earlier = node.clock() - cache_for / 5  # the clock moved back
    assert auth.remembered(engine, header, now=earlier, cache_for=cache_for) is None
    later = node.clock() + cache_for
    assert auth.remembered(engine, header, now=later, cache_for=cache_for) is None
    assert auth.remembered(engine, "Bearer nope", now=node.clock(), cache_for=cache_for) is None


async def test_credential_revoked_elsewhere_stops_within_the_ttl(node: Node) -> None:
    ttl = node.config.auth_cache.total_seconds()
    assert ttl == 5  # the default
    await node.ok("GET", "/v1/audit/verify", role="office")  # remembered now
    other = create_engine(node.config.database_url, pool_size=1)  # as the CLI or a replica
    try:
        await auth.revoke_credential(other, name="test-office", actor="cli", now=node.clock())
        node.clock.advance(seconds=ttl - 1)
        await node.ok("GET", "/v1/audit/verify", role="office")  # still remembered
        node.clock.advance(seconds=1)
        resp = await node.call("GET", "/v1/audit/verify", role="office")
        assert resp.status == 401
        # A refusal is not remembered: restored in the database, the credential works again.
        async with other.begin() as conn:
            await conn.execute(update(CREDENTIALS).values(revoked_at=None))
        await node.ok("GET", "/v1/audit/verify", role="office")
    finally:
        await other.dispose()


async def test_credential_cache_off(tmp_path: Path, database_url: str) -> None:
    config = write_node_dir(tmp_path / "n", database_url, extra={"auth": {"cache_seconds": 0}})
    await migrate_url(database_url)
    node = await start_node(config, FakeClock())
    other = create_engine(database_url, pool_size=1)
    try:
        await node.ok("GET", "/v1/audit/verify", role="office")
        await auth.revoke_credential(other, name="test-office", actor="cli", now=node.clock())
        resp = await node.call("GET", "/v1/audit/verify", role="office")
        assert resp.status == 401
    finally:
        await other.dispose()
        await node.client.close()
