"""Score records in over HTTP (``office`` role): one record, or a bulk NDJSON/CSV/JSON body.

What it does: validates every record of a request against the city's scale before anything is
written, then applies them in one transaction (idempotent by ``seq``). What it deliberately does
not do: accept more than ``MAX_BULK_RECORDS`` records per request (use ``huxin node import``).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from node import appkeys
from node.api._body import json_object, read_bytes
from node.imports import import_records, parse_body

MAX_BULK_RECORDS: Final = 100_000


async def push_one(request: web.Request) -> web.Response:
    """``POST /v1/scores``: ``{national_id, score, seq}``."""
    app = request.app
    obj = await json_object(request)
    record = app[appkeys.VALIDATOR].from_json(obj, "body")
    stats = await import_records(
        app[appkeys.ENGINE],
        [record],
        actor=request[appkeys.PRINCIPAL].actor,
        now=app[appkeys.CLOCK](),
    )
    app[appkeys.METRICS].score_records.inc()
    app[appkeys.METRICS].revocations.inc(stats.revoked)
    return web.json_response(stats.to_dict())


async def push_bulk(request: web.Request) -> web.Response:
    """``POST /v1/scores/bulk``: NDJSON, CSV (``national_id,score,seq``) or ``{"records"}``."""
    app = request.app
    body = await read_bytes(request, app[appkeys.CONFIG].client_max_size)
    records = parse_body(
        request.content_type, body, app[appkeys.VALIDATOR], max_records=MAX_BULK_RECORDS
    )
    stats = await import_records(
        app[appkeys.ENGINE],
        records,
        actor=request[appkeys.PRINCIPAL].actor,
        now=app[appkeys.CLOCK](),
    )
    app[appkeys.METRICS].score_records.inc(len(records))
    app[appkeys.METRICS].revocations.inc(stats.revoked)
    return web.json_response(stats.to_dict())
