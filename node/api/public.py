"""Public federation material and operations endpoints: no credential needed.

What it does: node metadata (``/.well-known/huxin-node``), the JWK Set with certificate chain,
the scale definition, the incentive catalogue and federation root as published files, status
list tokens with ETag caching, and ``/healthz``, ``/readyz``, ``/metrics``. What it deliberately
does not do: serve anything about a resident.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from node import appkeys
from node.db import schema_is_current
from node.errors import BadRequestError, NotFoundError
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


def _published_file(request: web.Request, path_key: str) -> web.Response:
    cfg = request.app[appkeys.CONFIG]
    path = cfg.incentives_file if path_key == "incentives" else cfg.federation_root_file
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"this node publishes no {path_key} yet") from None
    return web.Response(body=body, content_type="application/json")


async def incentives(request: web.Request) -> web.Response:
    """``GET /incentives``: the city's 信易+ incentive catalogue, as published."""
    return _published_file(request, "incentives")


async def federation_root(request: web.Request) -> web.Response:
    """``GET /federation/root``: the federation root document this node holds."""
    return _published_file(request, "federation root")


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
    """``GET /readyz``: the database answers at the current schema; the key is certified."""
    app = request.app
    checks: dict[str, bool] = {}
    try:
        async with app[appkeys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = True
        checks["schema"] = await schema_is_current(app[appkeys.ENGINE])
    except (SQLAlchemyError, OSError):
        checks["database"] = checks["schema"] = False
    checks["certificate"] = bool(app[appkeys.KEYS].chain)
    ready = checks["database"] and checks["schema"]
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text exposition."""
    body = generate_latest(request.app[appkeys.REGISTRY])
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp
