"""The five-city federation at work, in one process (``tests.node.sim``): sync, bundle,
incentive verdicts for visitors, revocation, broken peers, root updates and key rotation."""

from __future__ import annotations

import math
from typing import Any

import pytest

from certs.bundle import TrustBundle
from mapping.convert import convert_interval, convert_score
from node import appkeys
from node.merchant import load_incentive, verify_for_incentive
from protocol.incentive import least_disclosure, parse_catalogue
from protocol.presentation import DisclosureRequest
from tests.node.sim import Holder, SimFederation

pytestmark = pytest.mark.asyncio


@pytest.fixture
def sim_extra() -> dict[str, dict[str, object]]:
    """Peer material stays usable for an hour (the tests move the clock)."""
    return {"sync": {"material_max_age_seconds": 3600}}


async def _ready(sim: SimFederation, city: str) -> tuple[int, dict[str, Any]]:
    resp = await sim[city].node.call("GET", "/readyz")
    body = await resp.json()
    assert isinstance(body, dict)
    return resp.status, body


async def test_sync_fetches_every_member_and_serves_the_bundle(sim: SimFederation) -> None:
    status, body = await _ready(sim, "hangzhou")
    assert status == 200
    assert body["status"] == "degraded"  # nothing fetched yet
    assert {p["state"] for p in body["federation"]["peers"].values()} == {"pending"}
    unavailable = await sim["hangzhou"].node.call("GET", "/federation/bundle")
    assert unavailable.status == 503
    assert (await unavailable.json())["error"] == "federation_unavailable"

    await sim.sync()
    for city in sim.nodes:
        status, body = await _ready(sim, city)
        assert (status, body["status"]) == (200, "ready"), body
        peers = body["federation"]["peers"]
        assert set(peers) == set(sim.nodes) - {city}
        assert all(p["state"] == "ok" and p["last_error"] is None for p in peers.values())
    resp = await sim["hangzhou"].node.call("GET", "/federation/bundle")
    assert resp.status == 200
    data = await resp.read()
    bundle = TrustBundle.load(data, pinned_root=sim.roots[0], now=sim.clock())
    assert {m.city for m in bundle.members} == set(sim.nodes)
    parse_catalogue(bundle.incentives("fuzhou"), bundle.scale("fuzhou"))
    etag = resp.headers["ETag"]
    again = await sim["hangzhou"].node.call(
        "GET", "/federation/bundle", headers={"If-None-Match": etag}
    )
    assert again.status == 304
    # Last good copies are on disk.
    cache = sim["hangzhou"].data_dir / "federation-cache"
    assert {p.name for p in (cache / "materials").glob("*.json")} >= {
        f"{c}.json" for c in sim.nodes
    }


# --------------------------------------------------------------------------------------------
# Incentive verdicts for visitors

SEEDS = (
    ("zhengzhou", "library-card"),
    ("zhengzhou", "rental-deposit"),
    ("hangzhou", "campus-fitness"),
    ("fuzhou", "bus-metro-discount"),
)
SCORE_CITIES = ("zhengzhou", "hangzhou", "fuzhou", "wuhan")


def _scores(sim: SimFederation, ref: str, visitor: str) -> dict[str, int]:
    """The visitor's scores at, just above and just below the incentive's threshold."""
    city, ident = ref.split("/")
    local = sim[city].scale
    incentive = _catalogue(sim, city).get(ident)
    own = sim[visitor].scale
    if incentive.rule.min_level is not None:
        k = incentive.rule.min_level
        return {
            "at": own.level_span(k)[0],
            "above": own.level_span(k + 1)[0],
            "below": own.level_span(k - 1)[1],
        }
    threshold = incentive.rule.min_score
    assert threshold is not None
    point = convert_score(threshold, local, own).value
    assert point is not None
    at = math.ceil(point)  # the lowest score of the visitor's scale that maps to the threshold
    assert convert_interval(at, at, own, local)[0] >= threshold
    assert convert_interval(at - 1, at - 1, own, local)[1] < threshold
    return {"at": at, "above": at + 1, "below": at - 1}


def _catalogue(sim: SimFederation, city: str) -> Any:
    catalogue = sim[city].app[appkeys.CATALOGUE].catalogue
    assert catalogue is not None
    return catalogue


