"""A peer flapping (up, down, up, ...) across sync rounds, in the five-node simulator.

Each round the watching node reports the peer as it found it (``ok`` or ``failing`` with the
error code, ``/readyz`` ``ready`` or ``degraded``, ``huxin_sync_peer_up`` 1 or 0), keeps the
last good copy of the peer's material through every down phase, verifies the peer's residents
throughout, and takes a revocation published during an up phase as soon as it sees the peer.
"""

from __future__ import annotations

from typing import Any

import pytest

from node import appkeys
from protocol.presentation import DisclosureRequest
from tests.node.sim import SimFederation

pytestmark = pytest.mark.asyncio


@pytest.fixture
def sim_extra() -> dict[str, dict[str, object]]:
    """Peer material stays usable for an hour (the tests move the clock)."""
    return {"sync": {"material_max_age_seconds": 3600}}


async def _ready(sim: SimFederation, city: str) -> dict[str, Any]:
    resp = await sim[city].node.call("GET", "/readyz")
    body = await resp.json()
    assert resp.status == 200, body  # a peer's outage never takes the node out of service
    assert isinstance(body, dict)
    return body


async def _peer_up(sim: SimFederation, city: str, peer: str) -> float:
    text = await (await sim[city].node.call("GET", "/metrics")).text()
    line = f'huxin_sync_peer_up{{peer="{peer}"}} '
    found = [ln for ln in text.splitlines() if ln.startswith(line)]
    assert found, text
    return float(found[0].rsplit(" ", 1)[1])


async def test_flapping_peer(sim: SimFederation) -> None:
    nid, holder = await sim.resident("wuhan", 760, count=8)
    await sim.sync()
    watcher = sim["hangzhou"]
    fed = watcher.app[appkeys.FEDERATION]
    good = fed.material_data("wuhan")
    assert good is not None
    for n, mode in enumerate(["down", "pass", "down", "pass", "truncated", "pass"]):
        sim["wuhan"].proxy.mode = mode
        sim.clock.advance(seconds=301)  # wuhan's status list is due for a refresh
        await sim.sync(["hangzhou"])
        body = await _ready(sim, "hangzhou")
        peer = body["federation"]["peers"]["wuhan"]
        if mode == "pass":
            assert (body["status"], peer["state"]) == ("ready", "ok"), (n, body)
            assert await _peer_up(sim, "hangzhou", "wuhan") == 1
        else:
            assert (body["status"], peer["state"]) == ("degraded", "failing"), (n, body)
            assert peer["last_error"] in {"peer_unreachable", "peer_truncated"}
            assert await _peer_up(sim, "hangzhou", "wuhan") == 0
        assert fed.material_data("wuhan") == good  # the last good copy, never a broken one
        pres = sim.present(holder, DisclosureRequest(level_at_least=4), audience="m", nonce=f"{n}")
        verdict = await sim.verify("hangzhou", pres, audience="m", nonce=f"{n}")
        assert verdict["valid"] is True, (n, mode, verdict)

    # Revoked at the source while hangzhou cannot see it; seen at the first round it is back.
    sim["wuhan"].proxy.mode = "down"
    await sim["wuhan"].node.ok(
        "POST", "/v1/residents/consent", role="app", json={"national_id": nid, "granted": False}
    )
    sim.clock.advance(seconds=301)
    await sim.sync(["hangzhou"])
    pres = sim.present(holder, DisclosureRequest(level_at_least=4), audience="m", nonce="cached")
    verdict = await sim.verify("hangzhou", pres, audience="m", nonce="cached")
    assert verdict["valid"] is True  # within the grace of the cached list: not known yet
    sim["wuhan"].proxy.mode = "pass"
    sim.clock.advance(seconds=301)
    await sim.sync(["hangzhou"])
    assert (await _ready(sim, "hangzhou"))["status"] == "ready"
    pres = sim.present(holder, DisclosureRequest(level_at_least=4), audience="m", nonce="fresh")
    verdict = await sim.verify("hangzhou", pres, audience="m", nonce="fresh")
    assert (verdict["valid"], verdict["error"]) == (False, "revoked")
