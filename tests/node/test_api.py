"""The node's HTTP API end to end, on SQLite and PostgreSQL: scores, consent, issuance,
revocation, status lists, residents' rights, objections, online verification."""

from __future__ import annotations

from typing import Any

import pytest

from node import appkeys
from node.audit import verify_chain
from protocol.jose import b64u_decode, parse_json_object
from protocol.presentation import DisclosureRequest, present
from protocol.status_list import decode_status_list
from tests.node.conftest import Node, holder_keys, national_id

pytestmark = pytest.mark.asyncio


async def _resident(node: Node, i: int, score: int, *, consent: bool = True, seq: int = 1) -> str:
    nid = national_id(i)
    await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": score, "seq": seq}
    )
    if consent:
        await node.ok(
            "POST", "/v1/residents/consent", role="app", json={"national_id": nid, "granted": True}
        )
    return nid


async def _issue(node: Node, nid: str, n: int) -> tuple[list[Any], list[dict[str, Any]]]:
    signers = holder_keys(n)
    body = await node.ok(
        "POST",
        "/v1/attestations",
        role="app",
        json={"national_id": nid, "holder_keys": [s.public_jwk for s in signers]},
    )
    return signers, body["attestations"]


def _payload(sd_jwt: str) -> dict[str, object]:
    jwt = sd_jwt.split("~", 1)[0]
    return parse_json_object(b64u_decode(jwt.split(".")[1]))


async def _status_bits(node: Node, uri: str) -> Any:
    path = uri.removeprefix(node.config.public_url)
    resp = await node.call("GET", path)
    assert resp.status == 200
    token = await resp.text()
    payload = parse_json_object(b64u_decode(token.split(".")[1]))
    sl = payload["status_list"]
    assert isinstance(sl, dict)
    return decode_status_list(sl)


async def test_issue_then_level_change_revokes(node: Node) -> None:
    nid = await _resident(node, 1, 135)
    _signers, atts = await _issue(node, nid, 3)
    assert len(atts) == 3
    idxs = {a["status"]["idx"] for a in atts}
    assert len(idxs) == 3
    payload = _payload(atts[0]["sd_jwt"])
    assert payload["iss"] == node.config.issuer
    assert "135" not in atts[0]["sd_jwt"].split("~", 1)[0]  # no exact score in the signed part
    uri = atts[0]["status"]["uri"]
    before = await _status_bits(node, uri)
    assert all(before.status(i) == 0 for i in idxs)

    # Same level, band still holds (130..139): nothing revoked.
    stats = await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": 136, "seq": 2}
    )
    assert stats["revoked"] == 0
    # Level 4 -> 3: every outstanding attestation revoked, visible at the next fetch.
    stats = await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": 110, "seq": 3}
    )
    assert stats["revoked"] == 3
    after = await _status_bits(node, uri)
    assert all(after.status(i) == 1 for i in idxs)
    assert await verify_chain(node.app[appkeys.ENGINE]) > 0


async def test_online_verification(node: Node) -> None:
    nid = await _resident(node, 2, 150)
    signers, atts = await _issue(node, nid, 2)
    pres = present(
        atts[0]["sd_jwt"],
        signers[0],
        request=DisclosureRequest(level=True),
        audience="hz-library",
        nonce="n-1",
        now=node.clock(),
    )
    verdict = await node.ok(
        "POST",
        "/v1/verify",
        role="merchant",
        json={"presentation": pres, "audience": "hz-library", "nonce": "n-1"},
    )
    assert verdict["valid"] is True
    assert verdict["level"] == 5
    wrong = await node.ok(
        "POST",
        "/v1/verify",
        role="merchant",
        json={"presentation": pres, "audience": "other", "nonce": "n-1"},
    )
    assert wrong == {"valid": False, "error": "wrong_audience", "message": wrong["message"]}
    # Withdrawal of consent revokes; the verdict follows at once.
    body = await node.ok(
        "POST", "/v1/residents/consent", role="app", json={"national_id": nid, "granted": False}
    )
    assert body["revoked"] == 2
    pres2 = present(
        atts[1]["sd_jwt"],
        signers[1],
        request=DisclosureRequest(level_at_least=4),
        audience="hz-library",
        nonce="n-2",
        now=node.clock(),
    )
    revoked = await node.ok(
        "POST",
        "/v1/verify",
        role="merchant",
        json={"presentation": pres2, "audience": "hz-library", "nonce": "n-2"},
    )
    assert revoked["valid"] is False
    assert revoked["error"] == "revoked"
    # No new attestations without consent.
    resp = await node.call(
        "POST",
        "/v1/attestations",
        role="app",
        json={"national_id": nid, "holder_keys": [holder_keys(1)[0].public_jwk]},
    )
    assert resp.status == 403
    assert (await resp.json())["error"] == "consent_required"


