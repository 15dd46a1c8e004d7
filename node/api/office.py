"""The credit office's endpoints (``office`` role): objections and the audit chain check.

What it does: lists objections, resolves one (optionally correcting the score), and verifies
the audit hash chain on demand. What it deliberately does not do: reveal national IDs (the
office sees resident hashes; its own platform maps them back).
"""

from __future__ import annotations

from aiohttp import web

from node import appkeys, residents
from node.api._body import json_object, only, string
from node.audit import verify_chain
from node.errors import BadRequestError

_STATES = {"open", "upheld", "rejected"}


async def list_objections(request: web.Request) -> web.Response:
    """``GET /v1/objections[?status=open|upheld|rejected]``."""
    state = request.query.get("status")
    if state is not None and state not in _STATES:
        raise BadRequestError(f"status must be one of {sorted(_STATES)}")
    found = await residents.list_objections(request.app[appkeys.ENGINE], state=state)
    return web.json_response({"objections": [o.to_dict() for o in found]})


async def resolve_objection(request: web.Request) -> web.Response:
    """``POST /v1/objections/{id}/resolve``: ``{decision, note, score?}``."""
    raw = request.match_info["objection_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequestError("objection id must be a positive integer")
    obj = await json_object(request)
    only(obj, "decision", "note", "score")
    result = await residents.resolve_objection(
        request.app[appkeys.ENGINE],
        objection_id=int(raw),
        decision=string(obj, "decision", max_len=16),
        note=obj.get("note"),
        corrected_score=obj.get("score"),
        validate=request.app[appkeys.VALIDATOR],
        actor=request[appkeys.PRINCIPAL].actor,
        now=request.app[appkeys.CLOCK](),
    )
    return web.json_response(result)


async def audit_verify(request: web.Request) -> web.Response:
    """``GET /v1/audit/verify``: check the whole hash chain (raises on a break)."""
    count = await verify_chain(request.app[appkeys.ENGINE])
    return web.json_response({"ok": True, "entries": count})
