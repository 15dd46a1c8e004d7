"""The node's in-process caches on the verification path: what they save, and how stale they
may be. A revocation through this replica shows at once; through another replica sharing the
database within ``status.source_refresh_seconds``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

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
