"""The protocol's errors: one root, two branches, one stable machine code per class.

Every failure a verifier can meet is a subclass of :class:`ProtocolError` whose ``code`` is a
stable, lowercase machine string listed in ``docs/protocol.md``. The CLI prints it, the node's
HTTP middleware returns it, test vectors name it. Two branches, as in pyjwt:

* :class:`InvalidTokenError` -- the bytes presented are not acceptable (bad signature, expired,
  revoked, ...). Retrying with the same input will fail again.
* :class:`UnavailableError` -- something the verifier needs could not be obtained (a status list
  is missing or stale). The token may be fine; the verifier cannot tell yet.

This module defines classes only; it never decides anything.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar


class ProtocolError(Exception):
    """Root of every protocol failure. ``code`` is stable; the message is for people."""

    code: ClassVar[str] = "protocol_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidTokenError(ProtocolError):
    """The presented bytes are not acceptable."""

    code = "invalid_token"


class UnavailableError(ProtocolError):
    """Material the verifier needs (a status list, a key set) could not be obtained."""

    code = "unavailable"


class MalformedError(InvalidTokenError):
    """Not parseable as the expected structure (bad base64url, JSON, segment count, claim type)."""

    code = "malformed"


class TooLargeError(InvalidTokenError):
    """Input exceeds a configured size limit; refused before heavy parsing."""

    code = "too_large"


class WrongTypeError(InvalidTokenError):
    """The ``typ`` header is not the one this token kind requires (RFC 8725 section 3.11)."""

    code = "wrong_type"


class AlgorithmNotAllowedError(InvalidTokenError):
    """The ``alg`` header is not in the configured allowlist, or does not match the key."""

    code = "alg_not_allowed"


class BadSignatureError(InvalidTokenError):
    """A signature does not verify under the resolved key."""

    code = "bad_signature"


class UnknownKeyError(InvalidTokenError):
    """No trusted key matches the token's issuer and ``kid``."""

    code = "unknown_key"


class UntrustedIssuerError(InvalidTokenError):
    """The issuer is not a member of the trusted federation."""

    code = "untrusted_issuer"


class ForbiddenHeaderError(InvalidTokenError):
    """A header tries to supply a key (``jku``, ``x5u``, ``jwk``, ``x5c``) or is an unknown crit."""

    code = "forbidden_header"


class ExpiredError(InvalidTokenError):
    """``exp`` is in the past beyond the allowed leeway."""

    code = "expired"


class NotYetValidError(InvalidTokenError):
    """``nbf`` or ``iat`` is in the future beyond the allowed leeway."""

    code = "not_yet_valid"


class MissingClaimError(InvalidTokenError):
    """A required claim is absent."""

    code = "missing_claim"


class BadDisclosureError(InvalidTokenError):
    """A disclosure is malformed, unreferenced, referenced twice, or a digest repeats."""

    code = "bad_disclosure"


class KeyBindingMissingError(InvalidTokenError):
    """The presentation carries no Key Binding JWT; key binding is mandatory."""

    code = "key_binding_missing"


class KeyBindingInvalidError(InvalidTokenError):
    """The Key Binding JWT is malformed, not signed by ``cnf.jwk``, or its ``sd_hash`` differs."""

    code = "key_binding_invalid"


class WrongAudienceError(InvalidTokenError):
    """The Key Binding JWT's ``aud`` is not this verifier."""

    code = "wrong_audience"


class WrongNonceError(InvalidTokenError):
    """The Key Binding JWT's ``nonce`` is not the one this verifier issued."""

    code = "wrong_nonce"


class StaleError(InvalidTokenError):
    """The Key Binding JWT's ``iat`` is outside the freshness window."""

    code = "stale"


class ReplayedError(InvalidTokenError):
    """A one-way presentation was already seen by this verifier."""

    code = "replayed"


class RevokedError(InvalidTokenError):
    """The status list marks the attestation as revoked (or suspended)."""

    code = "revoked"


class WrongSubjectError(InvalidTokenError):
    """A Status List Token's ``sub`` (or ``iss``) is not the list the referenced token names."""

    code = "wrong_subject"


class StatusRollbackError(InvalidTokenError):
    """A Status List Token is older (``iat``) than the one already held; it is not stored."""

    code = "status_rollback"


class StatusIndexError(InvalidTokenError):
    """The status reference is malformed or its index is outside the list."""

    code = "status_index_out_of_range"


class StatusUnavailableError(UnavailableError):
    """The referenced status list is not cached, failed verification, or is past its ``exp``."""

    code = "status_unavailable"


class IssuanceError(ProtocolError):
    """The issuer was asked to sign something it must not (bad level, band, status or key)."""

    code = "issuance_invalid"


class PresentationRequestError(ProtocolError):
    """The holder cannot satisfy a disclosure request from the attestation it holds."""

    code = "cannot_present"


_E = TypeVar("_E", bound=Exception)


def codes_of(root: type[_E]) -> dict[str, type[_E]]:
    """``root`` and every class below it, by stable ``code``.

    Raises:
        RuntimeError: two classes share a code (a programming error, caught at import time).
    """
    out: dict[str, type[_E]] = {}
    stack = [root]
    while stack:
        cls = stack.pop()
        code = str(getattr(cls, "code", ""))
        if code in out and out[code] is not cls:
            raise RuntimeError(f"duplicate error code {code!r} below {root.__name__}")
        out[code] = cls
        stack.extend(cls.__subclasses__())
    return out


#: Every concrete protocol error class, by code. Used by docs and tests to keep codes unique.
ERROR_CLASSES: dict[str, type[ProtocolError]] = codes_of(ProtocolError)
