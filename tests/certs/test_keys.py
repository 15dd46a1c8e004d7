"""Key and certificate files: round trips, passphrases, and clear errors for bad files."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from certs.errors import (
    BadFileError,
    BadPassphraseError,
    CertsError,
    PassphraseRequiredError,
    WrongKeyTypeError,
)
from certs.keys import (
    certificate_pem,
    generate_private_key,
    key_jwk,
    load_certificate,
    load_private_key,
    load_public_key,
    parse_key_jwk,
    private_key_pem,
    public_key_pem,
)
from protocol.jose import key_thumbprint
from tests.certs.sim import Federation


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_private_key_round_trip(alg: str) -> None:
    key = generate_private_key(alg)
    loaded = load_private_key(private_key_pem(key))
    assert key_thumbprint(loaded.public_key()) == key_thumbprint(key.public_key())
    pub = load_public_key(public_key_pem(key.public_key()))
    assert key_thumbprint(pub) == key_thumbprint(key.public_key())


def test_encrypted_private_key() -> None:
    key = generate_private_key()
    pem = private_key_pem(key, b"correct horse")
    assert b"ENCRYPTED" in pem
    assert key_thumbprint(load_private_key(pem, b"correct horse").public_key()) == key_thumbprint(
        key.public_key()
    )
    with pytest.raises(PassphraseRequiredError) as required:
        load_private_key(pem)
    assert required.value.code == "passphrase_required"
    with pytest.raises(BadPassphraseError, match="wrong passphrase"):
        load_private_key(pem, b"battery staple")
    with pytest.raises(BadPassphraseError, match="not encrypted"):
        load_private_key(private_key_pem(key), b"x")
    with pytest.raises(BadPassphraseError):
        private_key_pem(key, b"")


def test_unknown_algorithm() -> None:
    with pytest.raises(WrongKeyTypeError):
        generate_private_key("RS256")


def _pem(key: ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", BadFileError, "not a PEM file"),
        (b'{"kty": "EC"}', BadFileError, "not a PEM file"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", BadFileError, "CERT"),
        (b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n", BadFileError, "truncated"),
    ],
)
def test_bad_private_key_files(data: bytes, error: type[CertsError], message: str) -> None:
    with pytest.raises(error, match=message) as info:
        load_private_key(data, what="ca.key")
    assert "ca.key" in info.value.message


def test_wrong_key_types_are_named() -> None:
    with pytest.raises(WrongKeyTypeError, match="secp384r1") as info:
        load_private_key(_pem(ec.generate_private_key(ec.SECP384R1())))
    assert info.value.code == "wrong_key_type"
    with pytest.raises(WrongKeyTypeError, match="X25519"):
        load_private_key(_pem(x25519.X25519PrivateKey.generate()))


def test_certificate_files() -> None:
    fed = Federation()
    cert = fed["zhengzhou"].ca_cert
    assert load_certificate(certificate_pem(cert)) == cert
    key_pem = private_key_pem(generate_private_key())
    with pytest.raises(BadFileError, match="not a certificate"):
        load_certificate(key_pem, what="ca.pem")
    with pytest.raises(BadFileError, match="exactly one"):
        load_certificate(certificate_pem(cert) * 2)
    text = certificate_pem(cert)
    with pytest.raises(BadFileError, match="damaged or truncated"):
        load_certificate(text[: len(text) // 2] + "\n-----END CERTIFICATE-----\n")
    with pytest.raises(BadFileError, match="not a public key"):
        load_public_key(key_pem)


def test_published_jwk() -> None:
    key = generate_private_key().public_key()
    jwk = key_jwk(key)
    assert jwk["kid"] == key_thumbprint(key)
    parsed, loaded = parse_key_jwk(jwk)
    assert parsed == jwk
    assert key_thumbprint(loaded) == jwk["kid"]
    with pytest.raises(BadFileError, match="thumbprint"):
        parse_key_jwk({**jwk, "kid": "abc"})
    with pytest.raises(BadFileError, match="alg"):
        parse_key_jwk({**jwk, "alg": "EdDSA"})
    with pytest.raises(BadFileError, match="private"):
        parse_key_jwk({**jwk, "d": "AAAA"})
    with pytest.raises(BadFileError, match="unknown members"):
        parse_key_jwk({**jwk, "use": "sig"})
    with pytest.raises(WrongKeyTypeError):
        parse_key_jwk({"kty": "RSA", "n": "AQAB", "e": "AQAB"})
