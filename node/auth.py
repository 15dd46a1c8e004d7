"""API credentials and roles: bearer tokens stored as SHA-256 hashes, checked per request.

What it does: creates, lists and revokes credentials (each with one role: ``office``, ``app``,
``merchant``), logging every change to the audit log; :func:`authenticate` resolves an
``Authorization: Bearer`` header to a :class:`Principal`, optionally remembering successful
lookups in memory for a few seconds (keyed by the token's hash, never the token; a revocation
through this process forgets them at once, one through another process shows within the TTL).
Tokens are 256-bit random strings, so a plain SHA-256 is the right stored form (nothing to
brute-force, and lookup stays one index hit).

What it deliberately does not do: decide which route needs which role (``node.app`` declares
that next to each route) or keep sessions.
"""

from __future__ import annotations

import hashlib
import secrets
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from node import audit
from node.db import epoch
from node.errors import BadRequestError, ConflictError, NotFoundError, UnauthorizedError
from node.models import CREDENTIALS

TOKEN_PREFIX: Final = "hx_"  # noqa: S105 - a public prefix, not a secret
_MAX_NAME: Final = 128
#: Beyond this many remembered lookups, expired ones are dropped (and all, if none expired).
_CACHE_LIMIT: Final = 4096


class Role(StrEnum):
    """What a credential may do."""

    OFFICE = "office"
    APP = "app"
    MERCHANT = "merchant"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.role.value}:{self.name}"


@dataclass(frozen=True)
class CredentialInfo:
    """A credential as listed (never the token)."""

    id: int
    name: str
    role: Role
    created_at: int
    revoked_at: int | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass
class _Lookups:
    """Successful lookups of one database, by ``Authorization`` header value, each with the
    window ``[looked up at, looked up at + cache_for)`` in which it is trusted.

    Keyed by the header as received (not the token hash) so that a hit costs one dict lookup
    and no parsing or hashing; the values are only ever compared, never logged or stored.
    """

    found: dict[str, tuple[Principal, datetime, datetime]] = field(default_factory=dict)
    #: Bumped by every revocation through this process: a lookup that started before one
    #: is not remembered.
    generation: int = 0


_LOOKUPS: Final[weakref.WeakKeyDictionary[Engine, _Lookups]] = weakref.WeakKeyDictionary()


def _lookups(engine: AsyncEngine) -> _Lookups:
    lookups = _LOOKUPS.get(engine.sync_engine)
    if lookups is None:
        lookups = _LOOKUPS[engine.sync_engine] = _Lookups()
    return lookups


