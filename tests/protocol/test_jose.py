"""JOSE building blocks: strict base64url, duplicate JSON members, JWKs, thumbprints, signers."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.errors import AlgorithmNotAllowedError, BadSignatureError, MalformedError
from protocol.jose import (
    EDDSA,
    ES256,
    KeySigner,
    b64u_decode,
    b64u_encode,
    jwk_thumbprint,
    parse_json_object,
    public_jwk,
    public_key_from_jwk,
    verify_signature,
)

# RFC 8037 appendix A.2 and A.3: the Ed25519 example key and its RFC 7638 thumbprint.
RFC8037_PUBLIC = {
    "kty": "OKP",
    "crv": "Ed25519",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rfc8037_thumbprint() -> None:
    assert jwk_thumbprint(RFC8037_PUBLIC) == RFC8037_THUMBPRINT


def test_rfc8037_signature_verifies() -> None:
    # RFC 8037 appendix A.4: JWS over "Example of Ed25519 signing".
    signing_input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    sig = b64u_decode(
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    )
    key = public_key_from_jwk(RFC8037_PUBLIC)
    verify_signature(EDDSA, key, signing_input, sig, frozenset({EDDSA}))
    with pytest.raises(BadSignatureError):
        verify_signature(EDDSA, key, signing_input + b"x", sig, frozenset({EDDSA}))


@pytest.mark.parametrize("bad", ["a", "ab=", "a+b/", "ab cd", "é"])
def test_b64u_decode_is_strict(bad: str) -> None:
    with pytest.raises(MalformedError):
        b64u_decode(bad)


def test_b64u_round_trip() -> None:
    for n in range(40):
        data = bytes(range(n))
        assert b64u_decode(b64u_encode(data)) == data


def test_duplicate_json_members_are_refused() -> None:
    with pytest.raises(MalformedError, match="duplicate"):
        parse_json_object(b'{"alg":"ES256","alg":"none"}')
    with pytest.raises(MalformedError):
        parse_json_object(b"[1]")
    with pytest.raises(MalformedError):
        parse_json_object(b'{"x": NaN}')
    with pytest.raises(MalformedError):
        parse_json_object(b"\xff")


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_signer_round_trip_and_jwk(alg: str) -> None:
    signer = KeySigner.generate(alg)
    assert signer.alg == alg
    sig = signer.sign(b"payload")
    key = public_key_from_jwk(signer.public_jwk)
    verify_signature(alg, key, b"payload", sig, frozenset({ES256, EDDSA}))
    assert signer.kid == jwk_thumbprint(public_jwk(key))


def test_allowlist_and_key_type_decide_not_the_header() -> None:
    signer = KeySigner.generate(ES256)
    sig = signer.sign(b"x")
    with pytest.raises(AlgorithmNotAllowedError):
        verify_signature(EDDSA, signer.public_key, b"x", sig, frozenset({ES256, EDDSA}))
    with pytest.raises(AlgorithmNotAllowedError):
        verify_signature(ES256, signer.public_key, b"x", sig, frozenset({EDDSA}))
    with pytest.raises(AlgorithmNotAllowedError):
        verify_signature("HS256", signer.public_key, b"x", sig, frozenset({"HS256"}))
    with pytest.raises(BadSignatureError):
        verify_signature(ES256, signer.public_key, b"x", sig[:-1], frozenset({ES256}))


def test_private_jwk_and_bad_points_are_refused() -> None:
    with pytest.raises(MalformedError):
        public_key_from_jwk({**RFC8037_PUBLIC, "d": "AAAA"})
    ec_jwk = dict(KeySigner.generate(ES256).public_jwk)
    ec_jwk["y"] = ec_jwk["x"]
    with pytest.raises(MalformedError):
        public_key_from_jwk(ec_jwk)
    with pytest.raises(MalformedError):
        public_key_from_jwk({"kty": "RSA", "crv": "x"})


def test_ed25519_public_jwk_shape() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    assert set(public_jwk(key)) == {"kty", "crv", "x"}
