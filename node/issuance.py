"""Issuance: a batch of attestations for one resident, one per holder key the app registers.

What it does: validates the holder keys (public P-256 or Ed25519 JWKs, distinct, at most the
configured batch size), then in one transaction locks the resident's row (so a concurrent score
change either precedes the issuance and is reflected, or follows it and revokes it), checks
consent, reserves random status indices (:func:`node.status.reserve`), signs with
``protocol.attestation.issue_batch`` and appends one audit entry for the batch. The transaction
runs on the database driver directly (:func:`node.db.run_transaction`): on SQLite it is one call
into the driver's thread, on PostgreSQL one ``asyncpg`` call per statement. The database keeps
only what revocation needs (status index, level, band, times), never the token or the holder
keys.

What it deliberately does not do: build tokens (``protocol``), or store holder keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from mapping.scale import Scale
from node import audit, failpoints, status
from node.config import NodeConfig
from node.db import Script, Sql, epoch, run_transaction
from node.errors import (
    BadRequestError,
    ConsentRequiredError,
    PayloadTooLargeError,
    UnavailableError,
    UnknownResidentError,
)
from node.imports import band_for
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
    #: Bounds concurrent issuances, each holding one pooled connection for its transaction.
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
    x = _canonical_coordinate(str(jwk["x"]))
    if jwk["kty"] == "EC":
        return {"kty": "EC", "crv": "P-256", "x": x, "y": _canonical_coordinate(str(jwk["y"]))}
    return {"kty": "OKP", "crv": "Ed25519", "x": x}


#: The last character of 32 bytes in unpadded base64url (43 characters) carries 4 data bits
#: and 2 spare bits; these are the characters whose spare bits are zero.
_CANONICAL_LAST_OF_32: Final = frozenset("AEIMQUYcgkosw048")


def _canonical_coordinate(text: str) -> str:
    """``text`` (valid unpadded base64url) re-encoded with its spare low bits cleared."""
    if len(text) == 43 and text[42] in _CANONICAL_LAST_OF_32:  # 32 bytes, already canonical
        return text
    return b64u_encode(b64u_decode(text))


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
        # Transient (locked, deadlock, serialization failure, connection lost) or an index
        # taken after all; a programming error (``ProgrammingError``) is not retried.
        except (OperationalError, IntegrityError) as err:
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
    def script(postgres: bool) -> Script[tuple[list[IssuedAttestation], bool]]:
        return _issue_script(
            issuer, resident=resident, holder_keys=holder_keys, actor=actor, now=now, pg=postgres
        )

    issued, opened_list = await run_transaction(
        issuer.engine, script, before_commit=lambda: failpoints.reach("issuance.commit")
    )
    if opened_list:
        status.note_committed_change(issuer.engine)
    return issued


def _issue_script(
    issuer: Issuer,
    *,
    resident: str,
    holder_keys: Sequence[Mapping[str, str]],
    actor: str,
    now: datetime,
    pg: bool,
) -> Script[tuple[list[IssuedAttestation], bool]]:
    """The issuance transaction: lock the resident, reserve indices, sign, append the audit entry.

    The signatures are made inside the transaction (on SQLite, in the driver's thread), so an
    issuance either commits with its tokens made or leaves nothing behind.
    """
    cfg, scale = issuer.config, issuer.scale
    lifetime = cfg.attestation_lifetime
    lock = " FOR UPDATE" if pg else ""
    found = yield Sql(
        f"SELECT score, level, consent FROM resident WHERE resident = ?{lock}",  # noqa: S608
        (resident,),
    )
    if not found:
        raise UnknownResidentError("no score is held for this resident")
    score, level, consent = float(found[0][0]), int(found[0][1]), bool(found[0][2])
    if not consent:
        raise ConsentRequiredError(
            "居民未同意签发信用证明 / the resident has not consented to attestations"
        )
    band = band_for(scale, score, cfg.band_width)
    issued_at = epoch(now)
    row = (
        resident,
        level,
        None if band is None else band[0],
        None if band is None else band[1],
        issued_at,
        issued_at + int(lifetime.total_seconds()),
    )
    reservation = yield from status.reserve(
        len(holder_keys),
        row,
        list_size=cfg.status_list_size,
        created_at=issued_at,
        postgres=pg,
    )
    uris: dict[int, str] = {}
    holders = []
    for jwk, (list_id, idx) in zip(holder_keys, reservation.slots, strict=True):
        uri = uris.get(list_id) or uris.setdefault(list_id, issuer.publisher.uri(list_id))
        holders.append((jwk, StatusRef(uri=uri, idx=idx)))
    issued = issue_batch(
        issuer.signer,
        issuer=cfg.issuer,
        scale_id=scale.id,
        scale_version=scale.version,
        claims=CreditClaims(level=level, band=band),
        holders=holders,
        now=now,
        lifetime=lifetime,
        keys_checked=True,  # parse_holder_keys ran check_public_jwks; these are minimal JWKs
    )
    detail = {"count": len(issued), "level": level, "band": list(band) if band else None}
    yield from audit.append_script(
        [audit.AuditRecord(actor, "attestation.issue", resident, detail)], issued_at, postgres=pg
    )
    return issued, reservation.opened_list
