"""A city's certificate authority: the self-signed CA certificate and the node certificates it
issues.

What it does: builds X.509 v3 certificates with ``cryptography``.

* The **city CA** is self-signed, ``BasicConstraints CA=true, pathlen=0`` (it issues only end
  certificates), ``KeyUsage keyCertSign, cRLSign``, with subject and authority key identifiers.
  Its subject names the federation (``O``) and the city (``OU``), so a CA certificate cannot be
  passed off as another federation's or another city's (see :mod:`certs.chain`).
* **Node certificates** are short-lived (:data:`DEFAULT_NODE_LIFETIME`, 30 days) and come in two
  purposes (:class:`Purpose`): ``attestation`` for the key that signs credit attestations and
  status lists (``KeyUsage digitalSignature``, ``ExtendedKeyUsage`` :data:`ATTESTATION_EKU`), and
  ``tls`` for the node's HTTPS key (``digitalSignature``, ``serverAuth``, a SAN with the node's
  DNS names or IP addresses). A node certificate never outlives its CA: its ``notAfter`` is
  clamped to the CA's.

:data:`ATTESTATION_EKU` lives under a private arc derived from a UUID (ITU-T X.667, ``2.25``),
which needs no registration: ``2.25.289588172041844243536611108978802207636`` (the UUID
``d9dca738-9c94-48d0-86a5-41f49fceab94`` as an integer) is huxin's arc,
``.1`` under it the attestation-signing purpose.

What it deliberately does not do: read or write files, keep a serial-number database, publish
revocation lists (node certificates are short-lived instead), or validate chains (that is
:mod:`certs.chain`).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.errors import BadFileError, KeyMismatchError, NotACAError
from certs.keys import certificate_public_key, checked_key
from protocol.jose import PrivateKey, PublicKey, key_thumbprint

#: huxin's private OID arc (a UUID under ITU-T X.667 ``2.25``).
HUXIN_ARC: Final = "2.25.289588172041844243536611108978802207636"
#: Extended key usage of a node's attestation-signing certificate.
ATTESTATION_EKU: Final = x509.ObjectIdentifier(HUXIN_ARC + ".1")

DEFAULT_CA_LIFETIME: Final = timedelta(days=5 * 365)
DEFAULT_NODE_LIFETIME: Final = timedelta(days=30)
#: A node certificate starts this long before ``now``, for clocks that lag a little.
BACKDATE: Final = timedelta(minutes=5)


class Purpose(StrEnum):
    """What a node certificate's key may be used for."""

    ATTESTATION = "attestation"
    TLS = "tls"


def _hash_for(key: PrivateKey) -> hashes.SHA256 | None:
    # Ed25519 signs without a separate hash; ECDSA P-256 pairs with SHA-256.
    return hashes.SHA256() if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _serial() -> int:
    # 159 random bits: positive, at most 20 octets (RFC 5280 section 4.1.2.2).
    return secrets.randbits(159) | 1


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


def _name(federation: str, city: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, federation),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, city),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def name_parts(name: x509.Name) -> tuple[str, str]:
    """The ``(federation, city)`` a huxin certificate name carries in ``O`` and ``OU``.

    Raises:
        BadFileError: the name lacks exactly one ``O`` and one ``OU``.
    """

    def one(oid: x509.ObjectIdentifier, label: str) -> str:
        values = name.get_attributes_for_oid(oid)
        if len(values) != 1 or not isinstance(values[0].value, str):
            raise BadFileError(f"certificate name {name.rfc4514_string()!r} lacks one {label}")
        return values[0].value

    return one(NameOID.ORGANIZATION_NAME, "O"), one(NameOID.ORGANIZATIONAL_UNIT_NAME, "OU")


def create_ca(
    key: PrivateKey,
    *,
    federation: str,
    city: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_CA_LIFETIME,
    common_name: str | None = None,
) -> x509.Certificate:
    """A self-signed city CA certificate for ``key``.

    Args:
        key: the CA private key (P-256 or Ed25519); keep it offline.
        federation: federation id, written as the subject ``O``.
        city: the city id, written as the subject ``OU``.
        now: start of validity.
        lifetime: validity period.
        common_name: subject ``CN``; defaults to ``"<city> huxin city CA"``.

    Raises:
        WrongKeyTypeError: the key is not P-256 or Ed25519.
    """
    checked_key(key, what="the CA key")
    _utc(now, "now")
    public = key.public_key()
    name = _name(federation, city, common_name or f"{city} huxin city CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    return builder.sign(key, _hash_for(key))


def issue_node_certificate(
    ca_key: PrivateKey,
    ca_certificate: x509.Certificate,
    subject_key: PublicKey,
    *,
    purpose: Purpose,
    now: datetime,
    lifetime: timedelta = DEFAULT_NODE_LIFETIME,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    common_name: str | None = None,
) -> x509.Certificate:
    """Issue a short-lived node certificate for ``subject_key``.

    The subject repeats the CA's federation (``O``) and city (``OU``). ``notAfter`` is
    ``now + lifetime`` clamped to the CA's own ``notAfter``.

    Args:
        ca_key: the city CA's private key.
        ca_certificate: the city CA's certificate.
        subject_key: the node's public key (attestation-signing or TLS).
        purpose: :attr:`Purpose.ATTESTATION` or :attr:`Purpose.TLS`.
        now: start of validity.
        lifetime: validity period (default 30 days).
        dns_names: SAN DNS names (TLS certificates need at least one name or address).
        ip_addresses: SAN IP addresses.
        common_name: subject ``CN``; defaults to ``"<city> <purpose>"``.

    Raises:
        NotACAError: ``ca_certificate`` is not a CA certificate.
        WrongKeyTypeError: a key is not P-256 or Ed25519.
        KeyMismatchError: ``ca_key`` does not belong to ``ca_certificate``.
        BadFileError: a TLS certificate without any name or address, or an invalid IP address.
    """
    _utc(now, "now")
    checked_key(subject_key, what="the node key")
    try:
        basic = ca_certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        basic = None
    if basic is None or not basic.ca:
        raise NotACAError("the issuing certificate is not a CA certificate")
    if key_thumbprint(ca_key.public_key()) != key_thumbprint(
        certificate_public_key(ca_certificate)
    ):
        raise KeyMismatchError("the CA private key does not belong to the CA certificate")
    federation, city = name_parts(ca_certificate.subject)
    not_after = min(now + lifetime, ca_certificate.not_valid_after_utc)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(federation, city, common_name or f"{city} {purpose.value}"))
        .issuer_name(ca_certificate.subject)
        .public_key(subject_key)
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                certificate_public_key(ca_certificate)
            ),
            critical=False,
        )
    )
    if purpose is Purpose.ATTESTATION:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ATTESTATION_EKU]), critical=True)
    else:
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        for address in ip_addresses:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(address)))
            except ValueError as err:
                raise BadFileError(f"{address!r} is not an IP address") from err
        if not names:
            raise BadFileError("a TLS certificate needs at least one DNS name or IP address")
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key))
