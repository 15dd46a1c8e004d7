"""Certificate chain validation for huxin's two-level PKI: a city CA and its node certificates.

What it does: checks a city CA certificate (self-signed, ``CA=true``, ``keyCertSign``, naming the
expected federation and city) and a node certificate against it (issuer name, authority key
identifier, signature, validity at an explicit ``now``, ``CA=false``, key usage and extended key
usage for the requested :class:`certs.ca.Purpose`). Each failure raises its own coded error:
``expired``, ``not_yet_valid``, ``wrong_issuer``, ``wrong_key_usage``, ``not_a_ca``,
``bad_signature``, ``wrong_federation``.

The checks are explicit rather than ``cryptography.x509.verification``: that verifier applies
Web PKI (CA/Browser Forum) profile rules that do not fit a private attestation EKU, and reports
failures as one opaque error, while operators need to know *which* rule failed. The chain is
short and fixed (CA -> node, ``pathlen=0``), so there is no path building to get wrong.

What it deliberately does not do: fetch anything, build paths through intermediates, check
revocation (node certificates are short-lived instead), or read the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs.ca import ATTESTATION_EKU, Purpose, name_parts
from certs.errors import (
    BadSignatureError,
    ExpiredError,
    NotACAError,
    NotYetValidError,
    WrongFederationError,
    WrongIssuerError,
    WrongKeyUsageError,
)
from certs.keys import certificate_public_key
from protocol.jose import PublicKey, key_thumbprint

_T = TypeVar("_T", bound=x509.ExtensionType)


@dataclass(frozen=True)
class VerifiedCertificate:
    """A node certificate that chains to its city CA and suits its purpose.

    Attributes:
        federation: the federation id in the subject ``O``.
        city: the city id in the subject ``OU``.
        purpose: what the key may do.
        kid: RFC 7638 thumbprint of the certified key.
        not_before: start of validity (UTC).
        not_after: end of validity (UTC).
        serial: the certificate serial number.
        public_key: the certified key.
    """

    federation: str
    city: str
    purpose: Purpose
    kid: str
    not_before: datetime
    not_after: datetime
    serial: int
    public_key: PublicKey = field(repr=False)


def _extension(cert: x509.Certificate, cls: type[_T]) -> _T | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def check_validity(cert: x509.Certificate, now: datetime, *, what: str) -> None:
    """Check ``notBefore <= now <= notAfter``.

    Raises:
        ExpiredError: ``now`` is after ``notAfter``.
        NotYetValidError: ``now`` is before ``notBefore``.
    """
    if now < cert.not_valid_before_utc:
        raise NotYetValidError(f"{what} is not valid until {cert.not_valid_before_utc.isoformat()}")
    if now > cert.not_valid_after_utc:
        raise ExpiredError(f"{what} expired at {cert.not_valid_after_utc.isoformat()}")


def check_ca_certificate(
    ca: x509.Certificate,
    *,
    federation: str,
    city: str,
    now: datetime | None = None,
) -> None:
    """Check that ``ca`` is a usable self-signed city CA of ``city`` in ``federation``.

    Args:
        ca: the CA certificate.
        federation: the federation the CA must name in its subject ``O``.
        city: the city the CA must name in its subject ``OU``.
        now: when given, the CA must also be valid at this time.

    Raises:
        NotACAError: no ``BasicConstraints CA=true``.
        WrongKeyUsageError: no ``keyCertSign`` key usage.
        WrongFederationError: the subject names another federation.
        WrongIssuerError: the subject names another city, or the certificate is not self-issued.
        BadSignatureError: the self-signature does not verify.
        ExpiredError: ``now`` is after the CA's ``notAfter``.
        NotYetValidError: ``now`` is before the CA's ``notBefore``.
        BadFileError: the subject lacks ``O`` or ``OU``.
    """
    what = f"the CA certificate of {city!r}"
    basic = _extension(ca, x509.BasicConstraints)
    if basic is None or not basic.ca:
        raise NotACAError(f"{what} is not a CA certificate (BasicConstraints CA=false)")
    usage = _extension(ca, x509.KeyUsage)
    if usage is None or not usage.key_cert_sign:
        raise WrongKeyUsageError(f"{what} may not sign certificates (no keyCertSign)")
    ca_federation, ca_city = name_parts(ca.subject)
    if ca_federation != federation:
        raise WrongFederationError(
            f"{what} belongs to federation {ca_federation!r}, not {federation!r}"
        )
    if ca_city != city:
        raise WrongIssuerError(f"{what} is the CA of {ca_city!r}")
    if ca.issuer != ca.subject:
        raise WrongIssuerError(f"{what} is not self-signed")
    try:
        ca.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as err:
        raise BadSignatureError(f"the self-signature of {what} does not verify") from err
    if now is not None:
        check_validity(ca, now, what=what)


def verify_node_certificate(
    cert: x509.Certificate,
    ca: x509.Certificate,
    *,
    purpose: Purpose,
    now: datetime | None,
) -> VerifiedCertificate:
    """Verify a node certificate against its city CA at ``now``.

    The CA certificate itself is assumed already accepted with :func:`check_ca_certificate`
    (the federation root does that); its validity at ``now`` is checked again here.

    Args:
        cert: the node certificate.
        ca: the city CA certificate it must chain to.
        purpose: the use the key is wanted for.
        now: verification time; ``None`` checks everything except validity periods (used when a
            bundle is loaded, before any particular verification time is known).

    Raises:
        WrongIssuerError: issued by another CA (issuer name or authority key id differ).
        BadSignatureError: the CA's signature does not verify.
        NotACAError: the CA certificate is not a CA.
        WrongKeyUsageError: the node certificate is a CA, lacks ``digitalSignature``, or lacks the
            extended key usage of ``purpose``.
        ExpiredError: ``now`` is after the node or CA certificate's ``notAfter``.
        NotYetValidError: ``now`` is before the node or CA certificate's ``notBefore``.
        BadFileError: the subject lacks ``O`` or ``OU``.
    """
    ca_basic = _extension(ca, x509.BasicConstraints)
    if ca_basic is None or not ca_basic.ca:
        raise NotACAError("the issuing certificate is not a CA certificate")
    ca_federation, ca_city = name_parts(ca.subject)
    if cert.issuer != ca.subject:
        raise WrongIssuerError(
            f"the node certificate was issued by {cert.issuer.rfc4514_string()!r}, "
            f"not by the CA of {ca_city!r}"
        )
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    ski = _extension(ca, x509.SubjectKeyIdentifier)
    if (
        aki is not None
        and aki.key_identifier is not None
        and ski is not None
        and aki.key_identifier != ski.digest
    ):
        raise WrongIssuerError(
            f"the node certificate names another CA key than the CA of {ca_city!r}"
        )
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as err:
        raise BadSignatureError(
            f"the node certificate's signature does not verify under the CA of {ca_city!r}"
        ) from err
    federation, city = name_parts(cert.subject)
    if (federation, city) != (ca_federation, ca_city):
        raise WrongIssuerError(
            f"the node certificate names {city!r} in {federation!r}; its CA is {ca_city!r}"
        )
    basic = _extension(cert, x509.BasicConstraints)
    if basic is not None and basic.ca:
        raise WrongKeyUsageError("a CA certificate cannot be used as a node certificate")
    usage = _extension(cert, x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise WrongKeyUsageError("the node certificate does not allow digitalSignature")
    eku = _extension(cert, x509.ExtendedKeyUsage)
    wanted = ATTESTATION_EKU if purpose is Purpose.ATTESTATION else ExtendedKeyUsageOID.SERVER_AUTH
    if eku is None or wanted not in list(eku):
        raise WrongKeyUsageError(
            f"the node certificate is not for {purpose.value} (extended key usage lacks "
            f"{wanted.dotted_string})"
        )
    if now is not None:
        check_validity(ca, now, what=f"the CA certificate of {ca_city!r}")
        check_validity(cert, now, what=f"the {purpose.value} certificate of {city!r}")
    key = certificate_public_key(cert)
    return VerifiedCertificate(
        federation=federation,
        city=city,
        purpose=purpose,
        kid=key_thumbprint(key),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
        public_key=key,
    )