def _request(sim: SimFederation, ref: str, holder: Holder) -> DisclosureRequest:
    """What the wallet would disclose: the least that qualifies, else level and band."""
    city, ident = ref.split("/")
    wanted = least_disclosure(
        _catalogue(sim, city).get(ident),
        sim[city].scale,
        sim[holder.city].scale,
        holder.level,
        holder.band,
    )
    return wanted or DisclosureRequest(level=True, band=holder.band is not None)


EXPECTED = {"at": "eligible", "above": "eligible", "below": "not_eligible"}


async def test_visitors_at_above_and_below_each_seed_threshold(sim: SimFederation) -> None:
    cases: list[tuple[str, str, str, Holder]] = []
    for city, ident in SEEDS:
        ref = f"{city}/{ident}"
        for visitor in SCORE_CITIES:
            if visitor == city:
                continue
            for where, score in _scores(sim, ref, visitor).items():
                _, holder = await sim.resident(visitor, score)
                cases.append((ref, visitor, where, holder))
    await sim.sync()  # every node now holds every visitor city's material and status lists
    for n, (ref, visitor, where, holder) in enumerate(cases):
        merchant = ref.split("/")[0]
        presentation = sim.present(
            holder, _request(sim, ref, holder), audience=f"shop-{merchant}", nonce=f"n{n}"
        )
        verdict = await sim.verify(
            merchant, presentation, audience=f"shop-{merchant}", nonce=f"n{n}", incentive=ref
        )
        assert verdict["valid"] is True, (ref, visitor, where, verdict)
        assert verdict["city"] == visitor
        assert verdict["eligibility"] == EXPECTED[where], (ref, visitor, where, verdict)
        assert verdict["explanation"]["zh"]
        assert verdict["explanation"]["en"]
        assert verdict["incentive"] == ref
    assert len(cases) == 4 * 3 * 3


async def test_decide_on_bundle_material_fetched_by_sync(sim: SimFederation) -> None:
    """A merchant app's view: the bundle from its city's node decides like the node does."""
    _, holder = await sim.resident("wuhan", 562)  # maps to 581.0 on 钱江分
    await sim.sync()
    data = await (await sim["hangzhou"].node.call("GET", "/federation/bundle")).read()
    bundle = TrustBundle.load(data, pinned_root=sim.roots[0], now=sim.clock())
    incentive, local = load_incentive(bundle, "hangzhou/campus-fitness")
    verdict = verify_for_incentive(
        sim.present(holder, DisclosureRequest(band=True), audience="gym", nonce="n1"),
        bundle=bundle,
        incentive=incentive,
        local_scale=local,
        audience="gym",
        nonce="n1",
        status=sim["hangzhou"].app[appkeys.FEDERATION].status,
        replay=None,
        now=sim.clock(),
    )
    assert verdict.valid, verdict
    assert verdict.eligibility is not None
    assert verdict.eligibility.value == "eligible"
    assert verdict.interval == (581.0, 581.0)


async def test_nanjing_honest_card_holder(sim: SimFederation) -> None:
    refs = [f"{c}/{i}" for c, i in SEEDS] + ["wuhan/bike-share"]
    _, holder = await sim.resident("nanjing", 1, count=len(refs))
    assert holder.band is None
    assert holder.level == 4
    await sim.sync()
    for n, ref in enumerate(refs):
        merchant = ref.split("/")[0]
        request = _request(sim, ref, holder)
        assert not request.band
        assert not request.level
        presentation = sim.present(holder, request, audience="m", nonce=f"nj{n}")
        verdict = await sim.verify(
            merchant, presentation, audience="m", nonce=f"nj{n}", incentive=ref
        )
        assert verdict["valid"] is True, verdict
        assert verdict["city"] == "nanjing"
        assert verdict["eligibility"] == "eligible", (ref, verdict)


# --------------------------------------------------------------------------------------------
# Revocation


