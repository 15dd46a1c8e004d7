"""Interop: our tokens verify with the reference ``sd-jwt`` package and with jwcrypto, and an
ES256 SD-JWT+KB made by the reference package verifies with ours.

The reference package cannot issue ``status`` or ``vct`` by itself; it passes through any
always-visible claim, so the test gives it ``iss``, ``iat``, ``exp``, ``vct``, ``status`` and
``scale`` as plain user claims and marks the huxin claims with ``SDObj``. Our verifier runs
with its normal policy and a status source holding the referenced list -- nothing is relaxed.
Its Key Binding JWT takes ``iat`` from the real clock, so that test verifies at real time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from protocol.attestation import VCT, CreditClaims
from protocol.jose import jwk_thumbprint, public_key_from_jwk
from protocol.keys import StaticKeyResolver
from protocol.presentation import DisclosureRequest
from protocol.sdjwt import decode_jws, split_compact
from protocol.verifier import verify_presentation
from tests.protocol.sdjwt_support import (
    AUDIENCE,
    ISSUER,
    NONCE,
    NOW,
    STATUS_URI,
    FakeSource,
    make_world,
)


def jwcrypto_key(jwk: dict[str, str]) -> JWK:
    return JWK.from_json(json.dumps(jwk))


@pytest.mark.parametrize(
    "request_",
    [
        DisclosureRequest(level=True),
        DisclosureRequest(level_at_least=3, band=True),
        DisclosureRequest(),
    ],
)
def test_reference_package_verifies_our_presentation(request_: DisclosureRequest) -> None:
    w = make_world()
    text = w.present(request_)
    issuer_key = jwcrypto_key(w.issuer.public_jwk)

    def get_key(issuer: str, header: dict[str, object]) -> JWK:
        assert issuer == ISSUER
        assert header["kid"] == w.issuer.kid
        return issuer_key

    ref = SDJWTVerifier(text, get_key, expected_aud=AUDIENCE, expected_nonce=NONCE)
    payload = ref.get_verified_payload()
    disclosed = {k: payload[k] for k in request_.claim_names()}
    ours = verify_presentation(
        text, keys=w.keys, audience=AUDIENCE, nonce=NONCE, status=w.status, now=NOW
    )
    assert disclosed == dict(ours.disclosed)
    assert payload["vct"] == VCT
    assert payload["status"] == {"status_list": {"idx": 7, "uri": STATUS_URI}}
    hidden = {"level", "band", *(f"level_at_least_{k}" for k in range(1, 6))}
    assert not (hidden - set(request_.claim_names())) & set(payload)


def test_reference_package_rejects_our_presentation_for_another_audience() -> None:
    w = make_world()
    text = w.present()
    key = jwcrypto_key(w.issuer.public_jwk)
    with pytest.raises(ValueError, match="audience"):
        SDJWTVerifier(text, lambda _i, _h: key, expected_aud="https://other", expected_nonce=NONCE)


def test_jwcrypto_verifies_issuer_signature_and_key_binding() -> None:
    w = make_world()
    text = w.present(DisclosureRequest(level=True))
    parts = split_compact(text)
    assert parts.kb_jwt is not None
    issuer_jws = JWS()
    issuer_jws.deserialize(parts.issuer_jwt)
    issuer_jws.verify(jwcrypto_key(w.issuer.public_jwk), alg="ES256")
    cnf = decode_jws(parts.issuer_jwt, what="a").payload["cnf"]
    assert isinstance(cnf, dict)
    kb_jws = JWS()
    kb_jws.deserialize(parts.kb_jwt)
    kb_jws.verify(jwcrypto_key(cnf["jwk"]), alg="ES256")
    assert json.loads(kb_jws.payload)["aud"] == AUDIENCE


def test_jwcrypto_verifies_eddsa_tokens() -> None:
    w = make_world("EdDSA", "EdDSA")
    parts = split_compact(w.present())
    assert parts.kb_jwt is not None
    for token, jwk in (
        (parts.issuer_jwt, w.issuer.public_jwk),
        (parts.kb_jwt, w.holder.public_jwk),
    ):
        jws = JWS()
        jws.deserialize(token)
        jws.verify(jwcrypto_key(jwk), alg="EdDSA")


def test_reference_package_presentation_verifies_with_ours() -> None:
    issuer_key = JWK.generate(kty="EC", crv="P-256")
    holder_key = JWK.generate(kty="EC", crv="P-256")
    issuer_public = json.loads(issuer_key.export_public())
    kid = jwk_thumbprint(issuer_public)
    now = datetime.now(UTC).replace(microsecond=0)
    claims = {
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=24)).timestamp()),
        "vct": VCT,
        "status": {"status_list": {"idx": 42, "uri": STATUS_URI}},
        "scale": {"id": "qianjiang", "version": "2018"},
        SDObj("level"): 4,
        SDObj("level_at_least_4"): True,
        SDObj("band"): [700, 749],
    }
    issuer = SDJWTIssuer(
        claims,
        issuer_key,
        holder_key,
        sign_alg="ES256",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": kid},
    )
    holder = SDJWTHolder(issuer.sd_jwt_issuance)
    holder.create_presentation(
        {"level_at_least_4": True},
        nonce=NONCE,
        aud=AUDIENCE,
        holder_key=holder_key,
        sign_alg="ES256",
    )
    keys = StaticKeyResolver.of({ISSUER: public_key_from_jwk(issuer_public)}, city="hangzhou")
    result = verify_presentation(
        holder.sd_jwt_presentation,
        keys=keys,
        audience=AUDIENCE,
        nonce=NONCE,
        status=FakeSource(),
        now=datetime.now(UTC),
    )
    assert result.city == "hangzhou"
    assert result.scale_id == "qianjiang"
    assert result.level is None
    assert result.level_at_least == frozenset({4})
    assert dict(result.disclosed) == {"level_at_least_4": True}
    assert result.status.idx == 42


def test_reference_holder_presents_our_attestation() -> None:
    """The reference holder selects from our issuance; the result verifies with ours."""
    w = make_world()
    now = datetime.now(UTC)
    att = w.issue(CreditClaims(5, (150, 200)), now=now)
    holder = SDJWTHolder(att.sd_jwt)
    holder.create_presentation(
        {"band": True},
        nonce=NONCE,
        aud=AUDIENCE,
        holder_key=JWK.from_pyca(w.holder.private_key),
        sign_alg="ES256",
    )
    result = verify_presentation(
        holder.sd_jwt_presentation,
        keys=w.keys,
        audience=AUDIENCE,
        nonce=NONCE,
        status=w.status,
        now=datetime.now(UTC),
    )
    assert dict(result.disclosed) == {"band": [150, 200]}