async def test_status_list_etag_and_ttl(node: Node) -> None:
    nid = await _resident(node, 3, 100)
    _, atts = await _issue(node, nid, 1)
    path = atts[0]["status"]["uri"].removeprefix(node.config.public_url)
    first = await node.call("GET", path)
    assert first.status == 200
    assert first.content_type == "application/statuslist+jwt"
    etag = first.headers["ETag"]
    assert "max-age=300" in first.headers["Cache-Control"]
    token = await first.text()
    header = parse_json_object(b64u_decode(token.split(".")[0]))
    payload = parse_json_object(b64u_decode(token.split(".")[1]))
    assert header["typ"] == "statuslist+jwt"
    assert payload["ttl"] == 300
    assert payload["sub"] == atts[0]["status"]["uri"]
    again = await node.call("GET", path, headers={"If-None-Match": etag})
    assert again.status == 304
    await node.ok(
        "POST", "/v1/residents/consent", role="app", json={"national_id": nid, "granted": False}
    )
    changed = await node.call("GET", path, headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag


async def test_residents_rights_and_objections(node: Node) -> None:
    nid = await _resident(node, 4, 125)
    _, _atts = await _issue(node, nid, 2)
    me = await node.ok("POST", "/v1/residents/me", role="app", json={"national_id": nid})
    assert me["score"] == 125
    assert me["level"] == 4
    assert me["consent"] is True
    filed = await node.ok(
        "POST",
        "/v1/residents/objections",
        role="app",
        json={"national_id": nid, "reason": "逾期记录有误 / the late-payment record is wrong"},
    )
    listed = await node.ok("GET", "/v1/objections?status=open", role="office")
    assert [o["id"] for o in listed["objections"]] == [filed["objection"]]
    assert nid not in str(listed)
    result = await node.ok(
        "POST",
        f"/v1/objections/{filed['objection']}/resolve",
        role="office",
        json={"decision": "upheld", "note": "record removed", "score": 155},
    )
    assert result == {"status": "upheld", "revoked": 2, "score_changed": True}
    again = await node.call(
        "POST",
        f"/v1/objections/{filed['objection']}/resolve",
        role="office",
        json={"decision": "rejected", "note": "x"},
    )
    assert again.status == 409
    # The platform's next record (higher seq) still supersedes the correction.
    await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": 140, "seq": 2}
    )
    entries = (await node.ok("POST", "/v1/residents/audit", role="app", json={"national_id": nid}))[
        "entries"
    ]
    actions = [e["action"] for e in entries]
    for expected in (
        "score.change",
        "consent.grant",
        "attestation.issue",
        "objection.file",
        "score.correct",
        "attestation.revoke",
        "objection.resolve",
    ):
        assert expected in actions
    assert actions[-1] == "score.change"
    assert nid not in str(entries)
    verified = await node.ok("GET", "/v1/audit/verify", role="office")
    assert verified["ok"] is True


async def test_public_material(node: Node) -> None:
    meta = await node.ok("GET", "/.well-known/huxin-node")
    assert meta["city"] == "zhengzhou"
    assert meta["scale"]["id"] == "shangding"
    jwks = await node.ok("GET", "/.well-known/jwks.json")
    assert jwks["keys"][0]["kid"] == meta["signing_kid"]
    scale = await node.ok("GET", "/scale")
    assert scale["id"] == "shangding"
    # Without an operator file the node serves the packaged catalogue of its city.
    catalogue = await node.ok("GET", "/incentives")
    assert catalogue["city"] == "zhengzhou"
    assert (await node.call("GET", "/healthz")).status == 200
    ready = await node.ok("GET", "/readyz")
    assert ready["checks"]["database"]
    assert ready["checks"]["schema"]
    metrics = await node.call("GET", "/metrics")
    assert "huxin_http_requests_total" in await metrics.text()


async def test_band_change_within_a_level_revokes(node: Node) -> None:
    nid = await _resident(node, 5, 135)
    _, atts = await _issue(node, nid, 2)
    stats = await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": 125, "seq": 2}
    )
    assert stats["revoked"] == 2  # level 4 still, but the disclosed band 130-139 no longer holds
    bits = await _status_bits(node, atts[0]["status"]["uri"])
    assert [bits.status(a["status"]["idx"]) for a in atts] == [1, 1]


async def test_one_way_presentation_is_not_accepted_twice(node: Node) -> None:
    nid = await _resident(node, 6, 160)
    signers, atts = await _issue(node, nid, 1)
    pres = present(
        atts[0]["sd_jwt"],
        signers[0],
        request=DisclosureRequest(level_at_least=4),
        audience="gate-1",
        nonce=None,
        now=node.clock(),
    )
    body = {"presentation": pres, "audience": "gate-1"}
    first = await node.ok("POST", "/v1/verify", role="merchant", json=body)
    assert first["valid"] is True
    assert first["level_at_least"] == [4]
    assert first["level"] is None  # only what the holder chose to disclose
    second = await node.ok("POST", "/v1/verify", role="merchant", json=body)
    assert second["error"] == "replayed"
