"""Private and public key material as bytes: generate, serialise to PEM, load with clear errors.

What it does: generates P-256 (ES256, the default) and Ed25519 (EdDSA) keys; serialises private
keys as PKCS#8 PEM, encrypted with a passphrase when one is given; loads private keys, public keys
and X.509 certificates from PEM and says precisely what is wrong with a file that is not one
(truncated, another kind of PEM, an RSA key, a wrong passphrase). It also parses public JWKs that
carry a ``kid`` and an ``alg``, checking that the ``kid`` is the RFC 7638 thumbprint.

What it deliberately does not do: touch the file system. Writing a private key with mode 0600 is
the caller's job (``node/cli`` does it with :data:`PRIVATE_KEY_FILE_MODE`); this module only
produces and consumes bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cryptography import x509
from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from certs.errors import (
    BadFileError,
    BadPassphraseError,
    PassphraseRequiredError,
    WrongKeyTypeError,
)
from protocol.errors import MalformedError, ProtocolError
from protocol.jose import (
    EDDSA,
    ES256,
    Jwk,
    PrivateKey,
    PublicKey,
    algorithm_for_key,
    jwk_thumbprint,
    public_jwk,
    public_key_from_jwk,
)

#: File mode for every private key huxin writes: owner read/write only.
PRIVATE_KEY_FILE_MODE: Final = 0o600
#: Algorithms huxin keys can have.
KEY_ALGORITHMS: Final = (ES256, EDDSA)

_PEM_PRIVATE_MARKERS: Final = (b"-----BEGIN PRIVATE KEY-----", b"-----BEGIN ENCRYPTED PRIVATE KEY")


def generate_private_key(alg: str = ES256) -> PrivateKey:
    """A fresh private key for ``alg``.

    Raises:
        WrongKeyTypeError: ``alg`` is neither ES256 nor EdDSA.
    """
    if alg == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg == EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    raise WrongKeyTypeError(f"unsupported key algorithm {alg!r}; use ES256 or EdDSA")


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """Serialise ``key`` as PKCS#8 PEM, encrypted with ``passphrase`` when given.

    Raises:
        BadPassphraseError: ``passphrase`` is empty.
    """
    if passphrase is not None and not passphrase:
        raise BadPassphraseError("an empty passphrase would not protect the key")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_key_pem(key: PublicKey) -> bytes:
    """Serialise a public key as SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem_kind(data: bytes) -> str | None:
    start = data.find(b"-----BEGIN ")
    if start < 0:
        return None
    end = data.find(b"-----", start + 11)
    return data[start + 11 : end].decode("ascii", "replace") if end > 0 else None


def checked_key(key: object, *, what: str) -> PrivateKey | PublicKey:
    """Return ``key`` if it is a P-256 or Ed25519 key object.

    Raises:
        WrongKeyTypeError: any other key type or curve (RSA, P-384, X25519, ...).
    """
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return key
        raise WrongKeyTypeError(
            f"{what} is an EC key on {key.curve.name}; huxin uses P-256 (ES256) or Ed25519"
        )
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return key
    raise WrongKeyTypeError(
        f"{what} is a {type(key).__name__.lstrip('_')}; huxin uses P-256 (ES256) or Ed25519"
    )


