"""City CA and node certificates: what they contain, and each way chain validation fails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs.ca import ATTESTATION_EKU, Purpose, create_ca, issue_node_certificate
from certs.chain import check_ca_certificate, verify_node_certificate
from certs.errors import (
    BadFileError,
    BadSignatureError,
    ExpiredError,
    KeyMismatchError,
    NotACAError,
    NotYetValidError,
    WrongFederationError,
    WrongIssuerError,
    WrongKeyUsageError,
)
from protocol.jose import KeySigner
from tests.certs.sim import FEDERATION, NOW, City, Federation


@pytest.fixture(scope="module")
def fed() -> Federation:
    return Federation()


def test_ca_certificate_profile(fed: Federation) -> None:
    ca = fed["zhengzhou"].ca_cert
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca
    assert basic.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    check_ca_certificate(ca, federation=FEDERATION, city="zhengzhou", now=NOW)


def test_attestation_certificate_profile(fed: Federation) -> None:
    city = fed["hangzhou"]
    cert = city.node_cert
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=30, minutes=5)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ATTESTATION_EKU]
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    verified = verify_node_certificate(cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=NOW)
    assert verified.city == "hangzhou"
    assert verified.kid == city.node.kid


def test_tls_certificate(fed: Federation) -> None:
    city = fed["fuzhou"]
    tls = KeySigner.generate()
    cert = issue_node_certificate(
        city.ca_key.private_key,
        city.ca_cert,
        tls.public_key,
        purpose=Purpose.TLS,
        now=NOW,
        dns_names=["fuzhou.huxin.example"],
        ip_addresses=["127.0.0.1"],
    )
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in list(eku)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["fuzhou.huxin.example"]
    verify_node_certificate(cert, city.ca_cert, purpose=Purpose.TLS, now=NOW)
    with pytest.raises(WrongKeyUsageError, match="not for attestation"):
        verify_node_certificate(cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=NOW)
    with pytest.raises(BadFileError, match="DNS name"):
        issue_node_certificate(
            city.ca_key.private_key, city.ca_cert, tls.public_key, purpose=Purpose.TLS, now=NOW
        )


def test_eddsa_ca_and_node() -> None:
    city = City(
        "suzhou",
        "苏州",
        "Suzhou",
        "osmanthus",
        federation=FEDERATION,
        ca_key=KeySigner.generate("EdDSA"),
        node=KeySigner.generate("EdDSA"),
    )
    verify_node_certificate(city.node_cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=NOW)


def test_expired_and_not_yet_valid(fed: Federation) -> None:
    city = fed["zhengzhou"]
    with pytest.raises(ExpiredError, match="expired at") as info:
        verify_node_certificate(
            city.node_cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=NOW + timedelta(days=31)
        )
    assert info.value.code == "expired"
    with pytest.raises(NotYetValidError) as early:
        verify_node_certificate(
            city.node_cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=NOW - timedelta(days=1)
        )
    assert early.value.code == "not_yet_valid"


def test_node_certificate_never_outlives_its_ca(fed: Federation) -> None:
    city = fed["zhengzhou"]
    cert = city.issue(KeySigner.generate(), lifetime=timedelta(days=100 * 365))
    assert cert.not_valid_after_utc == city.ca_cert.not_valid_after_utc


def test_wrong_issuer_another_city(fed: Federation) -> None:
    with pytest.raises(WrongIssuerError, match="zhengzhou") as info:
        verify_node_certificate(
            fed["hangzhou"].node_cert,
            fed["zhengzhou"].ca_cert,
            purpose=Purpose.ATTESTATION,
            now=NOW,
        )
    assert info.value.code == "wrong_issuer"


def test_not_a_ca(fed: Federation) -> None:
    city = fed["wuhan"]
    with pytest.raises(NotACAError) as info:
        verify_node_certificate(
            city.node_cert, city.node_cert, purpose=Purpose.ATTESTATION, now=NOW
        )
    assert info.value.code == "not_a_ca"
    with pytest.raises(NotACAError):
        check_ca_certificate(city.node_cert, federation=FEDERATION, city="wuhan")
    with pytest.raises(NotACAError):
        issue_node_certificate(
            city.node.private_key,
            city.node_cert,
            KeySigner.generate().public_key,
            purpose=Purpose.ATTESTATION,
            now=NOW,
        )


def test_ca_used_as_node_certificate_is_wrong_key_usage(fed: Federation) -> None:
    city = fed["nanjing"]
    with pytest.raises(WrongKeyUsageError, match="CA certificate cannot"):
        verify_node_certificate(city.ca_cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=NOW)


def test_bad_signature_impostor_ca(fed: Federation) -> None:
    # An impostor CA with the same name signs a node certificate without an authority key id:
    # the names match, the signature does not.
    city = fed["nanjing"]
    impostor = KeySigner.generate()
    node = KeySigner.generate()
    cert = (
        x509.CertificateBuilder()
        .subject_name(city.node_cert.subject)
        .issuer_name(city.ca_cert.subject)
        .public_key(node.public_key)
        .serial_number(7)
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            city.node_cert.extensions.get_extension_for_class(x509.KeyUsage).value, critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ATTESTATION_EKU]), critical=True)
        .sign(impostor.private_key, hashes.SHA256())
    )
    with pytest.raises(BadSignatureError) as info:
        verify_node_certificate(cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=NOW)
    assert info.value.code == "bad_signature"


def test_ca_checks_name_federation_and_city(fed: Federation) -> None:
    ca = fed["fuzhou"].ca_cert
    with pytest.raises(WrongFederationError):
        check_ca_certificate(ca, federation="another", city="fuzhou")
    with pytest.raises(WrongIssuerError):
        check_ca_certificate(ca, federation=FEDERATION, city="wuhan")
    with pytest.raises(ExpiredError):
        check_ca_certificate(
            ca, federation=FEDERATION, city="fuzhou", now=NOW + timedelta(days=20 * 365)
        )


def test_ca_key_must_match_certificate(fed: Federation) -> None:
    with pytest.raises(KeyMismatchError, match="does not belong"):
        issue_node_certificate(
            fed["wuhan"].ca_key.private_key,
            fed["fuzhou"].ca_cert,
            KeySigner.generate().public_key,
            purpose=Purpose.ATTESTATION,
            now=NOW,
        )


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        create_ca(
            KeySigner.generate().private_key, federation="f", city="c", now=NOW.replace(tzinfo=None)
        )
