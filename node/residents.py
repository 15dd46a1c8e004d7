"""Residents' rights (知情权, 异议权, 信用修复): consent, objections, and their resolution.

What it does: grants and withdraws a resident's consent to issuance (withdrawal revokes every
outstanding attestation at once), files an objection to the held score, lists objections for
the office, and resolves one -- optionally correcting the score, which is audited like any
score change and revokes attestations that no longer hold. Every step is one transaction with
its audit entry.

What it deliberately does not do: authenticate the resident (the city app does, and acts for
them with its ``app`` credential), or keep the national ID (callers pass the resident hash).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from node import audit, status
from node.db import epoch
from node.errors import BadRequestError, ConflictError, NotFoundError, UnknownResidentError
from node.imports import RecordValidator, apply_batch
from node.models import OBJECTIONS, RESIDENTS

MAX_REASON: Final = 2000
OPEN: Final = "open"
UPHELD: Final = "upheld"
REJECTED: Final = "rejected"


async def _require_resident(conn: AsyncConnection, resident: str) -> tuple[float, int, int, bool]:
    row = (
        await conn.execute(
            select(RESIDENTS.c.score, RESIDENTS.c.level, RESIDENTS.c.seq, RESIDENTS.c.consent)
            .where(RESIDENTS.c.resident == resident)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise UnknownResidentError("no score is held for this resident")
    return float(row.score), int(row.level), int(row.seq), bool(row.consent)


async def set_consent(
    engine: AsyncEngine, *, resident: str, granted: bool, actor: str, now: datetime
) -> int:
    """Grant or withdraw consent; return how many attestations withdrawal revoked.

    Raises:
        UnknownResidentError: no score is held for the resident.
    """
    async with engine.begin() as conn:
        await _require_resident(conn, resident)
        await conn.execute(
            update(RESIDENTS).where(RESIDENTS.c.resident == resident).values(consent=granted)
        )
        entries = [
            audit.AuditRecord(
                actor, "consent.grant" if granted else "consent.withdraw", resident, {}
            )
        ]
        revoked = 0
        if not granted:
            live = await status.live_attestations(conn, [resident], now)
            entries.extend(
                await status.revoke(conn, live, reason="consent.withdraw", actor=actor, now=now)
            )
            revoked = len(live)
        await audit.append(conn, entries, now)
    return revoked


@dataclass(frozen=True)
class ObjectionView:
    """An objection as the office sees it (the resident only as its hash)."""

    id: int
    resident: str
    reason: str
    status: str
    created_at: int
    resolved_at: int | None
    resolution: str | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "resident": self.resident,
            "reason": self.reason,
            "status": self.status,
            "created_at": self.created_at,
            "resolved_at": self.resolved_at,
            "resolution": self.resolution,
        }


def _reason(text: object, name: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise BadRequestError(f"{name} must be a non-empty string")
    if len(text) > MAX_REASON:
        raise BadRequestError(f"{name} is longer than {MAX_REASON} characters")
    return text.strip()


async def file_objection(
    engine: AsyncEngine, *, resident: str, reason: object, actor: str, now: datetime
) -> int:
    """File an objection to the held score; return its id.

    Raises:
        BadRequestError: the reason is empty or too long.
        UnknownResidentError: no score is held for the resident.
    """
    text = _reason(reason, "reason")
    async with engine.begin() as conn:
        await _require_resident(conn, resident)
        result = await conn.execute(
            insert(OBJECTIONS)
            .values(resident=resident, reason=text, status=OPEN, created_at=epoch(now))
            .returning(OBJECTIONS.c.id)
        )
        objection_id = int(result.scalar_one())
        await audit.append(
            conn,
            [audit.AuditRecord(actor, "objection.file", resident, {"objection": objection_id})],
            now,
        )
    return objection_id


async def list_objections(
    engine: AsyncEngine, *, state: str | None, limit: int = 500
) -> list[ObjectionView]:
    """Objections, oldest first, optionally only those in ``state`` (open/upheld/rejected)."""
    query = select(OBJECTIONS).order_by(OBJECTIONS.c.id).limit(limit)
    if state is not None:
        query = query.where(OBJECTIONS.c.status == state)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        ObjectionView(
            id=int(r.id),
            resident=str(r.resident),
            reason=str(r.reason),
            status=str(r.status),
            created_at=int(r.created_at),
            resolved_at=r.resolved_at,
            resolution=r.resolution,
        )
        for r in rows
    ]


async def resolve_objection(
    engine: AsyncEngine,
    *,
    objection_id: int,
    decision: str,
    note: object,
    corrected_score: object,
    validate: RecordValidator,
    actor: str,
    now: datetime,
) -> dict[str, object]:
    """Resolve an open objection; an upheld one may correct the score.

    Returns:
        ``{"status": ..., "revoked": n, "score_changed": bool}``.

    Raises:
        BadRequestError: unknown decision, bad note, a correction on a rejection, bad score type.
        ScoreRejectedError: the corrected score is not valid on the scale.
        NotFoundError: no such objection.
        ConflictError: the objection is already resolved.
    """
    if decision not in {UPHELD, REJECTED}:
        raise BadRequestError(f"decision must be {UPHELD!r} or {REJECTED!r}")
    text = _reason(note, "note")
    if corrected_score is not None and decision != UPHELD:
        raise BadRequestError("only an upheld objection may correct the score")
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(OBJECTIONS.c.resident, OBJECTIONS.c.status)
                .where(OBJECTIONS.c.id == objection_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise NotFoundError(f"no objection {objection_id}")
        if row.status != OPEN:
            raise ConflictError(f"objection {objection_id} is already {row.status}")
        resident = str(row.resident)
        revoked, changed = 0, False
        entries = [
            audit.AuditRecord(
                actor,
                "objection.resolve",
                resident,
                {"objection": objection_id, "decision": decision, "note": text},
            )
        ]
        if corrected_score is not None:
            _, _, seq, _ = await _require_resident(conn, resident)
            record = validate.score_only(corrected_score, resident, seq, "corrected_score")
            stats = await apply_batch(
                conn, [record], actor=actor, now=now, reason="score.correct", force=True
            )
            revoked, changed = stats.revoked, stats.applied > 0
        await conn.execute(
            update(OBJECTIONS)
            .where(OBJECTIONS.c.id == objection_id)
            .values(status=decision, resolved_at=epoch(now), resolution=text, resolved_by=actor)
        )
        await audit.append(conn, entries, now)
    return {"status": decision, "revoked": revoked, "score_changed": changed}