def token_hash(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    """The role named ``value``.

    Raises:
        BadRequestError: not a role.
    """
    try:
        return Role(value)
    except ValueError:
        raise BadRequestError(
            f"unknown role {value!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None


async def add_credential(
    engine: AsyncEngine, *, name: str, role: Role, actor: str, now: datetime
) -> str:
    """Create a credential and return its bearer token (shown once, stored hashed).

    Raises:
        BadRequestError: the name is empty or too long.
        ConflictError: a credential with this name exists.
    """
    name = name.strip()
    if not name or len(name) > _MAX_NAME:
        raise BadRequestError(f"credential name must be 1..{_MAX_NAME} characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(CREDENTIALS).values(
                    name=name, role=role.value, token_hash=token_hash(token), created_at=epoch(now)
                )
            )
            await audit.append(
                conn,
                [audit.AuditRecord(actor, "credential.add", None, {"name": name, "role": role})],
                now,
            )
    except IntegrityError:
        raise ConflictError(f"a credential named {name!r} already exists") from None
    return token


async def list_credentials(engine: AsyncEngine) -> list[CredentialInfo]:
    """Every credential, revoked ones included."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(CREDENTIALS).order_by(CREDENTIALS.c.id))).all()
    return [
        CredentialInfo(
            id=int(r.id),
            name=str(r.name),
            role=Role(r.role),
            created_at=int(r.created_at),
            revoked_at=None if r.revoked_at is None else int(r.revoked_at),
        )
        for r in rows
    ]


async def revoke_credential(engine: AsyncEngine, *, name: str, actor: str, now: datetime) -> None:
    """Revoke the credential ``name``; its token stops working at once.

    Raises:
        NotFoundError: no live credential has this name.
    """
    async with engine.begin() as conn:
        result = await conn.execute(
            update(CREDENTIALS)
            .where(CREDENTIALS.c.name == name, CREDENTIALS.c.revoked_at.is_(None))
            .values(revoked_at=epoch(now))
        )
        if result.rowcount != 1:
            raise NotFoundError(f"no live credential named {name!r}")
        await audit.append(
            conn, [audit.AuditRecord(actor, "credential.revoke", None, {"name": name})], now
        )
    # Committed: forget every remembered lookup, and any lookup still in flight.
    lookups = _lookups(engine)
    lookups.generation += 1
    lookups.found.clear()


_NEVER: Final = timedelta(0)


def _checked(authorization: str | None) -> tuple[str, str]:
    """A well-formed ``Authorization`` header value and its token's hash.

    Raises:
        UnauthorizedError: missing or not a ``Bearer`` credential of ours.
    """
    if not authorization:
        raise UnauthorizedError("this endpoint needs a credential (Authorization: Bearer ...)")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise UnauthorizedError("malformed credential")
    return authorization, token_hash(token)


def remembered(
    engine: AsyncEngine, authorization: str | None, *, now: datetime, cache_for: timedelta
) -> Principal | None:
    """The principal :func:`authenticate` remembered for ``authorization`` and still trusts at
    ``now``, without a coroutine or the database; ``None`` when it would have to look (nothing
    remembered, expired, caching off, or a malformed header, which it refuses)."""
    if not authorization or cache_for <= _NEVER:
        return None
    hit = _lookups(engine).found.get(authorization)
    if hit is not None and hit[1] <= now < hit[2]:
        return hit[0]
    return None


async def authenticate(
    engine: AsyncEngine,
    authorization: str | None,
    *,
    now: datetime | None = None,
    cache_for: timedelta = timedelta(0),
) -> Principal:
    """Resolve an ``Authorization`` header value.

    With ``now`` and a positive ``cache_for``, a successful lookup is remembered (by the header
    value) for ``cache_for`` and answered from memory meanwhile. A revocation through
    :func:`revoke_credential` in this process forgets every remembered lookup at once; one made
    by another process (the CLI, another replica) shows within ``cache_for``. Failed lookups
    are never remembered.

    Raises:
        UnauthorizedError: missing, not ``Bearer``, unknown or revoked.
    """
    header, digest = _checked(authorization)
    caching = now is not None and cache_for > _NEVER
    lookups = _lookups(engine)
    if caching:
        assert now is not None  # noqa: S101 - for mypy: caching implies it
        hit = lookups.found.get(header)
        if hit is not None and hit[1] <= now < hit[2]:
            return hit[0]
    generation = lookups.generation
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(CREDENTIALS.c.name, CREDENTIALS.c.role).where(
                    CREDENTIALS.c.token_hash == digest,
                    CREDENTIALS.c.revoked_at.is_(None),
                )
            )
        ).first()
    if row is None:
        lookups.found.pop(header, None)
        raise UnauthorizedError("unknown or revoked credential")
    principal = Principal(name=str(row.name), role=Role(row.role))
    if caching and lookups.generation == generation:
        assert now is not None  # noqa: S101 - for mypy: caching implies it
        if len(lookups.found) >= _CACHE_LIMIT:
            _forget_expired(lookups, now)
        lookups.found[header] = (principal, now, now + cache_for)
    return principal


def _forget_expired(lookups: _Lookups, now: datetime) -> None:
    live = {k: v for k, v in lookups.found.items() if v[1] <= now < v[2]}
    lookups.found = live if len(live) < _CACHE_LIMIT else {}
