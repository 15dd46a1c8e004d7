"""API credentials and roles: bearer tokens stored as SHA-256 hashes, checked per request.

What it does: creates, lists and revokes credentials (each with one role: ``office``, ``app``,
``merchant``), logging every change to the audit log; :func:`authenticate` resolves an
``Authorization: Bearer`` header to a :class:`Principal`. Tokens are 256-bit random strings, so a
plain SHA-256 is the right stored form (nothing to brute-force, and lookup stays one index hit).

What it deliberately does not do: decide which route needs which role (``node.app`` declares
that next to each route) or keep sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from node import audit
from node.db import epoch
from node.errors import BadRequestError, ConflictError, NotFoundError, UnauthorizedError
from node.models import CREDENTIALS

TOKEN_PREFIX: Final = "hx_"  # noqa: S105 - a public prefix, not a secret
_MAX_NAME: Final = 128


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


async def authenticate(engine: AsyncEngine, authorization: str | None) -> Principal:
    """Resolve an ``Authorization`` header value.

    Raises:
        UnauthorizedError: missing, not ``Bearer``, unknown or revoked.
    """
    if not authorization:
        raise UnauthorizedError("this endpoint needs a credential (Authorization: Bearer ...)")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise UnauthorizedError("malformed credential")
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(CREDENTIALS.c.name, CREDENTIALS.c.role).where(
                    CREDENTIALS.c.token_hash == token_hash(token),
                    CREDENTIALS.c.revoked_at.is_(None),
                )
            )
        ).first()
    if row is None:
        raise UnauthorizedError("unknown or revoked credential")
    return Principal(name=str(row.name), role=Role(row.role))
