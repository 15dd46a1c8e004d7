"""Privacy invariants 1 and 3, measured on the real federation.

Invariant 1: every response a node sent during the whole story and the sandbox export went
through a recording proxy; none that left the home city (everything but the resident's own app
and the city's own credit office) holds a resident's national ID, name or exact score.
Invariant 3: presentations from two attestations of one batch share no value.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from certs.keys import load_private_key
from node.demo.privacy import scan
from node.demo.proxy import HOME_OFFICE, OTHER, RESIDENT_APP
from node.demo.residents import is_synthetic
from protocol.jose import KeySigner, b64u_decode
from protocol.presentation import DisclosureRequest, present
from protocol.sdjwt import split_compact
from tests.e2e.conftest import Demo


def _all_ids(demo: Demo) -> set[str]:
    return {r.national_id for c in demo.fed.cities.values() for r in c.residents}


def test_every_resident_id_is_synthetic(demo: Demo) -> None:
    ids = _all_ids(demo)
    assert len(ids) >= 5 * 500
    assert all(is_synthetic(i) for i in ids)


def test_invariant_1_no_resident_data_leaves_the_home_node(demo: Demo) -> None:
    exchanges = demo.fed.proxy.recorded()
    outside = [e for e in exchanges if e.audience == OTHER]
    # The recording saw the whole story: every city, issuance, status lists, public material.
    assert {e.city for e in outside} == set(demo.fed.cities)
    paths = {e.path for e in outside}
    assert {"/v1/attestations", "/status/1"} <= paths
    assert sum(1 for e in outside if e.path == "/status/1") >= 10
    people = demo.story.people.values()
    leaks = scan(
        outside,
        national_ids=_all_ids(demo),
        names=[p.name for p in people],
        scores=[p.resident.score for p in people],
    )
    assert leaks == []


def test_invariant_4_status_lists_are_fetched_whole(demo: Demo) -> None:
    """Every status request names a whole list, never a token's index (herd privacy)."""
    fetches = [e for e in demo.fed.proxy.recorded() if e.path.startswith("/status/")]
    assert len(fetches) >= 10
    for e in fetches:
        assert re.fullmatch(r"/status/\d+", e.path), e.path
        assert e.query == ""


def test_the_leak_detector_is_not_blind(demo: Demo) -> None:
    """The exception (the resident's own app) does carry the score, and the scan sees it."""
    exchanges = demo.fed.proxy.recorded()
    own = [e for e in exchanges if e.audience == RESIDENT_APP]
    assert own, "the story reads the resident's own record through the city app"
    assert any(e.audience == HOME_OFFICE for e in exchanges)
    people = demo.story.people.values()
    leaks = scan(
        own,
        national_ids=_all_ids(demo),
        names=[p.name for p in people],
        scores=[p.resident.score for p in people],
    )
    assert any("score" in leak.what for leak in leaks)
    planted = [
        e.__class__(
            city=e.city,
            method=e.method,
            path=e.path,
            status=e.status,
            body=json.dumps({"x": f"id {next(iter(_all_ids(demo)))} here"}).encode(),
            audience=OTHER,
        )
        for e in own[:1]
    ]
    assert scan(planted, national_ids=_all_ids(demo))


def _values(presentation: str) -> tuple[set[str], set[int]]:
    """Every string (and status index) inside a presentation, decoded."""
    parts = split_compact(presentation)
    strings: set[str] = set()
    indices: set[int] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "idx" and isinstance(v, int):
                    indices.add(v)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            strings.add(value)

    jwts = [parts.issuer_jwt] + ([parts.kb_jwt] if parts.kb_jwt else [])
    for jwt in jwts:
        head, payload, sig = jwt.split(".")
        strings.add(sig)
        walk(json.loads(b64u_decode(head)))
        walk(json.loads(b64u_decode(payload)))
    for disclosure in parts.disclosures:
        strings.add(disclosure)
        walk(json.loads(b64u_decode(disclosure)))
    return strings, indices


