"""The certs package's errors: one root, one stable machine code per class.

Codes are stable strings the CLI prints and the node's HTTP API returns (listed in
``docs/federation.md``). This module defines classes only; it never decides anything.
"""

from __future__ import annotations

from typing import ClassVar

from protocol.errors import codes_of


class CertsError(Exception):
    """Root of every certs failure. ``code`` is stable; the message is for people."""

    code: ClassVar[str] = "certs_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------
# Files and keys


class BadFileError(CertsError):
    """A file is not what it should be: truncated JSON, not PEM, a certificate where a key was
    expected, an unknown member in a document, a value of the wrong type."""

    code = "bad_file"


class WrongKeyTypeError(BadFileError):
    """A key or certificate uses an algorithm huxin does not sign with (only P-256 and Ed25519)."""

    code = "wrong_key_type"


class PassphraseRequiredError(CertsError):
    """A private key file is encrypted and no passphrase was given."""

    code = "passphrase_required"


class BadPassphraseError(CertsError):
    """The passphrase does not decrypt the private key file."""

    code = "bad_passphrase"


class TooLargeError(CertsError):
    """A document exceeds a configured limit (bytes, members, keys, signatures)."""

    code = "too_large"


# --------------------------------------------------------------------------------------------
# Certificates


class ExpiredError(CertsError):
    """A certificate's ``notAfter`` is before the verification time."""

    code = "expired"


class NotYetValidError(CertsError):
    """A certificate's ``notBefore`` is after the verification time."""

    code = "not_yet_valid"


class WrongIssuerError(CertsError):
    """A certificate was not issued by the expected CA (another city's, or an unknown one)."""

    code = "wrong_issuer"


class WrongKeyUsageError(CertsError):
    """A certificate's key usage or extended key usage does not allow the requested use."""

    code = "wrong_key_usage"


class NotACAError(CertsError):
    """A certificate used as a CA lacks ``BasicConstraints CA=true``."""

    code = "not_a_ca"


class BadSignatureError(CertsError):
    """A certificate or JWS signature does not verify."""

    code = "bad_signature"


class KeyMismatchError(CertsError):
    """A published JWK is not the public key its certificate certifies."""

    code = "key_mismatch"


# --------------------------------------------------------------------------------------------
# The federation root


class InvalidRootError(CertsError):
    """A root document breaks a rule of its own: a bad threshold, a kid that is not the key's
    thumbprint, a member named twice, an unknown field."""

    code = "invalid_root"


class DuplicateKeyError(InvalidRootError):
    """The same governance key (by RFC 7638 thumbprint) appears twice in one root."""

    code = "duplicate_key"


class ThresholdNotMetError(CertsError):
    """Fewer member cities signed than the threshold requires."""

    code = "threshold_not_met"


class RollbackError(CertsError):
    """A root's version is not newer than the trusted one."""

    code = "rollback"


class VersionSkippedError(CertsError):
    """A root's version is more than one above the trusted one (every version must be seen)."""

    code = "version_skipped"


class WrongFederationError(CertsError):
    """A document, a signature or a member CA belongs to another federation."""

    code = "wrong_federation"


class FrozenError(CertsError):
    """The newest root expired longer ago than the grace period (a freeze attack, or neglect)."""

    code = "frozen"


class PayloadMismatchError(CertsError):
    """Signature files to combine sign different documents."""

    code = "payload_mismatch"


class RootMismatchError(CertsError):
    """A chain of roots holds a different document at the pinned root's version (a fork)."""

    code = "root_mismatch"


class UnknownMemberError(CertsError):
    """No member of the root has this city id."""

    code = "unknown_member"


# --------------------------------------------------------------------------------------------
# The trust bundle


class InvalidBundleError(CertsError):
    """A trust bundle or a member's material document breaks a rule (wrong city, missing scale,
    a scale that is not the member's)."""

    code = "invalid_bundle"


#: Every certs error class, by code; import-time check that codes are unique.
ERROR_CLASSES: dict[str, type[CertsError]] = codes_of(CertsError)
