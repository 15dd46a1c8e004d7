"""The node's secrets on disk: the attestation signing key, its certificate chain, and the
resident-hash key.

What it does: :func:`create_keys` writes a fresh ES256 (or EdDSA) signing key (mode 0600), a
certificate signing request for the city CA, and a random 256-bit resident-hash key (mode 0600);
:func:`install_certificate` checks a chain from ``huxin ca issue`` against the key and stores it;
:func:`load_keys` loads all of it into :class:`NodeKeys`, which also renders the public JWKS
(with ``x5c``) the node publishes. :class:`ResidentHasher` turns a national ID into the
HMAC-SHA256 hex the database uses; the ID itself is never stored or logged.

What it deliberately does not do: act as a CA (``certs.ca``), or verify chains against the
federation root (the trust bundle does, on the merchant's side).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certs.keys import (
    PRIVATE_KEY_FILE_MODE,
    certificate_public_key,
    generate_private_key,
    key_jwk,
    load_certificate,
    load_private_key,
    private_key_pem,
    public_key_pem,
)
from node.config import NodeConfig
from node.errors import BadRequestError, ConfigError
from protocol.jose import ES256, KeySigner, PrivateKey, key_thumbprint

CSR_SUFFIX: Final = ".csr"
_NATIONAL_ID = re.compile(r"[0-9A-Za-z]{6,32}")
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\s*", re.S)


class ResidentHasher:
    """Keyed hash of national IDs: ``hex(HMAC-SHA256(key, normalised ID))``."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigError("the resident-hash key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "ResidentHasher(<secret>)"

    def __call__(self, national_id: str) -> str:
        """The resident hash of ``national_id`` (upper-cased, trimmed).

        Raises:
            BadRequestError: not 6..32 ASCII letters and digits.
        """
        normalised = national_id.strip().upper()
        if not _NATIONAL_ID.fullmatch(normalised):
            raise BadRequestError("national_id must be 6..32 ASCII letters and digits")
        return hmac.digest(self._key, normalised.encode("ascii"), "sha256").hex()


@dataclass(frozen=True)
class NodeKeys:
    """Everything secret or certified the node loads at start-up."""

    signer: KeySigner
    chain: tuple[x509.Certificate, ...]
    hasher: ResidentHasher

    def jwks(self) -> dict[str, object]:
        """The public JWK Set: the signing key with ``kid``, ``alg``, ``use`` and ``x5c``."""
        jwk: dict[str, object] = dict(key_jwk(self.signer.public_key))
        jwk["use"] = "sig"
        if self.chain:
            jwk["x5c"] = [
                base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
                for c in self.chain
            ]
        return {"keys": [jwk]}


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, PRIVATE_KEY_FILE_MODE)


def _csr(key: PrivateKey, city: str) -> bytes:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, city),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{city} attestation"),
        ]
    )
    algorithm = hashes.SHA256() if isinstance(key, ec.EllipticCurvePrivateKey) else None
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM)


def create_keys(config: NodeConfig, *, alg: str = ES256) -> Path:
    """Write a new signing key, its CSR and the resident-hash key; return the CSR path.

    Raises:
        ConfigError: a key file already exists (never overwritten).
    """
    for path in (config.signing_key, config.resident_key):
        if path.exists():
            raise ConfigError(f"{path} already exists; refusing to overwrite a key")
    key = generate_private_key(alg)
    _write_secret(config.signing_key, private_key_pem(key))
    create_resident_key(config)
    csr_path = config.signing_key.with_suffix(CSR_SUFFIX)
    csr_path.write_bytes(_csr(key, config.city))
    # For `huxin ca issue --public-key`, which certifies a key it never sees the private half of.
    config.signing_key.with_suffix(".pub.pem").write_bytes(public_key_pem(key.public_key()))
    return csr_path


def create_resident_key(config: NodeConfig) -> None:
    """Write a random 256-bit resident-hash key (hex, mode 0600).

    Raises:
        ConfigError: the key file already exists (never overwritten: it would orphan every
            resident record).
    """
    if config.resident_key.exists():
        raise ConfigError(f"{config.resident_key} already exists; refusing to overwrite it")
    _write_secret(config.resident_key, secrets.token_hex(32).encode("ascii") + b"\n")


def split_chain(data: bytes) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM chain file, leaf first.

    Raises:
        CertsError: a block is not a valid certificate (from ``certs.keys``).
        ConfigError: the file holds no certificate.
    """
    blocks = _PEM_CERT.findall(data)
    if not blocks:
        raise ConfigError("the certificate file holds no PEM certificate")
    return tuple(load_certificate(block) for block in blocks)


def check_certificate(chain_pem: bytes, key_pem: bytes) -> None:
    """Check that the leaf of ``chain_pem`` certifies the private key ``key_pem``.

    Raises:
        ConfigError: the leaf is for another key, or there is no certificate.
        CertsError: a certificate or the key cannot be parsed.
    """
    chain = split_chain(chain_pem)
    key = load_private_key(key_pem, what="the signing key")
    if key_thumbprint(certificate_public_key(chain[0])) != key_thumbprint(key.public_key()):
        raise ConfigError("the certificate is not for this node's signing key")


def install_certificate(config: NodeConfig, chain_pem: bytes) -> None:
    """Check that ``chain_pem``'s leaf certifies our signing key, then store it.

    Raises:
        ConfigError: the leaf is for another key, or there is no certificate.
        CertsError: a certificate cannot be parsed.
    """
    check_certificate(chain_pem, config.signing_key.read_bytes())
    config.certificate.write_bytes(chain_pem)


def load_keys(config: NodeConfig) -> NodeKeys:
    """Load the signing key, certificate chain (may be absent before the CA signs) and hash key.

    Raises:
        ConfigError: a key file is missing, or the certificate is for another key.
        CertsError: a key or certificate file is malformed.
    """
    try:
        key = load_private_key(config.signing_key.read_bytes(), what=str(config.signing_key))
        resident_key = bytes.fromhex(config.resident_key.read_text(encoding="ascii").strip())
    except FileNotFoundError as err:
        raise ConfigError(f"{err.filename} is missing; run `huxin node init`") from err
    except ValueError as err:
        raise ConfigError(f"{config.resident_key} is not a hex key") from err
    chain: tuple[x509.Certificate, ...] = ()
    if config.certificate.exists():
        chain = split_chain(config.certificate.read_bytes())
        if key_thumbprint(certificate_public_key(chain[0])) != key_thumbprint(key.public_key()):
            raise ConfigError(f"{config.certificate} is not for the signing key")
    return NodeKeys(signer=KeySigner(key), chain=chain, hasher=ResidentHasher(resident_key))
