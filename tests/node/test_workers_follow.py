"""Workers of one node that do not sync take what the sync leader keeps in ``sync.dir``.

In process, on the simulated federation: a second application for Hangzhou on the same data
directory and database plays a follower worker (``sync_leader=False``); the simulated node is
the leader. :meth:`node.sync.Syncer.follow` (what each worker runs every 0.5 s) is called
directly, so nothing waits.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from certs.root import parse_signed_root
from certs.update import Proposal, propose
from node import appkeys
from node.app import create_app
from node.catalogue import IncentiveCatalogue
from node.config import load_config
from node.sync import Syncer
from tests.certs.sim import sign_root
from tests.node.conftest import Node
from tests.node.sim import SimFederation

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def follower(sim: SimFederation) -> AsyncIterator[Node]:
    leader = sim["hangzhou"]
    config = load_config(leader.data_dir)
    app = create_app(config, clock=sim.clock, keys=leader.app[appkeys.KEYS], sync_leader=False)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Node(client=client, config=config, clock=sim.clock, tokens=leader.node.tokens)
    finally:
        await client.close()


def _syncer(node: Node) -> Syncer:
    syncer = node.app[appkeys.SYNCER]
    assert isinstance(syncer, Syncer)
    return syncer


async def test_a_follower_takes_the_leaders_copies(sim: SimFederation, follower: Node) -> None:
    leader = sim["hangzhou"]
    fed = follower.app[appkeys.FEDERATION]
    assert fed.material_data("wuhan") is None  # nothing kept yet
    await sim.sync()
    assert await _syncer(follower).follow(sim.clock(), leader=False)
    for city in sim.nodes:
        assert fed.material_data(city) == leader.app[appkeys.FEDERATION].material_data(city)
    assert not await _syncer(follower).follow(sim.clock(), leader=False)  # nothing changed
    ready = await follower.ok("GET", "/readyz")
    expected = await leader.node.ok("GET", "/readyz")
    assert ready["federation"]["peers"] == expected["federation"]["peers"]
    assert {p["state"] for p in ready["federation"]["peers"].values()} == {"ok"}
    # Peers' status lists too: the follower holds what the leader fetched, without fetching.
    kept = leader.app[appkeys.FEDERATION].status
    lists = 0
    for city in sim.nodes:
        material = fed.material(city, sim.clock())
        assert material is not None
        for uri in material.status_lists if city != "hangzhou" else ():
            held, theirs = fed.status.get(uri, sim.clock()), kept.get(uri, sim.clock())
            assert (held.issuer, held.issued_at) == (theirs.issuer, theirs.issued_at)
            lists += 1
    assert lists >= 4


async def test_a_root_accepted_by_a_follower_reaches_the_leader(
    sim: SimFederation, follower: Node
) -> None:
    leader = sim["hangzhou"]
    await sim.sync()
    v1 = parse_signed_root(sim.roots[0]).root
    v2 = propose(v1, Proposal(threshold=2))
    signed = sign_root(v2, sim.fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    resp = await follower.call(
        "POST",
        "/v1/federation/roots",
        role="office",
        data=signed,
        headers={"Content-Type": "application/json"},
    )
    assert (resp.status, await resp.json()) == (200, {"accepted": True, "version": 2})
    leader_fed = leader.app[appkeys.FEDERATION]
    assert leader_fed.root.version == 1
    assert await _syncer(leader.node).follow(sim.clock(), leader=True)
    assert leader_fed.root.version == 2
    # The leader signed our material again under version 2; the follower serves that copy.
    material = leader.app[appkeys.OWN_MATERIAL].data
    assert material is not None
    assert json.loads(material)  # a JSON document
    await _syncer(follower).follow(sim.clock(), leader=False)
    resp = await follower.call("GET", "/federation/material")
    assert await resp.read() == material


async def test_a_broken_catalogue_file_keeps_the_current_one(sim: SimFederation) -> None:
    leader = sim["hangzhou"]
    catalogue: IncentiveCatalogue = leader.app[appkeys.CATALOGUE]
    before = catalogue.document
    version = catalogue.version
    assert not catalogue.reload_if_changed()  # unchanged
    catalogue.path.write_text('{"city": "hangzhou"}', encoding="utf-8")
    assert not catalogue.reload_if_changed()
    assert (catalogue.document, catalogue.version) == (before, version)
    assert before is not None
    doc = dict(before)
    doc["version"] = "by-hand"
    catalogue.path.write_text(json.dumps(doc), encoding="utf-8")
    assert catalogue.reload_if_changed()
    assert catalogue.document == doc
    assert catalogue.version == version + 1
