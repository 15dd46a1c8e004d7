"""The node's tables, as sqlmodel models, and the SQLAlchemy ``Table`` objects for bulk work.

What it does: declares the schema the alembic migrations create (``tests/node`` checks they
agree). Timestamps are integer Unix seconds (UTC) so SQLite and PostgreSQL store them alike and
the audit chain's canonical encoding is stable. A resident is only ever the hex HMAC-SHA256 of
the national ID (``resident``); no table has a column for the ID, a name or a record.

What it deliberately does not do: hold logic. Hot paths (imports, index allocation) use the
``Table`` objects below with SQLAlchemy Core, not the ORM per row.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, Column, Index, Integer, Table, UniqueConstraint
from sqlmodel import Field, SQLModel


class Resident(SQLModel, table=True):
    """A resident's current score. ``seq`` is the source's record sequence (idempotency)."""

    # SQLite: the hash is the clustering key (one b-tree instead of table + index).
    __table_args__ = {"sqlite_with_rowid": False}

    resident: str = Field(primary_key=True, max_length=64)
    score: float
    level: int
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    consent: bool = False
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class StatusListRow(SQLModel, table=True):
    """One status list: its size in entries, a version bumped by every revocation, and how many
    of its indices have been handed out (``allocated``; issuance closes it at a fill limit)."""

    __tablename__ = "status_list"

    id: int = Field(primary_key=True)
    size: int
    bits: int = 1
    version: int = 0
    full: bool = False
    allocated: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class Attestation(SQLModel, table=True):
    """An issued attestation: only what revocation needs (never the token or holder key)."""

    __table_args__ = (
        UniqueConstraint("list_id", "idx", name="uq_attestation_status_index"),
        Index("ix_attestation_resident_live", "resident", "revoked_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="status_list.id")
    idx: int
    resident: str = Field(max_length=64)
    level: int
    band_low: int | None = None
    band_high: int | None = None
    issued_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    revoked_reason: str | None = Field(default=None, max_length=64)


class Credential(SQLModel, table=True):
    """An API credential. Only the SHA-256 of the bearer token is stored."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=128)
    role: str = Field(max_length=16)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class AuditEntry(SQLModel, table=True):
    """One audit log entry; ``hash`` = SHA-256(prev_hash || canonical entry)."""

    __tablename__ = "audit_entry"

    # On SQLite an INTEGER PRIMARY KEY is the rowid itself: no separate index to maintain.
    seq: int = Field(
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
        )
    )
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor: str = Field(max_length=160)
    action: str = Field(max_length=64)
    resident: str | None = Field(default=None, max_length=64)
    #: The first 60 bits of ``resident`` as an integer: a small, fast index key.
    resident_tag: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True)
    )
    detail: str
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain head (one row): the last entry's ``seq`` and ``hash``; the append lock."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)


class Objection(SQLModel, table=True):
    """A resident's objection (异议) to their score, and how the office resolved it."""

    id: int | None = Field(default=None, primary_key=True)
    resident: str = Field(max_length=64, index=True)
    reason: str
    status: str = Field(default="open", max_length=16)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    resolved_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    resolution: str | None = None
    resolved_by: str | None = Field(default=None, max_length=128)


class ImportCheckpoint(SQLModel, table=True):
    """How far an import of one source (a file's SHA-256) has been committed."""

    __tablename__ = "import_checkpoint"

    source: str = Field(primary_key=True, max_length=64)
    position: int = Field(sa_column=Column(BigInteger, nullable=False))
    done: bool = False
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))


METADATA: Final = SQLModel.metadata
RESIDENTS: Final[Table] = METADATA.tables["resident"]
STATUS_LISTS: Final[Table] = METADATA.tables["status_list"]
ATTESTATIONS: Final[Table] = METADATA.tables["attestation"]
CREDENTIALS: Final[Table] = METADATA.tables["credential"]
AUDIT: Final[Table] = METADATA.tables["audit_entry"]
AUDIT_HEAD: Final[Table] = METADATA.tables["audit_head"]
OBJECTIONS: Final[Table] = METADATA.tables["objection"]
CHECKPOINTS: Final[Table] = METADATA.tables["import_checkpoint"]
