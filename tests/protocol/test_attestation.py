"""Issuer side: attestation content, decoys, batch independence, input validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from protocol.attestation import (
    ATTESTATION_TYP,
    VCT,
    CreditClaims,
    StatusRef,
    issue_attestation,
    issue_batch,
)
from protocol.errors import IssuanceError
from protocol.jose import EDDSA, ES256, KeySigner, jwk_thumbprint
from protocol.sdjwt import decode_jws, parse_disclosure, split_compact
from tests.protocol.sdjwt_support import ISSUER, NOW, STATUS_URI, make_world

SIGNED_CLAIMS = {"iss", "iat", "exp", "vct", "cnf", "status", "scale", "_sd"}


def counting_salts() -> Callable[[], bytes]:
    counter = iter(range(10_000))
    return lambda: next(counter).to_bytes(16, "big")


def test_content_and_headers() -> None:
    w = make_world()
    att = w.issue(CreditClaims(level=3, band=(100, 119)))
    parts = split_compact(att.sd_jwt)
    assert parts.kb_jwt is None
    jws = decode_jws(parts.issuer_jwt, what="attestation")
    assert jws.header == {"alg": ES256, "typ": ATTESTATION_TYP, "kid": w.issuer.kid}
    p = jws.payload
    assert set(p) == SIGNED_CLAIMS
    assert p["iss"] == ISSUER
    assert p["vct"] == VCT
    assert p["cnf"] == {"jwk": w.holder.public_jwk}
    assert p["status"] == {"status_list": {"idx": 7, "uri": STATUS_URI}}
    assert p["scale"] == {"id": "shangding", "version": "2019.1"}
    assert "_sd_alg" not in p  # RFC 9901: absent means sha-256
    assert p["iat"] == int(NOW.timestamp())
    assert p["exp"] == int(NOW.timestamp()) + 86400
    assert att.holder_kid == jwk_thumbprint(w.holder.public_jwk)
    assert att.issued_at == NOW
    assert att.expires_at == NOW + timedelta(hours=24)
    disclosed = {d.name: d.value for d in map(parse_disclosure, parts.disclosures)}
    assert disclosed == {
        "level": 3,
        "level_at_least_2": True,
        "level_at_least_3": True,
        "band": [100, 119],
    }
    sd = p["_sd"]
    assert isinstance(sd, list)
    assert sd == sorted(sd)
    assert {parse_disclosure(d).digest for d in parts.disclosures} < set(sd)


@pytest.mark.parametrize("band", [None, (100, 119)])
def test_digest_count_does_not_reveal_the_level(band: tuple[int, int] | None) -> None:
    w = make_world()
    counts = set()
    for level in range(1, 6):
        jws = decode_jws(
            split_compact(w.issue(CreditClaims(level, band)).sd_jwt).issuer_jwt, what="a"
        )
        sd = jws.payload["_sd"]
        assert isinstance(sd, list)
        counts.add(len(sd))
    assert counts == {6 if band else 5}


def test_no_identifying_claims() -> None:
    w = make_world()
    text = w.issue().sd_jwt
    jws = decode_jws(split_compact(text).issuer_jwt, what="a")
    for forbidden in ("sub", "name", "id", "score", "jti", "given_name", "family_name"):
        assert forbidden not in jws.payload


def test_eddsa_issuer_and_holder() -> None:
    w = make_world(EDDSA, EDDSA)
    jws = decode_jws(split_compact(w.issue().sd_jwt).issuer_jwt, what="a")
    assert jws.header["alg"] == EDDSA
    assert jws.payload["cnf"] == {"jwk": w.holder.public_jwk}


def test_injected_salts_make_issuance_reproducible() -> None:
    issuer, holder = KeySigner.generate(EDDSA), KeySigner.generate()
    args = {
        "issuer": ISSUER,
        "scale_id": "s",
        "scale_version": "1",
        "claims": CreditClaims(2),
        "holder_jwk": holder.public_jwk,
        "status": StatusRef(STATUS_URI, 1),
        "now": NOW,
    }
    a = issue_attestation(issuer, salts=counting_salts(), **args)  # type: ignore[arg-type]
    b = issue_attestation(issuer, salts=counting_salts(), **args)  # type: ignore[arg-type]
    c = issue_attestation(issuer, **args)  # type: ignore[arg-type]
    assert a.sd_jwt == b.sd_jwt != c.sd_jwt


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_extra_jwk_members_are_dropped(alg: str) -> None:
    w = make_world(holder_alg=alg)
    att = issue_attestation(
        w.issuer,
        issuer=ISSUER,
        scale_id="s",
        scale_version="1",
        claims=CreditClaims(2),
        holder_jwk={**w.holder.public_jwk, "kid": "tracking-id", "use": "sig", "y": "AAAA"}
        if alg == EDDSA
        else {**w.holder.public_jwk, "kid": "tracking-id", "use": "sig"},
        status=StatusRef(STATUS_URI, 1),
        now=NOW,
    )
    jws = decode_jws(split_compact(att.sd_jwt).issuer_jwt, what="a")
    assert jws.payload["cnf"] == {"jwk": w.holder.public_jwk}


@pytest.mark.parametrize(
    ("claims", "idx", "now", "lifetime", "jwk_patch"),
    [
        (CreditClaims(0), 1, NOW, timedelta(hours=1), {}),
        (CreditClaims(6), 1, NOW, timedelta(hours=1), {}),
        (CreditClaims(True), 1, NOW, timedelta(hours=1), {}),
        (CreditClaims(3, (5, 4)), 1, NOW, timedelta(hours=1), {}),
        (CreditClaims(3), -1, NOW, timedelta(hours=1), {}),
        (CreditClaims(3), 1, datetime(2026, 1, 1), timedelta(hours=1), {}),
        (CreditClaims(3), 1, NOW, timedelta(0), {}),
        (CreditClaims(3), 1, NOW, timedelta(hours=1), {"d": "AAAA"}),
        (CreditClaims(3), 1, NOW, timedelta(hours=1), {"crv": "P-384"}),
    ],
)
def test_invalid_inputs_are_refused(
    claims: CreditClaims, idx: int, now: datetime, lifetime: timedelta, jwk_patch: dict[str, str]
) -> None:
    w = make_world()
    with pytest.raises(IssuanceError) as info:
        issue_attestation(
            w.issuer,
            issuer=ISSUER,
            scale_id="s",
            scale_version="1",
            claims=claims,
            holder_jwk={**w.holder.public_jwk, **jwk_patch},
            status=StatusRef(STATUS_URI, idx),
            now=now,
            lifetime=lifetime,
        )
    assert info.value.code == "issuance_invalid"


def test_batch_attestations_share_nothing() -> None:
    w = make_world()
    holders = [KeySigner.generate() for _ in range(4)]
    batch = issue_batch(
        w.issuer,
        issuer=ISSUER,
        scale_id="shangding",
        scale_version="2019.1",
        claims=CreditClaims(4, (120, 149)),
        holders=[(h.public_jwk, StatusRef(STATUS_URI, 100 + i)) for i, h in enumerate(holders)],
        now=NOW,
    )
    assert [a.holder_kid for a in batch] == [h.kid for h in holders]
    seen_salts: set[str] = set()
    seen_digests: set[str] = set()
    for att in batch:
        parts = split_compact(att.sd_jwt)
        sd = decode_jws(parts.issuer_jwt, what="a").payload["_sd"]
        assert isinstance(sd, list)
        assert seen_digests.isdisjoint(sd)
        seen_digests.update(sd)
        salts = {parse_disclosure(d).salt for d in parts.disclosures}
        assert seen_salts.isdisjoint(salts)
        seen_salts.update(salts)
    assert len({a.status.idx for a in batch}) == 4


def test_batch_refuses_shared_key_or_index() -> None:
    w = make_world()
    h = KeySigner.generate()
    common = {
        "issuer": ISSUER,
        "scale_id": "s",
        "scale_version": "1",
        "claims": CreditClaims(3),
        "now": NOW,
    }
    with pytest.raises(IssuanceError):
        issue_batch(
            w.issuer,
            holders=[
                (h.public_jwk, StatusRef(STATUS_URI, 1)),
                (h.public_jwk, StatusRef(STATUS_URI, 2)),
            ],
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(IssuanceError):
        issue_batch(
            w.issuer,
            holders=[
                (h.public_jwk, StatusRef(STATUS_URI, 1)),
                (KeySigner.generate().public_jwk, StatusRef(STATUS_URI, 1)),
            ],
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(IssuanceError):
        issue_batch(w.issuer, holders=[({"kty": "RSA"}, StatusRef(STATUS_URI, 1))], **common)  # type: ignore[arg-type]
