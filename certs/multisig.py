"""Several signatures over one payload: JWS JSON General Serialization (RFC 7515 section 7.2.1).

What it does: parses and writes the general JSON form ``{"payload": ..., "signatures": [{
"protected": ..., "signature": ...}, ...]}``, strictly: no unprotected ``header``, no ``crit``,
no members beyond ``alg``, ``kid`` and ``typ`` in a protected header, a ``typ`` that must equal
the document kind, and limits on size and signature count. Signing and verification go through
:mod:`protocol.jose` (one signing path for the whole project). :func:`count_signatures` reports,
for a set of keys grouped by owner, which owners signed validly, counting each key once by its
RFC 7638 thumbprint however many signatures it made, in the manner of python-tuf's
``Root.get_verification_result``.

A *signature file* is the same general JSON form with one signature, so a member can sign on its
own machine and send a small, self-describing file; :func:`combine` merges such files after
checking they sign byte-identical payloads.

What it deliberately does not do: decide thresholds, know what the payload means, or accept keys
from a header (``jwk``, ``jku``, ``x5c``, ``x5u`` are refused as unknown members).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from certs.errors import BadFileError, PayloadMismatchError, TooLargeError
from protocol.errors import AlgorithmNotAllowedError, MalformedError
from protocol.errors import BadSignatureError as JoseBadSignatureError
from protocol.jose import (
    SUPPORTED_ALGORITHMS,
    PublicKey,
    Signer,
    b64u_decode,
    b64u_encode,
    json_bytes,
    parse_json_object,
    verify_signature,
)

_HEADER_MEMBERS: Final = frozenset({"alg", "kid", "typ"})
_SIGNATURE_MEMBERS: Final = frozenset({"protected", "signature"})
_TOP_MEMBERS: Final = frozenset({"payload", "signatures"})


@dataclass(frozen=True)
class JwsSignature:
    """One entry of ``signatures``: its protected header (encoded and decoded) and signature."""

    protected: str
    alg: str
    kid: str
    signature: bytes

    def to_dict(self) -> dict[str, str]:
        """The JSON form of this entry."""
        return {"protected": self.protected, "signature": b64u_encode(self.signature)}


@dataclass(frozen=True)
class GeneralJws:
    """A parsed JWS in general JSON form. ``payload`` is the decoded payload bytes."""

    payload_b64: str
    payload: bytes
    signatures: tuple[JwsSignature, ...]

    def to_bytes(self) -> bytes:
        """Serialise as general JSON (pretty, newline-terminated, for files people read)."""
        obj = {"payload": self.payload_b64, "signatures": [s.to_dict() for s in self.signatures]}
        return json_bytes_pretty(obj)

    def signing_input(self, signature: JwsSignature) -> bytes:
        """The bytes a signature covers: ``protected || '.' || payload`` (RFC 7515 5.1)."""
        return f"{signature.protected}.{self.payload_b64}".encode("ascii")


def json_bytes_pretty(obj: object) -> bytes:
    """Indented UTF-8 JSON with a final newline, for documents people review before signing."""
    return (json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def sign(payload: bytes, signer: Signer, *, typ: str) -> GeneralJws:
    """Sign ``payload`` once; the result is a one-signature file.

    The protected header is ``{"alg", "kid", "typ"}`` with ``kid`` the signer's thumbprint.
    """
    header = {"alg": signer.alg, "kid": signer.kid, "typ": typ}
    protected = b64u_encode(json_bytes(header))
    payload_b64 = b64u_encode(payload)
    signature = signer.sign(f"{protected}.{payload_b64}".encode("ascii"))
    entry = JwsSignature(protected=protected, alg=signer.alg, kid=signer.kid, signature=signature)
    return GeneralJws(payload_b64=payload_b64, payload=payload, signatures=(entry,))


def _parse_header(protected: str, *, typ: str, what: str) -> tuple[str, str]:
    try:
        header = parse_json_object(b64u_decode(protected, what=f"{what} header"), what=what)
    except MalformedError as err:
        raise BadFileError(f"{what}: {err.message}") from err
    extra = set(header) - _HEADER_MEMBERS
    if extra:
        raise BadFileError(f"{what} has unsupported header members {sorted(extra)}")
    alg, kid, header_typ = header.get("alg"), header.get("kid"), header.get("typ")
    if not isinstance(alg, str) or not isinstance(kid, str):
        raise BadFileError(f"{what} header needs string 'alg' and 'kid'")
    if header_typ != typ:
        raise BadFileError(f"{what} has typ {header_typ!r}, expected {typ!r}")
    return alg, kid


def parse(
    data: bytes,
    *,
    typ: str,
    max_bytes: int,
    max_signatures: int,
    what: str = "signed document",
) -> GeneralJws:
    """Parse a general-JSON JWS strictly (signatures are not verified here).

    Args:
        data: the file's bytes.
        typ: the ``typ`` every protected header must carry.
        max_bytes: refuse larger input before parsing.
        max_signatures: refuse more signatures than this.
        what: how to name the document in error messages.

    Raises:
        TooLargeError: over ``max_bytes`` or ``max_signatures``.
        BadFileError: not JSON, not the general form, unknown members, bad base64url, another
            ``typ``, or an unprotected header.
    """
    if len(data) > max_bytes:
        raise TooLargeError(f"{what} is {len(data)} bytes; the limit is {max_bytes}")
    try:
        obj = parse_json_object(data, what=what)
    except MalformedError as err:
        raise BadFileError(f"{err.message} (truncated, or not a JSON file?)") from err
    extra = set(obj) - _TOP_MEMBERS
    if extra:
        raise BadFileError(f"{what} has unknown members {sorted(extra)}")
    payload_b64, entries = obj.get("payload"), obj.get("signatures")
    if not isinstance(payload_b64, str) or not isinstance(entries, list):
        raise BadFileError(f"{what} is not a JWS in general JSON form (payload, signatures)")
    if len(entries) > max_signatures:
        raise TooLargeError(f"{what} has {len(entries)} signatures; the limit is {max_signatures}")
    try:
        payload = b64u_decode(payload_b64, what=f"{what} payload")
    except MalformedError as err:
        raise BadFileError(err.message) from err
    signatures: list[JwsSignature] = []
    for i, entry in enumerate(entries):
        label = f"{what} signature {i + 1}"
        if not isinstance(entry, dict):
            raise BadFileError(f"{label} is not an object")
        extra = set(entry) - _SIGNATURE_MEMBERS
        if extra:
            raise BadFileError(
                f"{label} has members {sorted(extra)}; only 'protected' and 'signature' allowed"
            )
        protected, sig = entry.get("protected"), entry.get("signature")
        if not isinstance(protected, str) or not isinstance(sig, str):
            raise BadFileError(f"{label} needs string 'protected' and 'signature'")
        alg, kid = _parse_header(protected, typ=typ, what=label)
        try:
            raw = b64u_decode(sig, what=f"{label} value")
        except MalformedError as err:
            raise BadFileError(err.message) from err
        signatures.append(JwsSignature(protected=protected, alg=alg, kid=kid, signature=raw))
    return GeneralJws(payload_b64=payload_b64, payload=payload, signatures=tuple(signatures))


def combine(documents: Sequence[GeneralJws]) -> GeneralJws:
    """Merge signature files over the same payload into one document.

    Signatures identical to one already present are dropped; distinct signatures by the same key
    are kept (they count once at verification).

    Raises:
        PayloadMismatchError: the documents sign different payloads (or none given).
    """
    if not documents:
        raise PayloadMismatchError("no signature files to combine")
    first = documents[0]
    merged: list[JwsSignature] = []
    for doc in documents:
        if doc.payload_b64 != first.payload_b64:
            raise PayloadMismatchError(
                "the signature files sign different documents; every member must sign the same "
                "proposal file byte for byte"
            )
        merged.extend(s for s in doc.signatures if s not in merged)
    return GeneralJws(
        payload_b64=first.payload_b64, payload=first.payload, signatures=tuple(merged)
    )


@dataclass(frozen=True)
class SignatureCount:
    """Which owners (cities) signed a payload, in the manner of TUF's ``VerificationResult``.

    Attributes:
        threshold: how many distinct owners must sign.
        signed: thumbprints of keys with at least one valid signature.
        unsigned: thumbprints of known keys without a valid signature.
        signers: owners with at least one key in ``signed``.
        missing: owners without any valid signature.
        invalid: thumbprints of known keys whose signatures all failed to verify.
        unknown: ``kid`` values of signatures by keys this key set does not hold.
    """

    threshold: int
    signed: frozenset[str]
    unsigned: frozenset[str]
    signers: frozenset[str]
    missing: frozenset[str]
    invalid: frozenset[str]
    unknown: frozenset[str]

    @property
    def verified(self) -> bool:
        """Whether at least ``threshold`` distinct owners signed."""
        return len(self.signers) >= self.threshold


def count_signatures(
    jws: GeneralJws,
    keys: Mapping[str, tuple[str, PublicKey]],
    *,
    threshold: int,
    allowed_algorithms: frozenset[str] = SUPPORTED_ALGORITHMS,
) -> SignatureCount:
    """Count valid signatures of ``jws`` by ``keys`` (``{thumbprint: (owner, key)}``).

    Each key counts once however many signatures it made; each owner counts once however many
    of its keys signed. A signature whose ``alg`` is not allowed or does not match its key does
    not count.
    """
    signed: set[str] = set()
    tried: set[str] = set()
    unknown: set[str] = set()
    for entry in jws.signatures:
        known = keys.get(entry.kid)
        if known is None:
            unknown.add(entry.kid)
            continue
        if entry.kid in signed:
            continue  # counted once by thumbprint, however many signatures
        tried.add(entry.kid)
        try:
            verify_signature(
                entry.alg, known[1], jws.signing_input(entry), entry.signature, allowed_algorithms
            )
        except (JoseBadSignatureError, AlgorithmNotAllowedError):
            continue
        signed.add(entry.kid)
    owners = {owner for owner, _ in keys.values()}
    signers = {keys[kid][0] for kid in signed}
    return SignatureCount(
        threshold=threshold,
        signed=frozenset(signed),
        unsigned=frozenset(set(keys) - signed),
        signers=frozenset(signers),
        missing=frozenset(owners - signers),
        invalid=frozenset(tried - signed),
        unknown=frozenset(unknown),
    )
