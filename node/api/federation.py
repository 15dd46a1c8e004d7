"""Federation endpoints: the root chain, our member material, the trust bundle, the catalogue.

What it does: serves the trusted federation root chain (``/federation/root``, every version
oldest first), this node's signed member material (``/federation/material``, what peers sync),
the aggregated, verified trust bundle for merchant apps (``/federation/bundle``, with ETag and
``If-None-Match``), and the city's incentive catalogue (``/incentives``). The credit office may
replace the catalogue (``PUT /v1/incentives``) and hand the node a new root version
(``POST /v1/federation/roots``); both are validated completely before anything changes, and
audited. What it deliberately does not do: verify anything itself (``node.federation`` and
``node.catalogue`` call ``certs`` and ``protocol``).
"""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from certs.errors import CertsError
from certs.multisig import json_bytes_pretty
from node import appkeys
from node.api._body import json_object, read_bytes
from node.audit import AuditRecord, record
from node.errors import NodeError, NotFoundError
from node.federation import Federation, FederationUnavailableError

MAX_ROOT_BYTES = 1024 * 1024


class RootRefusedError(NodeError):
    """A submitted root is not the next version by TUF's rules (or not a root at all)."""

    code = "root_refused"
    http_status = 422


_JSON = "application/json"


def _federation(request: web.Request) -> Federation:
    fed = request.app[appkeys.FEDERATION]
    if fed is None:
        raise NotFoundError("this node has no federation root pinned")
    return fed


def _etagged(request: web.Request, body: bytes, etag: str | None = None) -> web.Response:
    tag = etag or '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": tag, "Cache-Control": "public, max-age=60"}
    if tag in request.headers.getall("If-None-Match", []):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=_JSON, headers=headers)


async def federation_root(request: web.Request) -> web.Response:
    """``GET /federation/root``: ``{"_type": "huxin-root-chain", "roots": [...]}``."""
    fed = _federation(request)
    return _etagged(request, json_bytes_pretty(fed.root_chain_document()))


async def material(request: web.Request) -> web.Response:
    """``GET /federation/material``: this node's signed member material."""
    data = request.app[appkeys.OWN_MATERIAL].data
    if data is None:
        raise NotFoundError("this node has not signed its member material yet")
    return _etagged(request, data)


async def bundle(request: web.Request) -> web.Response:
    """``GET /federation/bundle``: the verified trust bundle of every member's material."""
    fed = _federation(request)
    try:
        data, etag = fed.bundle(request.app[appkeys.CLOCK]())
    except CertsError as err:
        raise FederationUnavailableError(f"the trust bundle does not verify: {err}") from err
    return _etagged(request, data, etag)


async def incentives(request: web.Request) -> web.Response:
    """``GET /incentives``: the city's 信易+ incentive catalogue."""
    doc = request.app[appkeys.CATALOGUE].document
    if doc is None:
        raise NotFoundError("this node publishes no incentive catalogue")
    return _etagged(request, json.dumps(doc, ensure_ascii=False, indent=2).encode())


async def replace_incentives(request: web.Request) -> web.Response:
    """``PUT /v1/incentives``: replace the catalogue (office); validated, then audited."""
    app = request.app
    doc = await json_object(request)
    catalogue = app[appkeys.CATALOGUE]
    now = app[appkeys.CLOCK]()
    parsed = catalogue.replace(doc)
    await record(
        app[appkeys.ENGINE],
        AuditRecord(
            actor=request[appkeys.PRINCIPAL].actor,
            action="incentives_replace",
            detail={"version": parsed.version, "incentives": [i.id for i in parsed.incentives]},
        ),
        now,
    )
    syncer = app[appkeys.SYNCER]
    if syncer is not None:
        await syncer.refresh_own(now)
    return web.json_response(
        {"ok": True, "version": parsed.version, "incentives": len(parsed.incentives)}
    )


async def submit_root(request: web.Request) -> web.Response:
    """``POST /v1/federation/roots``: a signed root file, accepted only as the next version."""
    app = request.app
    fed = app[appkeys.FEDERATION]
    if fed is None:
        raise FederationUnavailableError("this node has no federation root pinned")
    data = await read_bytes(request, MAX_ROOT_BYTES)
    now = app[appkeys.CLOCK]()
    syncer = app[appkeys.SYNCER]
    before = fed.root.version
    try:
        accepted = (
            syncer.accept_root(data, now) if syncer is not None else fed.offer_root(data, now)
        )
    except CertsError as err:
        raise RootRefusedError(f"{err.code}: {err}") from err
    if accepted:
        await record(
            app[appkeys.ENGINE],
            AuditRecord(
                actor=request[appkeys.PRINCIPAL].actor,
                action="federation_root_update",
                detail={"from": before, "to": fed.root.version},
            ),
            now,
        )
        if syncer is not None:
            await syncer.refresh_own(now)
    return web.json_response({"accepted": accepted, "version": fed.root.version})
