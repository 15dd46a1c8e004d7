"""Changes travelling through the simulated federation: root updates (with a governance key
rotation), an attestation key rotation, a restart from the last good copies, and the office
replacing its incentive catalogue."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from certs.bundle import TrustBundle, verify_material
from certs.root import parse_signed_root
from certs.update import Proposal, propose
from node import appkeys
from node.catalogue import packaged_catalogue
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest
from tests.certs.sim import sign_root
from tests.node.sim import START, SimFederation

pytestmark = pytest.mark.asyncio


async def _root_version(sim: SimFederation, city: str) -> int:
    body = await (await sim[city].node.call("GET", "/readyz")).json()
    version = body["federation"]["root_version"]
    assert isinstance(version, int)
    return version


async def _submit(sim: SimFederation, city: str, data: bytes) -> tuple[int, dict[str, Any]]:
    resp = await sim[city].node.call(
        "POST",
        "/v1/federation/roots",
        role="office",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    return resp.status, await resp.json()


async def test_root_update_propagates_to_every_node(sim: SimFederation) -> None:
    await sim.sync()
    v1 = parse_signed_root(sim.roots[0]).root
    wuhan_new = KeySigner.generate()
    v2 = propose(v1, Proposal(governance_keys={"wuhan": (wuhan_new.public_key,)}))
    too_few = sign_root(v2, sim.fed.governance("zhengzhou", "hangzhou"))
    status, body = await _submit(sim, "zhengzhou", too_few)
    assert (status, body["error"]) == (422, "root_refused")
    assert "threshold" in body["message"]
    signed_v2 = sign_root(v2, sim.fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    status, body = await _submit(sim, "zhengzhou", signed_v2)
    assert (status, body) == (200, {"accepted": True, "version": 2})
    await sim.sync()  # every other node finds v2 in Zhengzhou's root chain
    assert [await _root_version(sim, c) for c in sim.nodes] == [2] * 5

    # Wuhan's rotated governance key now counts, its old one no longer does.
    v3 = propose(v2, Proposal(expires=START + timedelta(days=400)))
    old_key = sign_root(v3, [sim.fed["wuhan"].governance, *sim.fed.governance("hangzhou")])
    status, body = await _submit(sim, "nanjing", old_key)
    assert status == 422
    signed_v3 = sign_root(v3, [wuhan_new, *sim.fed.governance("hangzhou", "nanjing")])
    status, body = await _submit(sim, "nanjing", signed_v3)
    assert (status, body) == (200, {"accepted": True, "version": 3})
    status, body = await _submit(sim, "nanjing", signed_v3)
    assert (status, body) == (200, {"accepted": False, "version": 3})
    await sim.sync()
    assert [await _root_version(sim, c) for c in sim.nodes] == [3] * 5

    chain = await sim["fuzhou"].node.ok("GET", "/federation/root")
    assert [parse_signed_root(json.dumps(r).encode()).root.version for r in chain["roots"]] == [
        1,
        2,
        3,
    ]
    data = await (await sim["fuzhou"].node.call("GET", "/federation/bundle")).read()
    bundle = TrustBundle.load(data, pinned_root=sim.roots[0], now=sim.clock())
    assert bundle.root.version == 3

    # A restart keeps the trusted chain and every member's last good material.
    await sim.stop_node("hangzhou")
    await sim.start_node("hangzhou")
    assert await _root_version(sim, "hangzhou") == 3
    fed = sim["hangzhou"].app[appkeys.FEDERATION]
    assert all(fed.material_data(c) is not None for c in sim.nodes)
    ready = await sim["hangzhou"].node.ok("GET", "/readyz")
    assert ready["status"] == "ready"


async def test_attestation_key_rotation_keeps_outstanding_attestations(
    sim: SimFederation,
) -> None:
    _, before = await sim.resident("fuzhou", 760, count=3)  # level 4, signed by the old key
    old_kid = sim.fed["fuzhou"].node.kid
    await sim.sync()
    new_key = KeySigner.generate()
    await sim.stop_node("fuzhou")
    await sim.start_node("fuzhou", keys=(new_key, sim.fed["fuzhou"].issue(new_key)))
    _, after = await sim.resident("fuzhou", 760)
    await sim.sync()
    fed = sim["hangzhou"].app[appkeys.FEDERATION]
    data = fed.material_data("fuzhou")
    assert data is not None
    material = verify_material(data, fed.root, now=sim.clock())
    assert {k.kid for k in material.attestation_keys} == {old_kid, new_key.kid}
    for n, (holder, at) in enumerate(
        [(before, "hangzhou"), (after, "hangzhou"), (before, "fuzhou")]
    ):
        pres = sim.present(holder, DisclosureRequest(level_at_least=4), audience="m", nonce=f"{n}")
        verdict = await sim.verify(at, pres, audience="m", nonce=f"{n}")
        assert verdict["valid"] is True, (n, verdict)
    # Once the attestation lifetime has passed since the old key was last used, it is dropped.
    sim.clock.advance(hours=25)
    await sim.sync(["fuzhou"])
    await sim.sync(["hangzhou"])
    data = fed.material_data("fuzhou")
    assert data is not None
    material = verify_material(data, fed.root, now=sim.clock())
    assert {k.kid for k in material.attestation_keys} == {new_key.kid}


async def test_office_replaces_the_catalogue(sim: SimFederation) -> None:
    node = sim["hangzhou"].node
    published = await node.ok("GET", "/incentives")
    entries = (await node.ok("GET", "/v1/audit/verify", role="office"))["entries"]

    broken = copy.deepcopy(published)
    broken["incentives"][0]["category"] = "nonsense"
    other = json.loads(packaged_catalogue("fuzhou") or b"{}")
    for bad in (broken, other, {"city": "hangzhou"}):
        resp = await node.call("PUT", "/v1/incentives", role="office", json=bad)
        assert resp.status in (400, 422), await resp.text()
    forbidden = await node.call("PUT", "/v1/incentives", role="app", json=published)
    assert forbidden.status == 403
    assert await node.ok("GET", "/incentives") == published
    assert (await node.ok("GET", "/v1/audit/verify", role="office"))["entries"] == entries

    raised = copy.deepcopy(published)
    raised["version"] = "2026-2"
    fitness = next(i for i in raised["incentives"] if i["id"] == "campus-fitness")
    fitness["rule"] = {"min_score": 600}
    done = await node.ok("PUT", "/v1/incentives", role="office", json=raised)
    assert done == {"ok": True, "version": "2026-2", "incentives": len(raised["incentives"])}
    assert await node.ok("GET", "/incentives") == raised
    assert json.loads(node.config.incentives_file.read_text(encoding="utf-8")) == raised
    assert (await node.ok("GET", "/v1/audit/verify", role="office"))["entries"] == entries + 1

    # Published at once in Hangzhou's material; other nodes decide with it after a round.
    _, holder = await sim.resident("wuhan", 562)  # maps to 581 on 钱江分: now below 600
    await sim.sync()
    data = await (await sim["zhengzhou"].node.call("GET", "/federation/bundle")).read()
    bundle = TrustBundle.load(data, pinned_root=sim.roots[0], now=sim.clock())
    assert bundle.incentives("hangzhou")["version"] == "2026-2"
    pres = sim.present(holder, DisclosureRequest(band=True), audience="gym", nonce="x")
    verdict = await sim.verify(
        "zhengzhou", pres, audience="gym", nonce="x", incentive="hangzhou/campus-fitness"
    )
    assert verdict["eligibility"] == "not_eligible"
    assert verdict["threshold"] == 600


async def test_a_fresh_node_publishes_its_status_list_before_any_issuance(
    sim: SimFederation,
) -> None:
    # Regression: a node's signed material named only the lists that existed when it was
    # signed, and lists were opened by the first issuance, so a fresh node's bundle had no
    # status list URIs until a later sync round: merchants could not check revocation.
    await sim.sync()
    for city in sim.nodes:
        data = await (await sim[city].node.call("GET", "/federation/bundle")).read()
        bundle = TrustBundle.load(data, pinned_root=sim.roots[0], now=sim.clock())
        for member in bundle.members:
            assert bundle.status_list_uris(member.city) == (f"{sim.url(member.city)}/status/1",)
