"""Issuer side: build and sign huxin credit attestations as SD-JWT VCs (RFC 9901).

What it does: turns a resident's federation level (and optionally a band of the issuer's scale)
into an SD-JWT with header ``typ: dc+sd-jwt`` whose issuer-signed payload carries ``iss``,
``iat``, ``exp``, ``vct``, ``cnf.jwk`` (the holder's key), ``status`` (Token Status List
reference), ``scale`` and ``_sd`` (``_sd_alg`` is omitted: RFC 9901 section 4.1.1 makes its
absence mean ``sha-256``). Selectively disclosable: ``level``, the true ``level_at_least_k``
booleans (``k`` = 2..level; "at least 1" holds for every attested resident, so it carries no
information and has no slot) and ``band``. The false booleans are replaced by decoy digests, so
every attestation of an issuer carries the same number of digests whatever the level; ``_sd`` is
sorted so order reveals nothing. Batch issuance signs N attestations for N
holder keys with independent salts and status indexes, and ``iat`` is rounded down to the hour,
so presentations from one batch share nothing a merchant could join on (privacy invariant 3).

What it deliberately does not do: carry a name, ID number, exact score or any stable subject
identifier (DESIGN.md "Attestation content"); allocate status indexes or keep records (the node
does); read the clock (``now`` is passed in). Salts come from ``secrets`` unless a deterministic
source is injected for test vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from protocol.errors import IssuanceError, MalformedError
from protocol.jose import Signer, jwk_thumbprint, public_key_from_jwk
from protocol.sdjwt import (
    SD_KEY,
    Disclosure,
    SaltSource,
    decoy_digest,
    join_sd_jwt,
    make_disclosure,
    random_salt,
    sign_jws,
)

VCT: Final = "urn:huxin:credit-level:1"
DEFAULT_LIFETIME: Final = timedelta(hours=24)
#: ``iat`` is rounded down to this step so that attestations issued in the same hour (a whole
#: batch, and everyone else's) share it: a timestamp to the second would let a merchant join
#: two presentations from one batch.
DEFAULT_TIME_GRANULARITY: Final = timedelta(hours=1)
#: The JOSE ``typ`` of an issued attestation (SD-JWT VC).
ATTESTATION_TYP: Final = "dc+sd-jwt"
MIN_LEVEL: Final = 1
MAX_LEVEL: Final = 5
#: The lowest ``k`` with a ``level_at_least_k`` slot: "at least 1" is true for every attestation.
MIN_AT_LEAST: Final = 2
LEVEL_CLAIM: Final = "level"
BAND_CLAIM: Final = "band"


_JWK_MEMBERS: Final = ("kty", "crv", "x", "y")


def at_least_claim(k: int) -> str:
    """The claim name of the boolean "level is at least ``k``"."""
    return f"level_at_least_{k}"


#: Every claim name an attestation may disclose.
DISCLOSABLE_CLAIMS: Final = frozenset(
    {LEVEL_CLAIM, BAND_CLAIM, *(at_least_claim(k) for k in range(MIN_AT_LEAST, MAX_LEVEL + 1))}
)


@dataclass(frozen=True)
class StatusRef:
    """Where the attestation's status lives: a Token Status List ``uri`` and an index ``idx``."""

    uri: str
    idx: int


@dataclass(frozen=True)
class CreditClaims:
    """What an attestation says about its holder.

    Attributes:
        level: the federation level, 1..5.
        band: an inclusive score band ``(low, high)`` of the issuer's scale, or ``None``.
    """

    level: int
    band: tuple[int, int] | None = None


@dataclass(frozen=True)
class IssuedAttestation:
    """A signed attestation ready for the holder's wallet.

    Attributes:
        sd_jwt: ``<issuer-jwt>~<disclosure>~...~`` (no key binding).
        holder_kid: RFC 7638 thumbprint of the holder key in ``cnf.jwk``.
        status: the status list reference it carries.
        issued_at: ``iat``.
        expires_at: ``exp``.
    """

    sd_jwt: str
    holder_kid: str
    status: StatusRef
    issued_at: datetime
    expires_at: datetime


def _check_inputs(
    claims: CreditClaims, status: StatusRef, now: datetime, lifetime: timedelta
) -> None:
    if type(claims.level) is not int or not MIN_LEVEL <= claims.level <= MAX_LEVEL:
        raise IssuanceError(f"level must be an integer {MIN_LEVEL}..{MAX_LEVEL}")
    if claims.band is not None:
        low, high = claims.band
        if type(low) is not int or type(high) is not int or low > high:
            raise IssuanceError("band must be two integers low <= high")
    if type(status.idx) is not int or status.idx < 0 or not status.uri:
        raise IssuanceError("status needs a uri and a non-negative integer idx")
    if now.tzinfo is None or now.utcoffset() is None:
        raise IssuanceError("now must be timezone-aware")
    if lifetime <= timedelta(0):
        raise IssuanceError("lifetime must be positive")