def test_invariant_3_presentations_of_one_batch_share_no_value(demo: Demo) -> None:
    sandbox = demo.sandbox
    first = (sandbox / "attestations" / "zhengzhou-good-1.sd-jwt").read_text().strip()
    second = (sandbox / "attestations" / "zhengzhou-good-2.sd-jwt").read_text().strip()
    keys = {
        p.stem: KeySigner(load_private_key(p.read_bytes()))
        for p in (sandbox / "holder-keys").glob("*.pem")
    }

    def holder_of(sd_jwt: str) -> KeySigner:
        payload = json.loads(b64u_decode(sd_jwt.split("~")[0].split(".")[1]))
        cnf = payload["cnf"]["jwk"]
        return next(k for k in keys.values() if k.public_jwk["x"] == cnf["x"])

    request = DisclosureRequest(level_at_least=4)
    now = datetime.now(UTC)
    a = present(first, holder_of(first), request=request, audience="urn:shop", nonce=None, now=now)
    b = present(
        second, holder_of(second), request=request, audience="urn:shop", nonce=None, now=now
    )
    strings_a, idx_a = _values(a)
    strings_b, idx_b = _values(b)
    # What every attestation of the city shares by design (issuer, type, algorithm, scale,
    # the status list's URI and the verifier's own audience), not joinable on a person.
    common = {
        demo.fed.city("zhengzhou").url,
        demo.fed.status_list_uri("zhengzhou"),
        "dc+sd-jwt",
        "kb+jwt",
        "ES256",
        "EC",
        "P-256",
        "sha-256",
        "urn:huxin:credit-level:1",
        "shangding",
        "urn:shop",
        "level_at_least_4",
    }
    scale_version = {s for s in strings_a if s == demo.fed.city("zhengzhou").scale.version}
    kid = {s for s in strings_a & strings_b if s == demo.fed.city("zhengzhou").signer().kid}
    shared = (strings_a & strings_b) - common - scale_version - kid
    assert shared == set()
    assert idx_a.isdisjoint(idx_b)
    assert len(strings_a) > 10
    assert len(strings_b) > 10


def test_invariant_3_exported_presentations_use_distinct_keys(demo: Demo) -> None:
    expected = json.loads((demo.sandbox / "expected.json").read_text())
    texts = [(demo.sandbox / p["file"]).read_text().strip() for p in expected["presentations"]]
    cnf = []
    for text in texts:
        payload = json.loads(b64u_decode(text.split("~")[0].split(".")[1]))
        cnf.append(payload["cnf"]["jwk"]["x"])
    assert len(cnf) == len(set(cnf))
    assert all(Path(demo.sandbox / p["file"]).exists() for p in expected["presentations"])


def _b64(obj: object, *, pretty: bool = False) -> str:
    from protocol.jose import b64u_encode

    return b64u_encode(json.dumps(obj, indent=2 if pretty else None).encode())


def test_the_scan_decodes_tokens_and_disclosures() -> None:
    """Planted leaks inside a JWT payload, a disclosure and pretty JSON are all found."""
    from node.demo.proxy import Exchange

    nid = "990101199001011234"
    header = _b64({"alg": "ES256", "typ": "dc+sd-jwt"})
    payload = _b64({"iss": "x", "sub": nid}, pretty=True)
    disclosure = _b64(["salt", "score", 135])
    band = _b64(["salt2", "band", [135, 135]])
    body = json.dumps({"sd_jwt": f"{header}.{payload}.c2ln~{disclosure}~{band}~"}).encode()
    exchange = Exchange("zhengzhou", "GET", "/x", 200, body, OTHER)
    found = {leak.what for leak in scan([exchange], national_ids={nid}, scores=[135])}
    assert f"national ID {nid}" in found
    assert "member 'score' = 135" in found
    assert "claim 'band' = [135, 135]" in found
    clean = Exchange("zhengzhou", "GET", "/x", 200, json.dumps({"level": 4}).encode(), OTHER)
    assert scan([clean], national_ids={nid}, scores=[135]) == []