async def test_revoked_attestation_refused_once_the_status_list_refreshes(
    sim: SimFederation,
) -> None:
    nid, holder = await sim.resident("zhengzhou", 130, count=3)  # level 4
    await sim.sync()
    ref = "hangzhou/campus-fitness"
    first = sim.present(holder, DisclosureRequest(level_at_least=4), audience="gym", nonce="a")
    assert (await sim.verify("hangzhou", first, audience="gym", nonce="a", incentive=ref))[
        "eligibility"
    ] == "eligible"
    # Zhengzhou's office lowers the score: every outstanding attestation is revoked there.
    await sim["zhengzhou"].node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": 90, "seq": 2}
    )
    second = sim.present(holder, DisclosureRequest(level_at_least=4), audience="gym", nonce="b")
    cached = await sim.verify("hangzhou", second, audience="gym", nonce="b")
    assert cached["valid"] is True  # Hangzhou's copy of the list is still fresh (ttl 300 s)
    await sim.sync(["hangzhou"])  # not due yet: nothing refetched
    sim.clock.advance(seconds=301)
    await sim.sync(["hangzhou"])
    third = sim.present(holder, DisclosureRequest(level_at_least=4), audience="gym", nonce="c")
    refused = await sim.verify("hangzhou", third, audience="gym", nonce="c")
    assert (refused["valid"], refused["error"]) == (False, "revoked")


# --------------------------------------------------------------------------------------------
# Broken peers

FAULTS = {
    "down": "peer_unreachable",
    "slow": "peer_timeout",
    "garbage": "bad_file",
    "truncated": "peer_truncated",
    "oversized": "peer_too_large",
    "error": "peer_http_5xx",
}


async def _metric(sim: SimFederation, city: str, line_start: str) -> float:
    text = await (await sim[city].node.call("GET", "/metrics")).text()
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {line_start} in /metrics")


async def test_broken_peer_leaves_the_last_good_copy(sim: SimFederation) -> None:
    _, holder = await sim.resident("wuhan", 760, count=len(FAULTS) + 2)  # level 4
    await sim.sync()
    good = sim["hangzhou"].app[appkeys.FEDERATION].material_data("wuhan")
    assert good is not None
    for n, (mode, code) in enumerate(FAULTS.items()):
        sim["wuhan"].proxy.mode = mode
        sim.clock.advance(seconds=301)  # wuhan's status list is due for a refresh
        await sim.sync(["hangzhou"])
        status, body = await _ready(sim, "hangzhou")
        assert (status, body["status"]) == (200, "degraded"), mode
        peer = body["federation"]["peers"]["wuhan"]
        assert (peer["state"], peer["last_error"]) == ("failing", code), (mode, peer)
        assert body["federation"]["peers"]["fuzhou"]["state"] == "ok"
        assert sim["hangzhou"].app[appkeys.FEDERATION].material_data("wuhan") == good
        assert await _metric(sim, "hangzhou", 'huxin_sync_peer_up{peer="wuhan"}') == 0
        errors = f'huxin_sync_errors_total{{code="{code}",peer="wuhan"}}'
        assert await _metric(sim, "hangzhou", errors) >= 1
        # The visitor is still verified from the last good material and status list.
        pres = sim.present(holder, DisclosureRequest(level_at_least=4), audience="m", nonce=f"f{n}")
        verdict = await sim.verify("hangzhou", pres, audience="m", nonce=f"f{n}")
        assert verdict["valid"] is True, (mode, verdict)
    sim["wuhan"].proxy.mode = "pass"
    await sim.sync(["hangzhou"])
    status, body = await _ready(sim, "hangzhou")
    assert body["status"] == "ready"
    assert await _metric(sim, "hangzhou", 'huxin_sync_peer_up{peer="wuhan"}') == 1
    # Down for longer than the material's maximum age (1 h here): refused, "expired".
    sim["wuhan"].proxy.mode = "down"
    sim.clock.advance(seconds=3601)
    await sim.sync(["hangzhou"])
    status, body = await _ready(sim, "hangzhou")
    assert (status, body["federation"]["peers"]["wuhan"]["state"]) == (200, "expired")
    pres = sim.present(holder, DisclosureRequest(level_at_least=4), audience="m", nonce="late")
    verdict = await sim.verify("hangzhou", pres, audience="m", nonce="late")
    assert (verdict["valid"], verdict["error"]) == (False, "unknown_key")
    assert (
        await _metric(sim, "hangzhou", 'huxin_sync_peer_material_age_seconds{peer="wuhan"}') > 3600
    )
