"""Residents' rights over HTTP (``app`` role, acting for a signed-in resident).

What it does: the resident's own score and consent state, the audit entries about them,
consent grant/withdrawal and filing an objection. The national ID travels in the request body
(never in a URL, so it never lands in access logs) and is hashed at once.
What it deliberately does not do: let the app see other residents.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from node import appkeys, audit, residents
from node.api._body import boolean, json_object, only, string
from node.errors import UnknownResidentError
from node.models import RESIDENTS


async def _resident(request: web.Request, *members: str) -> tuple[str, dict[str, object]]:
    obj = await json_object(request)
    only(obj, "national_id", *members)
    return request.app[appkeys.KEYS].hasher(string(obj, "national_id", max_len=64)), obj


async def me(request: web.Request) -> web.Response:
    """``POST /v1/residents/me``: the resident's own score, level and consent (their app only)."""
    resident, _ = await _resident(request)
    async with request.app[appkeys.ENGINE].connect() as conn:
        row = (
            await conn.execute(
                select(RESIDENTS.c.score, RESIDENTS.c.level, RESIDENTS.c.consent).where(
                    RESIDENTS.c.resident == resident
                )
            )
        ).first()
    if row is None:
        raise UnknownResidentError("no score is held for this resident")
    scale = request.app[appkeys.SCALE]
    return web.json_response(
        {
            "score": row.score,
            "level": row.level,
            "consent": bool(row.consent),
            "scale": {"id": scale.id, "version": scale.version},
        }
    )


async def audit_entries(request: web.Request) -> web.Response:
    """``POST /v1/residents/audit``: the audit entries about the resident (知情权)."""
    resident, _ = await _resident(request)
    entries = await audit.entries_about(request.app[appkeys.ENGINE], resident)
    return web.json_response({"entries": [e.to_dict() for e in entries]})


async def consent(request: web.Request) -> web.Response:
    """``POST /v1/residents/consent``: ``{national_id, granted}``; withdrawal revokes."""
    resident, obj = await _resident(request, "granted")
    granted = boolean(obj, "granted")
    revoked = await residents.set_consent(
        request.app[appkeys.ENGINE],
        resident=resident,
        granted=granted,
        actor=request[appkeys.PRINCIPAL].actor,
        now=request.app[appkeys.CLOCK](),
    )
    request.app[appkeys.METRICS].revocations.inc(revoked)
    return web.json_response({"consent": granted, "revoked": revoked})


async def objection(request: web.Request) -> web.Response:
    """``POST /v1/residents/objections``: ``{national_id, reason}`` files an objection (异议)."""
    resident, obj = await _resident(request, "reason")
    objection_id = await residents.file_objection(
        request.app[appkeys.ENGINE],
        resident=resident,
        reason=obj.get("reason"),
        actor=request[appkeys.PRINCIPAL].actor,
        now=request.app[appkeys.CLOCK](),
    )
    return web.json_response({"objection": objection_id, "status": "open"}, status=201)
