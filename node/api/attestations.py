"""Issuance over HTTP (``app`` role): the city app asks for a batch for a signed-in resident.

What it does: ``POST /v1/attestations`` with ``{national_id, holder_keys: [JWK, ...]}`` returns
one SD-JWT per holder key. What it deliberately does not do: accept private keys or store the
holder keys.
"""

from __future__ import annotations

from aiohttp import web

from node import appkeys
from node.api._body import json_object, only, string
from node.issuance import issue, parse_holder_keys


async def request_batch(request: web.Request) -> web.Response:
    """``POST /v1/attestations``."""
    app = request.app
    obj = await json_object(request)
    only(obj, "national_id", "holder_keys")
    resident = app[appkeys.KEYS].hasher(string(obj, "national_id", max_len=64))
    holder_keys = parse_holder_keys(obj.get("holder_keys"), max_batch=app[appkeys.CONFIG].max_batch)
    issued = await issue(
        app[appkeys.ISSUER],
        resident=resident,
        holder_keys=holder_keys,
        actor=request[appkeys.PRINCIPAL].actor,
        now=app[appkeys.CLOCK](),
    )
    app[appkeys.METRICS].attestations.inc(len(issued))
    return web.json_response(
        {
            "attestations": [
                {
                    "sd_jwt": a.sd_jwt,
                    "holder_kid": a.holder_kid,
                    "status": {"uri": a.status.uri, "idx": a.status.idx},
                    "issued_at": int(a.issued_at.timestamp()),
                    "expires_at": int(a.expires_at.timestamp()),
                }
                for a in issued
            ]
        }
    )
