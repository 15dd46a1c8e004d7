"""Public federation material and operations endpoints: no credential needed.

What it does: node metadata (``/.well-known/huxin-node``), the JWK Set with certificate chain,
the scale definition, status list tokens with ETag caching, and ``/healthz``, ``/readyz``
(ready, degraded or not ready, with every peer's sync state), ``/metrics``. Federation material
and the incentive catalogue are ``node.api.federation``. What it deliberately does not do: serve
anything about a resident.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from certs.errors import CertsError
from node import appkeys
from node.db import schema_is_current
from node.errors import BadRequestError
from protocol.jose import SUPPORTED_ALGORITHMS

STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"


async def metadata(request: web.Request) -> web.Response:
    """``GET /.well-known/huxin-node``: who this node is and where its material lives."""
    app = request.app
    cfg, scale, keys = app[appkeys.CONFIG], app[appkeys.SCALE], app[appkeys.KEYS]
    publisher = app[appkeys.PUBLISHER]
    base = cfg.public_url
    return web.json_response(
        {
            "city": cfg.city,
            "issuer": cfg.issuer,
            "node_url": base,
            "scale": {"id": scale.id, "version": scale.version, "uri": f"{base}/scale"},
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "signing_kid": keys.signer.kid,
            "signing_alg": keys.signer.alg,
            "algorithms": sorted(SUPPORTED_ALGORITHMS),
            "incentives_uri": f"{base}/incentives",
            "federation_root_uri": f"{base}/federation/root",
            "federation_material_uri": f"{base}/federation/material",
            "federation_bundle_uri": f"{base}/federation/bundle",
            "status_lists": [publisher.uri(i) for i in await publisher.list_ids()],
            "attestation_lifetime_seconds": int(cfg.attestation_lifetime.total_seconds()),
        }
    )


async def jwks(request: web.Request) -> web.Response:
    """``GET /.well-known/jwks.json``: the signing key with ``kid``, ``alg`` and ``x5c``."""
    return web.json_response(request.app[appkeys.KEYS].jwks())


async def scale(request: web.Request) -> web.Response:
    """``GET /scale``: the city's scale definition (the data-file schema)."""
    return web.json_response(request.app[appkeys.SCALE].to_dict())


async def status_list(request: web.Request) -> web.StreamResponse:
    """``GET /status/{list_id}``: the signed status list token, with ETag and ``max-age``."""
    raw = request.match_info["list_id"]
    if not raw.isdigit() or len(raw) > 9:
        raise BadRequestError("status list id must be a positive integer")
    publisher = request.app[appkeys.PUBLISHER]
    published = await publisher.get(int(raw), request.app[appkeys.CLOCK]())
    max_age = int(publisher.ttl.total_seconds())
    headers = {"ETag": published.etag, "Cache-Control": f"public, max-age={max_age}"}
    if published.etag in request.headers.getall("If-None-Match", []):
        return web.Response(status=304, headers=headers)
    return web.Response(text=published.token, content_type=STATUS_LIST_MEDIA_TYPE, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the process is up."""
    del request
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: ready, degraded or not ready (``docs/operator.md`` section 4.1).

    Not ready (503): the database does not answer or is not at the newest schema, or the pinned
    federation root has expired beyond its grace period. Degraded (200): no federation root is
    pinned, or a peer's last sync failed, or a member's material is missing or too old -- the
    node still serves its own residents and verifies what it can, so a peer's outage never takes
    it out of a load balancer.
    """
    app = request.app
    now = app[appkeys.CLOCK]()
    checks: dict[str, bool] = {}
    try:
        async with app[appkeys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = True
        checks["schema"] = await schema_is_current(app[appkeys.ENGINE])
    except (SQLAlchemyError, OSError):
        checks["database"] = checks["schema"] = False
    checks["certificate"] = bool(app[appkeys.KEYS].chain)
    fed = app[appkeys.FEDERATION]
    federation: dict[str, object] = {"configured": fed is not None}
    degraded = fed is None
    root_ok = True
    if fed is not None:
        try:
            warnings = fed.root_warnings(now)
        except CertsError as err:
            warnings, root_ok = (str(err),), False
        peers = fed.report(now)
        checks["material"] = app[appkeys.OWN_MATERIAL].data is not None
        degraded = (
            degraded
            or bool(warnings)
            or not checks["material"]
            or any(p["state"] != "ok" for p in peers.values() if isinstance(p, dict))
        )
        federation.update(
            {
                "root_version": fed.root.version,
                "root_warnings": list(warnings),
                "peers": peers,
            }
        )
    checks["federation_root"] = root_ok
    ready = checks["database"] and checks["schema"] and root_ok
    state = "not_ready" if not ready else "degraded" if degraded else "ready"
    return web.json_response(
        {"status": state, "checks": checks, "federation": federation},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text exposition."""
    syncer = request.app[appkeys.SYNCER]
    if syncer is not None:
        syncer.observe(request.app[appkeys.CLOCK]())
    body = generate_latest(request.app[appkeys.REGISTRY])
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp
