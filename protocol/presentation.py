"""Holder side: minimal presentations with a Key Binding JWT (RFC 9901 sections 4.3 and 5).

What it does: from an issued attestation (``<issuer-jwt>~<disclosures>~``) and a
:class:`DisclosureRequest`, keeps only the requested Disclosures and appends a Key Binding JWT
(header ``typ: kb+jwt``; payload ``iat``, single-string ``aud``, ``nonce``, ``sd_hash``) signed
by the holder key whose public half is the attestation's ``cnf.jwk``.

Two modes:

* **nonce mode** -- the verifier sent a nonce; it goes into ``nonce``.
* **one-way mode** (``nonce=None``) -- a QR code shown at a gate that cannot send a nonce. The
  holder puts a fresh 128-bit random value of its own in ``nonce`` (the claim stays present, as
  RFC 9901 requires), so two honest presentations always differ; the verifier accepts it only
  within a short ``iat`` window and only once (see :mod:`protocol.replay`).

What it deliberately does not do: verify the issuer's signature (the wallet received the
attestation over an authenticated channel; the verifier checks everything), disclose anything
not requested, or read the clock or random source implicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from protocol.attestation import (
    BAND_CLAIM,
    LEVEL_CLAIM,
    MAX_LEVEL,
    MIN_AT_LEAST,
    MIN_LEVEL,
    at_least_claim,
)
from protocol.errors import InvalidTokenError, MalformedError, PresentationRequestError
from protocol.jose import Signer, b64u_encode, jwk_thumbprint
from protocol.sdjwt import (
    SD_KEY,
    SaltSource,
    decode_jws,
    join_sd_jwt,
    parse_disclosure,
    random_salt,
    sd_hash,
    sign_jws,
    split_compact,
)

#: The JOSE ``typ`` of a Key Binding JWT (RFC 9901 section 4.3).
KB_TYP: Final = "kb+jwt"


@dataclass(frozen=True)
class DisclosureRequest:
    """Which claims the verifier needs.

    Attributes:
        level: disclose the exact federation level.
        level_at_least: disclose the boolean "level is at least k" for this ``k`` (2..5).
            ``k`` = 1 is met by every valid attestation, so it needs no Disclosure and adds
            none: the Key Binding over the issuer-signed JWT alone proves it.
        band: disclose the band of the issuer's scale.
    """

    level: bool = False
    level_at_least: int | None = None
    band: bool = False

    def claim_names(self) -> tuple[str, ...]:
        """The claim names this request asks for, in presentation order.

        Raises:
            PresentationRequestError: ``level_at_least`` is outside 1..5.
        """
        names: list[str] = []
        if self.level:
            names.append(LEVEL_CLAIM)
        if self.level_at_least is not None:
            k = self.level_at_least
            if type(k) is not int or not MIN_LEVEL <= k <= MAX_LEVEL:
                raise PresentationRequestError(f"level_at_least must be {MIN_LEVEL}..{MAX_LEVEL}")
            if k >= MIN_AT_LEAST:
                names.append(at_least_claim(k))
        if self.band:
            names.append(BAND_CLAIM)
        return tuple(names)


def present(
    sd_jwt: str,
    holder: Signer,
    *,
    request: DisclosureRequest,
    audience: str,
    nonce: str | None,
    now: datetime,
    salts: SaltSource = random_salt,
) -> str:
    """Build the minimal SD-JWT+KB for ``request``.

    Args:
        sd_jwt: the attestation as issued (``IssuedAttestation.sd_jwt``).
        holder: the holder key matching the attestation's ``cnf.jwk``.
        request: the claims to disclose; nothing else is disclosed.
        audience: the verifier's identifier, put in ``aud`` as a single string.
        nonce: the verifier's nonce, or ``None`` for one-way (gate QR) mode.
        now: the presentation time (tz-aware); ``iat`` of the KB-JWT.
        salts: random source for the one-way nonce; defaults to :func:`secrets.token_bytes`.

    Returns:
        ``<issuer-jwt>~<selected disclosures>~<kb-jwt>``.

    Raises:
        PresentationRequestError: the attestation is unreadable or already key-bound, the holder
            key is not its ``cnf.jwk``, a requested claim is not in it (e.g. "at least 4" for a
            level-3 attestation), or ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise PresentationRequestError("now must be timezone-aware")
    if not audience:
        raise PresentationRequestError("audience must not be empty")
    wanted = request.claim_names()
    try:
        parts = split_compact(sd_jwt)
        jws = decode_jws(parts.issuer_jwt, what="attestation")
        cnf = jws.payload.get("cnf")
        jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        if not isinstance(jwk, dict):
            raise MalformedError("attestation has no cnf.jwk")
        holder_kid = jwk_thumbprint(jwk)
        referenced = jws.payload.get(SD_KEY)
        available = {}
        for encoded in parts.disclosures:
            disclosure = parse_disclosure(encoded)
            if isinstance(referenced, list) and disclosure.digest in referenced:
                available[disclosure.name] = disclosure.encoded
    except InvalidTokenError as err:
        raise PresentationRequestError(f"unusable attestation: {err.message}") from err
    if parts.kb_jwt is not None:
        raise PresentationRequestError("attestation already carries a key binding JWT")
    if holder_kid != holder.kid:
        raise PresentationRequestError("holder key is not the attestation's cnf.jwk")
    missing = [name for name in wanted if name not in available]
    if missing:
        raise PresentationRequestError(f"attestation cannot disclose {', '.join(missing)}")
    presented = join_sd_jwt(parts.issuer_jwt, [available[name] for name in wanted])
    kb_payload = {
        "iat": int(now.timestamp()),
        "aud": audience,
        "nonce": nonce if nonce is not None else b64u_encode(salts()),
        "sd_hash": sd_hash(presented),
    }
    kb_jwt = sign_jws(holder, {"alg": holder.alg, "typ": KB_TYP}, kb_payload)
    return presented + kb_jwt
