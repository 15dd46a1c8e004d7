"""Issuance: a batch of attestations for one resident, one per holder key the app registers.

What it does: validates the holder keys (public P-256 or Ed25519 JWKs, distinct, at most the
configured batch size), then in one transaction locks the resident's row (so a concurrent score
change either precedes the issuance and is reflected, or follows it and revokes it), checks
consent, reserves random status indices (:func:`node.status.reserve`), signs with
``protocol.attestation.issue_batch`` and appends one audit entry. The database keeps only what
revocation needs (status index, level, band, times), never the token or the holder keys.

What it deliberately does not do: build tokens (``protocol``), or store holder keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mapping.scale import Scale
from node import audit, failpoints, status
from node.config import NodeConfig
from node.db import epoch
from node.errors import (
    BadRequestError,
    ConsentRequiredError,
    PayloadTooLargeError,
    UnavailableError,
    UnknownResidentError,
)
from node.imports import band_for
from node.models import RESIDENTS
from protocol.attestation import CreditClaims, IssuedAttestation, StatusRef, issue_batch
from protocol.errors import ProtocolError
from protocol.jose import (
    Jwk,
    Signer,
    b64u_decode,
    b64u_encode,
    check_public_jwk,
    check_public_jwks,
)

_RETRIES = 5


@dataclass(frozen=True)
class Issuer:
    """What issuance needs from the running node."""

    engine: AsyncEngine
    signer: Signer
    config: NodeConfig
    scale: Scale
    publisher: status.StatusPublisher
    #: Bounds concurrent issuances so each can hold its transaction's connection and borrow a
    #: second one for index draws (PostgreSQL) without exhausting the pool.
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))


def parse_holder_keys(raw: object, *, max_batch: int) -> list[Jwk]:
    """Validate the holder keys of a request: a non-empty list of distinct public JWKs.

    Raises:
        BadRequestError: not a list, a key is malformed or private, or a key repeats.
        PayloadTooLargeError: more keys than ``max_batch``.
    """
    if not isinstance(raw, list) or not raw:
        raise BadRequestError("holder_keys must be a non-empty list of public JWKs")
    if len(raw) > max_batch:
        raise PayloadTooLargeError(f"at most {max_batch} holder keys per request")
    if not _all_valid(raw):
        for n, obj in enumerate(raw):  # name the first refused entry, in order
            if not isinstance(obj, dict):
                raise BadRequestError(f"holder_keys[{n}] is not a JSON object")
            try:
                check_public_jwk(obj)
            except ProtocolError as err:
                raise BadRequestError(f"holder_keys[{n}]: {err.message}") from err
    keys: list[Jwk] = []
    seen: set[tuple[str, ...]] = set()
    for n, obj in enumerate(raw):
        jwk = _minimal_jwk(obj)
        # The minimal JWK's members are what its RFC 7638 thumbprint hashes: compare them.
        kid = tuple(jwk.values())
        if kid in seen:
            raise BadRequestError(f"holder_keys[{n}] repeats a key; each attestation needs its own")
        seen.add(kid)
        keys.append(jwk)
    return keys


def _all_valid(raw: list[object]) -> bool:
    """True if every entry is a public JWK: ``check_public_jwks``, the checks of importing each."""
    jwks = [obj for obj in raw if isinstance(obj, dict)]
    if len(jwks) != len(raw):
        return False
    try:
        check_public_jwks(jwks)
    except ProtocolError:
        return False
    return True


def _minimal_jwk(jwk: Mapping[str, object]) -> Jwk:
    """The minimal JWK of a key :func:`check_public_jwk` accepted, as ``public_jwk`` exports it.

    Only the required members are kept, and each coordinate is re-encoded so that spare low bits
    in its last character (which base64 decoding ignores) cannot make one key look like two.
    """
    x = b64u_encode(b64u_decode(str(jwk["x"])))
    if jwk["kty"] == "EC":
        return {"kty": "EC", "crv": "P-256", "x": x, "y": b64u_encode(b64u_decode(str(jwk["y"])))}
    return {"kty": "OKP", "crv": "Ed25519", "x": x}


async def issue(
    issuer: Issuer,
    *,
    resident: str,
    holder_keys: Sequence[Mapping[str, str]],
    actor: str,
    now: datetime,
) -> list[IssuedAttestation]:
    """Issue one attestation per holder key for ``resident`` (a resident hash).

    Raises:
        UnknownResidentError: no score is held for the resident.
        ConsentRequiredError: the resident has not consented (or withdrew consent).
        UnavailableError: the database kept refusing (contention beyond the retry budget).
    """
    for attempt in range(_RETRIES):
        try:
            async with issuer.slots:
                return await _issue_once(
                    issuer, resident=resident, holder_keys=holder_keys, actor=actor, now=now
                )
        except DBAPIError as err:  # deadlock or serialization failure under heavy contention
            if attempt == _RETRIES - 1:
                raise UnavailableError("issuance could not complete; try again") from err
    raise AssertionError("unreachable")  # pragma: no cover


async def _issue_once(
    issuer: Issuer,
    *,
    resident: str,
    holder_keys: Sequence[Mapping[str, str]],
    actor: str,
    now: datetime,
) -> list[IssuedAttestation]:
    cfg, scale = issuer.config, issuer.scale
    lifetime = cfg.attestation_lifetime
    async with issuer.engine.begin() as conn:
        row = (
            await conn.execute(
                select(RESIDENTS.c.score, RESIDENTS.c.level, RESIDENTS.c.consent)
                .where(RESIDENTS.c.resident == resident)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise UnknownResidentError("no score is held for this resident")
        if not row.consent:
            raise ConsentRequiredError(
                "居民未同意签发信用证明 / the resident has not consented to attestations"
            )
        score, level = float(row.score), int(row.level)
        band = band_for(scale, score, cfg.band_width)
        issued_at = epoch(now)
        template = {
            "resident": resident,
            "level": level,
            "band_low": None if band is None else band[0],
            "band_high": None if band is None else band[1],
            "issued_at": issued_at,
            "expires_at": issued_at + int(lifetime.total_seconds()),
        }
        slots = await status.reserve(
            conn,
            [template] * len(holder_keys),
            list_size=cfg.status_list_size,
            now=now,
            engine=None if cfg.is_sqlite else issuer.engine,
        )
        holders = [
            (jwk, StatusRef(uri=issuer.publisher.uri(list_id), idx=idx))
            for jwk, (list_id, idx) in zip(holder_keys, slots, strict=True)
        ]
        issued = issue_batch(
            issuer.signer,
            issuer=cfg.issuer,
            scale_id=scale.id,
            scale_version=scale.version,
            claims=CreditClaims(level=level, band=band),
            holders=holders,
            now=now,
            lifetime=lifetime,
        )
        await audit.append(
            conn,
            [
                audit.AuditRecord(
                    actor,
                    "attestation.issue",
                    resident,
                    {"count": len(issued), "level": level, "band": list(band) if band else None},
                )
            ],
            now,
        )
        await failpoints.reach("issuance.commit")
    return issued