def load_private_key(
    data: bytes, passphrase: bytes | None = None, *, what: str = "private key"
) -> PrivateKey:
    """Load a PEM private key (PKCS#8, or the traditional EC form).

    Raises:
        BadFileError: not PEM, or PEM of another kind (a certificate, a public key), or damaged.
        PassphraseRequiredError: the key is encrypted and no passphrase was given.
        BadPassphraseError: the passphrase is wrong, or given for an unencrypted key.
        WrongKeyTypeError: an RSA key, another curve, or X25519.
    """
    kind = _pem_kind(data)
    if kind is None:
        raise BadFileError(f"{what} is not a PEM file (no '-----BEGIN' line)")
    if "PRIVATE KEY" not in kind:
        raise BadFileError(f"{what} holds a PEM {kind}, not a private key")
    if "ENCRYPTED" in kind and passphrase is None:
        raise PassphraseRequiredError(f"{what} is encrypted; give its passphrase")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as err:
        raise BadPassphraseError(f"{what} is not encrypted; do not give a passphrase") from err
    except InternalError as err:  # OpenSSL choked, e.g. an Ed448 OID on a 32-byte Ed25519 key
        raise BadFileError(f"{what} is damaged PEM") from err
    except ValueError as err:
        if "ENCRYPTED" in kind:
            raise BadPassphraseError(f"wrong passphrase for {what}") from err
        raise BadFileError(f"{what} is damaged or truncated PEM") from err
    except UnsupportedAlgorithm as err:
        raise WrongKeyTypeError(f"{what} uses an unsupported algorithm") from err
    checked = checked_key(key, what=what)
    if isinstance(checked, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return checked
    raise BadFileError(f"{what} is not a private key")  # pragma: no cover - PEM kind checked


def load_public_key(data: bytes, *, what: str = "public key") -> PublicKey:
    """Load a SubjectPublicKeyInfo PEM public key.

    Raises:
        BadFileError: not PEM, another kind of PEM, or damaged.
        WrongKeyTypeError: an RSA key, another curve, or X25519.
    """
    kind = _pem_kind(data)
    if kind is None:
        raise BadFileError(f"{what} is not a PEM file (no '-----BEGIN' line)")
    if kind != "PUBLIC KEY":
        raise BadFileError(f"{what} holds a PEM {kind}, not a public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, InternalError) as err:
        raise BadFileError(f"{what} is damaged or truncated PEM") from err
    except UnsupportedAlgorithm as err:
        raise WrongKeyTypeError(f"{what} uses an unsupported algorithm") from err
    checked = checked_key(key, what=what)
    if isinstance(checked, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return checked
    raise BadFileError(f"{what} is not a public key")  # pragma: no cover - PEM kind checked


def load_certificate(data: bytes | str, *, what: str = "certificate") -> x509.Certificate:
    """Load one PEM X.509 certificate whose key is P-256 or Ed25519.

    Raises:
        BadFileError: not PEM, another kind of PEM (a key), damaged, or several certificates.
        WrongKeyTypeError: the certified key is RSA, another curve, or X25519.
    """
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    kind = _pem_kind(raw)
    if kind is None:
        raise BadFileError(f"{what} is not a PEM file (no '-----BEGIN' line)")
    if kind != "CERTIFICATE":
        raise BadFileError(f"{what} holds a PEM {kind}, not a certificate")
    if raw.count(b"-----BEGIN ") != 1:
        raise BadFileError(f"{what} must hold exactly one certificate")
    try:
        cert = x509.load_pem_x509_certificate(raw)
        key = cert.public_key()
        # cryptography parses names, extensions and times lazily; parse every field the chain
        # checks use now, so a damaged certificate fails here and not with a ValueError later.
        _ = (cert.subject, cert.issuer, cert.extensions, cert.not_valid_before_utc)
        _ = (cert.not_valid_after_utc, cert.serial_number, cert.signature_hash_algorithm)
    except (
        ValueError,
        x509.InvalidVersion,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ) as err:
        raise BadFileError(f"{what} is damaged or truncated PEM") from err
    except UnsupportedAlgorithm as err:
        raise WrongKeyTypeError(f"{what} certifies a key of an unsupported algorithm") from err
    checked_key(key, what=f"the key in {what}")
    return cert


def certificate_pem(cert: x509.Certificate) -> str:
    """The PEM text of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_public_key(cert: x509.Certificate) -> PublicKey:
    """The P-256 or Ed25519 public key a certificate certifies.

    Raises:
        WrongKeyTypeError: any other key type.
    """
    key = checked_key(cert.public_key(), what="the certified key")
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return key
    raise WrongKeyTypeError("the certificate holds a private key")  # pragma: no cover


def key_jwk(key: PublicKey) -> Jwk:
    """A public JWK with ``kid`` (RFC 7638 thumbprint) and ``alg``; the form huxin publishes."""
    jwk = public_jwk(key)
    jwk["kid"] = jwk_thumbprint(jwk)
    jwk["alg"] = algorithm_for_key(key)
    return jwk


_JWK_MEMBERS: Final = {
    "EC": frozenset({"kty", "crv", "x", "y", "kid", "alg"}),
    "OKP": frozenset({"kty", "crv", "x", "kid", "alg"}),
}


def parse_key_jwk(obj: object, *, what: str = "JWK") -> tuple[Jwk, PublicKey]:
    """Parse a published public JWK: only the key members plus ``kid`` and ``alg``.

    Returns the JWK (as a plain ``dict[str, str]``) and the key object.

    Raises:
        BadFileError: not an object, unknown or missing members, private material, or a point
            not on the curve.
        WrongKeyTypeError: a ``kty``/``crv`` huxin does not use.
    """
    if not isinstance(obj, Mapping):
        raise BadFileError(f"{what} is not a JSON object")
    if "d" in obj:
        raise BadFileError(f"{what} carries private key material; publish only the public key")
    kty = obj.get("kty")
    allowed = _JWK_MEMBERS.get(kty) if isinstance(kty, str) else None
    if allowed is None:
        shown = kty if isinstance(kty, str) else type(kty).__name__  # no repr of deep values
        raise WrongKeyTypeError(f"{what} has kty {shown!r}; huxin uses EC P-256 or OKP Ed25519")
    extra = set(obj) - allowed
    if extra:
        raise BadFileError(f"{what} has unknown members {sorted(extra)}")
    missing = allowed - set(obj)
    if missing:
        raise BadFileError(f"{what} lacks members {sorted(missing)}")
    jwk: Jwk = {}
    for name in sorted(allowed):
        value = obj[name]
        if not isinstance(value, str):
            raise BadFileError(f"{what} member {name!r} is not a string")
        jwk[name] = value
    try:
        key = public_key_from_jwk({k: v for k, v in jwk.items() if k not in ("kid", "alg")})
    except MalformedError as err:
        if "unsupported JWK" in err.message:
            raise WrongKeyTypeError(f"{what}: {err.message}") from err
        raise BadFileError(f"{what}: {err.message}") from err
    except ProtocolError as err:  # pragma: no cover - other protocol errors are not raised
        raise BadFileError(f"{what}: {err}") from err
    if jwk["kid"] != jwk_thumbprint(jwk):
        raise BadFileError(f"{what} kid is not the RFC 7638 thumbprint of the key")
    if jwk["alg"] != algorithm_for_key(key):
        raise BadFileError(f"{what} alg {jwk['alg']!r} does not match its key type")
    return jwk, key