def build_disclosures(
    claims: CreditClaims, salts: SaltSource
) -> tuple[list[Disclosure], list[str]]:
    """The Disclosures of ``claims`` and the full, sorted ``_sd`` digest list (with decoys).

    Salts are drawn in a fixed order (level, k = 2..5, band) so that an injected deterministic
    source gives reproducible output.
    """
    disclosures = [make_disclosure(LEVEL_CLAIM, claims.level, salts())]
    digests = [disclosures[0].digest]
    for k in range(MIN_AT_LEAST, MAX_LEVEL + 1):
        if k <= claims.level:
            d = make_disclosure(at_least_claim(k), True, salts())
            disclosures.append(d)
            digests.append(d.digest)
        else:
            digests.append(decoy_digest(salts()))
    if claims.band is not None:
        d = make_disclosure(BAND_CLAIM, [claims.band[0], claims.band[1]], salts())
        disclosures.append(d)
        digests.append(d.digest)
    return disclosures, sorted(digests)


def issue_attestation(
    signer: Signer,
    *,
    issuer: str,
    scale_id: str,
    scale_version: str,
    claims: CreditClaims,
    holder_jwk: Mapping[str, str],
    status: StatusRef,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    salts: SaltSource = random_salt,
    time_granularity: timedelta = DEFAULT_TIME_GRANULARITY,
) -> IssuedAttestation:
    """Sign one attestation bound to ``holder_jwk``.

    Args:
        signer: the issuer's attestation-signing key (ES256 default, EdDSA supported).
        issuer: the ``iss`` recorded for this city in the federation root.
        scale_id: the issuer's scale id (e.g. ``shangding``).
        scale_version: the version of that scale's definition.
        claims: level and optional band.
        holder_jwk: the holder's public JWK (P-256 or Ed25519); only its public members are kept.
        status: the status list reference allocated for this attestation.
        now: issuance time (tz-aware).
        lifetime: ``exp - iat``.
        salts: 128-bit salt source; defaults to :func:`secrets.token_bytes`.
        time_granularity: ``iat`` is ``now`` rounded down to a multiple of this (herd privacy);
            ``exp`` is ``iat + lifetime``.

    Raises:
        IssuanceError: level outside 1..5, bad band, bad status reference, naive ``now``,
            non-positive lifetime or granularity, or ``holder_jwk`` is not a supported public
            key.
    """
    _check_inputs(claims, status, now, lifetime)
    try:
        public_key_from_jwk(holder_jwk)  # validates kty/crv, lengths and the curve point
    except MalformedError as err:
        raise IssuanceError(f"holder key: {err.message}") from err
    # Only the public members, in export order: nothing a wallet adds (kid, use) goes along.
    members = _JWK_MEMBERS if holder_jwk["kty"] == "EC" else _JWK_MEMBERS[:3]
    cnf_jwk = {name: holder_jwk[name] for name in members}
    disclosures, digests = build_disclosures(claims, salts)
    step = int(time_granularity.total_seconds())
    if step < 1:
        raise IssuanceError("time_granularity must be at least one second")
    iat = int(now.timestamp()) // step * step
    exp = iat + int(lifetime.total_seconds())
    header = {"alg": signer.alg, "typ": ATTESTATION_TYP, "kid": signer.kid}
    payload: dict[str, object] = {
        "iss": issuer,
        "iat": iat,
        "exp": exp,
        "vct": VCT,
        "cnf": {"jwk": cnf_jwk},
        "status": {"status_list": {"idx": status.idx, "uri": status.uri}},
        "scale": {"id": scale_id, "version": scale_version},
        SD_KEY: digests,
    }
    jwt = sign_jws(signer, header, payload)
    return IssuedAttestation(
        sd_jwt=join_sd_jwt(jwt, [d.encoded for d in disclosures]),
        holder_kid=jwk_thumbprint(cnf_jwk),
        status=status,
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
    )


def issue_batch(
    signer: Signer,
    *,
    issuer: str,
    scale_id: str,
    scale_version: str,
    claims: CreditClaims,
    holders: Sequence[tuple[Mapping[str, str], StatusRef]],
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    salts: SaltSource = random_salt,
    time_granularity: timedelta = DEFAULT_TIME_GRANULARITY,
) -> list[IssuedAttestation]:
    """Sign one attestation per ``(holder_jwk, status)`` pair, each with fresh salts.

    Presentations made from different attestations of a batch share no holder key, salt,
    digest or status index, so a merchant cannot join them (privacy invariant 3).

    Raises:
        IssuanceError: as :func:`issue_attestation`, or two holders share a key or status index.
    """
    kids = set()
    refs = set()
    for jwk, ref in holders:
        try:
            kids.add(jwk_thumbprint(jwk))
        except MalformedError as err:
            raise IssuanceError(f"holder key: {err.message}") from err
        refs.add((ref.uri, ref.idx))
    if len(kids) != len(holders) or len(refs) != len(holders):
        raise IssuanceError("each attestation of a batch needs its own holder key and status index")
    return [
        issue_attestation(
            signer,
            issuer=issuer,
            scale_id=scale_id,
            scale_version=scale_version,
            claims=claims,
            holder_jwk=jwk,
            status=ref,
            now=now,
            lifetime=lifetime,
            salts=salts,
            time_granularity=time_granularity,
        )
        for jwk, ref in holders
    ]
