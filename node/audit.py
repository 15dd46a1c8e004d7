"""The append-only, hash-chained audit log.

What it does: :func:`append` (or :func:`append_script`, the same steps for a transaction run
on the driver) adds entries inside the caller's transaction, holding the chain head row locked
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE``), so
replicas sharing one database extend one chain. Each entry's ``hash`` is
``SHA-256(bytes(prev_hash) || canonical(entry))`` where the canonical encoding is the compact
UTF-8 JSON array ``[seq, at, actor, action, resident, detail]`` (``detail`` being the stored
canonical JSON text, sorted keys). :func:`verify_chain` walks the log and raises
:class:`~node.errors.AuditChainError` naming the first entry that was edited, deleted or
moved; the head row catches deletions at the end.

What it deliberately does not do: store a national ID or name (``resident`` is the keyed hash),
or offer any update or delete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from node.db import Script, Sql, epoch, run_script
from node.errors import AuditChainError
from node.models import AUDIT, AUDIT_HEAD

GENESIS: Final = "0" * 64
#: JSON string encoding (UTF-8 kept, as ``json.dumps(..., ensure_ascii=False)``).
_json_str: Final = json.encoder.encode_basestring
_VERIFY_CHUNK: Final = 20_000


@dataclass(frozen=True)
class AuditRecord:
    """What an entry says: who did what, about which resident (hash), with details.

    ``detail`` is a mapping, or already its canonical JSON text (bulk paths).
    """

    actor: str
    action: str
    resident: str | None = None
    detail: Mapping[str, object] | str = field(default_factory=dict)


def resident_tag(resident: str) -> int:
    """The index key of a resident hash: its first 60 bits (fits a signed 64-bit column)."""
    return int(resident[:15], 16)


def canonical_detail(detail: Mapping[str, object]) -> str:
    """The stored, canonical JSON text of an entry's details."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: int,
    actor: str,
    action: str,
    resident: str | None,
    detail: str,
) -> str:
    """The chain hash of one entry (``detail`` already canonical)."""
    res = "null" if resident is None else _json_str(resident)
    body = f"[{seq},{at},{_json_str(actor)},{_json_str(action)},{res},{_json_str(detail)}]"
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode("utf-8")).hexdigest()


async def append(conn: AsyncConnection, records: Sequence[AuditRecord], now: datetime) -> int:
    """Append ``records`` in order inside the caller's open transaction.

    Returns:
        The sequence number of the last entry (the head's, if ``records`` is empty).
    """
    postgres = conn.dialect.name == "postgresql"
    return await run_script(conn, append_script(records, epoch(now), postgres=postgres))


def append_script(records: Sequence[AuditRecord], at: int, *, postgres: bool) -> Script[int]:
    """:func:`append` as a :data:`node.db.Script`, for transactions run on the driver.

    The head row is locked (``FOR UPDATE`` on PostgreSQL) before the entries are chained onto it.

    Returns:
        The sequence number of the last entry (the head's, if ``records`` is empty).
    """
    lock = " FOR UPDATE" if postgres else ""
    head = yield Sql(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}")  # noqa: S608
    seq, prev = int(head[0][0]), str(head[0][1])
    if not records:
        return seq
    rows: list[tuple[object, ...]] = []
    for rec in records:
        seq += 1
        detail = rec.detail if isinstance(rec.detail, str) else canonical_detail(rec.detail)
        digest = entry_hash(
            prev,
            seq=seq,
            at=at,
            actor=rec.actor,
            action=rec.action,
            resident=rec.resident,
            detail=detail,
        )
        tag = None if rec.resident is None else resident_tag(rec.resident)
        rows.append((seq, at, rec.actor, rec.action, rec.resident, tag, detail, prev, digest))
        prev = digest
    yield Sql(
        "INSERT INTO audit_entry "
        "(seq, at, actor, action, resident, resident_tag, detail, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
        many=True,
    )
    yield Sql("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    return seq


async def record(engine: AsyncEngine, rec: AuditRecord, now: datetime) -> int:
    """Append one entry in its own transaction."""
    async with engine.begin() as conn:
        return await append(conn, [rec], now)


@dataclass(frozen=True)
class AuditView:
    """An entry as shown to the resident it concerns or to the office."""

    seq: int
    at: int
    actor: str
    action: str
    detail: Mapping[str, object]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "detail": dict(self.detail),
        }


async def entries_about(
    engine: AsyncEngine, resident: str, *, limit: int = 1000
) -> list[AuditView]:
    """The newest ``limit`` entries about one resident, oldest first."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(AUDIT.c.seq, AUDIT.c.at, AUDIT.c.actor, AUDIT.c.action, AUDIT.c.detail)
                .where(AUDIT.c.resident_tag == resident_tag(resident), AUDIT.c.resident == resident)
                .order_by(AUDIT.c.seq.desc())
                .limit(limit)
            )
        ).all()
    out = []
    for row in reversed(rows):
        detail = json.loads(row.detail)
        out.append(
            AuditView(
                seq=int(row.seq),
                at=int(row.at),
                actor=str(row.actor),
                action=str(row.action),
                detail=detail if isinstance(detail, dict) else {},
            )
        )
    return out


async def verify_chain(engine: AsyncEngine) -> int:
    """Check the whole chain; return the number of entries.

    Raises:
        AuditChainError: an entry's hash does not match its content (edited), its ``prev_hash``
            does not match its predecessor (reordered or a predecessor deleted), a sequence
            number is missing, or the head row does not match the last entry (tail deleted).
    """
    prev, expected, count = GENESIS, 1, 0
    async with engine.connect() as conn:
        while True:
            rows = (
                await conn.execute(
                    select(AUDIT)
                    .where(AUDIT.c.seq >= expected)
                    .order_by(AUDIT.c.seq)
                    .limit(_VERIFY_CHUNK)
                )
            ).all()
            for row in rows:
                seq = int(row.seq)
                if seq != expected:
                    raise AuditChainError(
                        f"audit entry {expected} is missing (next is {seq}): deleted",
                        seq=expected,
                    )
                if row.prev_hash != prev:
                    raise AuditChainError(
                        f"audit entry {seq} does not follow entry {seq - 1}: "
                        "an entry was deleted, inserted or reordered",
                        seq=seq,
                    )
                digest = entry_hash(
                    prev,
                    seq=seq,
                    at=int(row.at),
                    actor=row.actor,
                    action=row.action,
                    resident=row.resident,
                    detail=row.detail,
                )
                if digest != row.hash:
                    raise AuditChainError(f"audit entry {seq} was edited", seq=seq)
                prev, expected, count = digest, seq + 1, count + 1
            if len(rows) < _VERIFY_CHUNK:
                break
        head = (await conn.execute(select(AUDIT_HEAD).where(AUDIT_HEAD.c.id == 1))).one()
    if int(head.seq) != count or head.hash != prev:
        raise AuditChainError(
            f"the audit head says entry {head.seq} but the log ends at entry {count}: "
            "entries at the end were deleted",
            seq=count + 1,
        )
    return count
