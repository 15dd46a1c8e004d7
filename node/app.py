"""The node's aiohttp application: factory, route table with roles, and the middlewares.

What it does: :func:`create_app` builds the application from a :class:`~node.config.NodeConfig`.
Every resource (database engine, keys, scale, status publisher) is created in ``cleanup_ctx``
and released there. :data:`ROUTES` is the single table of endpoints and the roles each accepts
(``None`` marks public federation material); the one middleware (:func:`node_middleware`)
enforces it, so an endpoint without an entry cannot be reached without a credential. The same
middleware maps every coded error (``NodeError``, ``ProtocolError``, ``MappingError``,
``CertsError``) and aiohttp's own HTTP errors to ``{"error": code, "message": ...}``, records
Prometheus metrics and writes one JSON access-log line per request (route names, never bodies).

With several worker processes (``config.workers`` > 1) each worker builds its own application;
exactly one of them (``sync_leader``, chosen by ``node.server``) runs the peer sync loop, and
every worker checks every :data:`RELOAD_INTERVAL` seconds for what the others kept on disk: the
catalogue file (``PUT /v1/incentives``), root versions (``POST /v1/federation/roots``) and, in
the workers that do not sync, the leader's copies of peer material, status lists and peer state
(:meth:`node.sync.Syncer.follow`).

What it deliberately does not do: business logic (``node.imports``, ``node.issuance``,
``node.residents``, ``node.status``), or read the environment (``node.config`` does at start-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

from certs.errors import CertsError
from mapping.errors import MappingError
from mapping.scale import Scale, builtin_scale
from node import appkeys
from node.api import attestations, federation, office, public, residents, scores, verify
from node.auth import Role, authenticate, remembered
from node.catalogue import IncentiveCatalogue
from node.config import NodeConfig
from node.db import create_engine
from node.errors import ForbiddenError, NodeError
from node.federation import Federation
from node.imports import RecordValidator
from node.issuance import Issuer
from node.keystore import NodeKeys, load_keys
from node.merchant import REPLAY_FILE, SqliteReplayCache
from node.metrics import Metrics, exposition_registry
from node.openapi import openapi
from node.scalefile import load_scale_file
from node.status import StatusPublisher
from node.sync import OwnMaterial, Sleep, Syncer, SyncStore, restore
from protocol.errors import ProtocolError, UnavailableError
from protocol.replay import MemoryReplayCache

log = logging.getLogger("huxin.node")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Seconds between a worker's checks for what other workers of the node kept on disk (the
#: staleness bound of office changes and of peer material across workers).
RELOAD_INTERVAL: Final = 0.5

OFFICE: Final = frozenset({Role.OFFICE})
APP: Final = frozenset({Role.APP})
MERCHANT: Final = frozenset({Role.MERCHANT})


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path, handler, and the roles allowed (``None``: public)."""

    method: str
    path: str
    handler: Handler
    roles: frozenset[Role] | None
    name: str


ROUTES: Final[tuple[Route, ...]] = (
    # Public federation material and operations.
    Route("GET", "/.well-known/huxin-node", public.metadata, None, "metadata"),
    Route("GET", "/.well-known/jwks.json", public.jwks, None, "jwks"),
    Route("GET", "/scale", public.scale, None, "scale"),
    Route("GET", "/incentives", federation.incentives, None, "incentives"),
    Route("GET", "/federation/root", federation.federation_root, None, "federation_root"),
    Route("GET", "/federation/material", federation.material, None, "federation_material"),
    Route("GET", "/federation/bundle", federation.bundle, None, "federation_bundle"),
    Route("GET", "/status/{list_id}", public.status_list, None, "status_list"),
    Route("GET", "/healthz", public.healthz, None, "healthz"),
    Route("GET", "/readyz", public.readyz, None, "readyz"),
    Route("GET", "/metrics", public.metrics, None, "metrics"),
    Route("GET", "/openapi.json", openapi, None, "openapi"),
    # The credit office.
    Route("POST", "/v1/scores", scores.push_one, OFFICE, "scores_push"),
    Route("POST", "/v1/scores/bulk", scores.push_bulk, OFFICE, "scores_bulk"),
    Route("GET", "/v1/objections", office.list_objections, OFFICE, "objections_list"),
    Route(
        "POST",
        "/v1/objections/{objection_id}/resolve",
        office.resolve_objection,
        OFFICE,
        "objections_resolve",
    ),
    Route("GET", "/v1/audit/verify", office.audit_verify, OFFICE, "audit_verify"),
    Route("PUT", "/v1/incentives", federation.replace_incentives, OFFICE, "incentives_replace"),
    Route("POST", "/v1/federation/roots", federation.submit_root, OFFICE, "federation_root_submit"),
    # The city app, acting for a signed-in resident.
    Route("POST", "/v1/attestations", attestations.request_batch, APP, "attestations_issue"),
    Route("POST", "/v1/residents/me", residents.me, APP, "residents_me"),
    Route("POST", "/v1/residents/audit", residents.audit_entries, APP, "residents_audit"),
    Route("POST", "/v1/residents/consent", residents.consent, APP, "residents_consent"),
    Route("POST", "/v1/residents/objections", residents.objection, APP, "residents_objection"),
    # Merchants.
    Route("POST", "/v1/verify", verify.verify, MERCHANT, "verify"),
)

_ROLES: Final = {route.name: route.roles for route in ROUTES}

_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _status_of(err: Exception) -> int:
    if isinstance(err, NodeError):
        return err.http_status
    if isinstance(err, UnavailableError):
        return 503
    if isinstance(err, ProtocolError | MappingError):
        return 422
    return 500  # CertsError: the node's own material is broken


def _error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def node_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authorize, map errors, count, time and log each request.

    One middleware (not three) because ``/v1/verify`` is a hot path: every middleware layer is
    a coroutine frame and a route lookup per request. In order: a route with roles needs a
    credential of one of them (:func:`_authorize`); every coded error and HTTP error becomes
    ``{"error": code, "message": ...}`` (:func:`_error_response`); the request is counted and
    timed, and logged at INFO (route name and status only, never bodies).
    """
    started = time.perf_counter()
    name = _route_name(request)
    status = 500
    try:
        try:
            if name is not None:  # None: no route matched; aiohttp answers 404/405 itself
                roles = _ROLES.get(name, frozenset())  # unknown route name: nobody may call it
                if roles is not None:
                    await _authorize(request, roles)
            response = await handler(request)
        except (NodeError, ProtocolError, MappingError, CertsError) as err:
            code = _status_of(err)
            if code >= 500:
                log.error("request failed", extra={"code": err.code, "route": name})
            response = _error_response(code, err.code, str(err))
        except web.HTTPException as err:
            if err.status < 400:
                raise
            response = _error_response(
                err.status, _HTTP_CODES.get(err.status, "http_error"), err.reason
            )
        except ConnectionResetError:
            # The client went away while its body was read ("Connection lost"): nobody to
            # answer, and not a database error (the drivers' errors arrive as SQLAlchemyError).
            raise
        except ProgrammingError:  # a bug in a statement, not an outage: no 503, no retry
            log.exception("database programming error", extra={"route": name})
            response = _error_response(500, "internal_error", "internal error")
        except (SQLAlchemyError, OSError) as err:
            log.error("database error", extra={"route": name, "error": str(err)})
            response = _error_response(
                503, "node_unavailable", "the database is unavailable; try again"
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # the last line of defence: log it, answer JSON, never leak details
            log.exception("unexpected error", extra={"route": name})
            response = _error_response(500, "internal_error", "internal error")
        status = response.status
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = name or "unmatched"
        request.app[appkeys.METRICS].observe_request(route, status, elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "route": route,
                    "method": request.method,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )


async def _authorize(request: web.Request, roles: frozenset[Role]) -> None:
    """Require a credential with one of ``roles``; keep its principal on the request.

    Raises:
        UnauthorizedError: no, unknown or revoked credential.
        ForbiddenError: the credential's role is not one of ``roles``.
    """
    app = request.app
    authorization = request.headers.get("Authorization")
    now = app[appkeys.CLOCK]()
    cache_for = app[appkeys.CONFIG].auth_cache
    principal = remembered(app[appkeys.ENGINE], authorization, now=now, cache_for=cache_for)
    if principal is None:
        principal = await authenticate(
            app[appkeys.ENGINE], authorization, now=now, cache_for=cache_for
        )
    if principal.role not in roles:
        raise ForbiddenError(f"the {principal.role.value} role may not use this endpoint")
    request[appkeys.PRINCIPAL] = principal


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    resource = route.resource
    return None if resource is None else resource.name


def load_scale(config: NodeConfig) -> Scale:
    """The city's scale: the configured file, else the built-in one.

    Raises:
        MappingError: the file is invalid or the id unknown.
    """
    if config.scale_file is not None:
        return load_scale_file(config.scale_file)
    return builtin_scale(config.scale_id)


def _load_federation(config: NodeConfig, store: SyncStore, now: datetime) -> Federation | None:
    """The federation from the pinned root file and the stored copies; ``None`` without a root.

    Raises:
        CertsError: the pinned root file does not verify.
    """
    try:
        pinned = config.federation_root_file.read_bytes()
    except FileNotFoundError:
        return None
    fed = Federation(
        pinned,
        city=config.city,
        issuer=config.issuer,
        material_max_age=config.material_max_age,
    )
    restore(fed, store, now)
    return fed


async def _follow_workers(
    catalogue: IncentiveCatalogue,
    syncer: Syncer | None,
    clock: Callable[[], datetime],
    *,
    leader: bool,
) -> None:
    """Every :data:`RELOAD_INTERVAL` seconds, take what other workers kept on disk (see the
    module doc) until cancelled; a failed check is logged and the next one tried."""
    while True:
        await asyncio.sleep(RELOAD_INTERVAL)
        try:
            changed = catalogue.reload_if_changed()
            if syncer is not None:
                now = clock()
                if changed and leader:
                    await syncer.refresh_own(now)
                await syncer.follow(now, leader=leader)
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop must outlive any one bad check
            log.exception("reading what other workers kept failed")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    config: NodeConfig,
    *,
    clock: Callable[[], datetime] = _utc_now,
    keys: NodeKeys | None = None,
    sleep: Sleep = asyncio.sleep,
    sync_leader: bool = True,
) -> web.Application:
    """Build the node application.

    Args:
        config: the validated configuration.
        clock: the time source (tests pass a fixed clock).
        keys: already loaded keys (tests); default: loaded from the data directory at start-up.
        sleep: how the sync loop and its retries wait (tests pass one that does not).
        sync_leader: whether this process runs the peer sync loop (with several workers, one
            of them does; the others take what it keeps on disk).
    """
    app = web.Application(
        client_max_size=config.client_max_size,
        middlewares=[node_middleware],
    )
    app[appkeys.CONFIG] = config
    app[appkeys.CLOCK] = clock
    registry = CollectorRegistry()
    app[appkeys.METRICS] = Metrics.create(registry)
    app[appkeys.REGISTRY] = exposition_registry(registry)
    # Workers of one node share the one-way replay cache (a SQLite file in the data directory),
    # so a gate QR code is accepted once per node, not once per worker.
    app[verify.RESOLVERS] = verify.KeyResolvers()
    app[appkeys.REPLAY] = (
        MemoryReplayCache()
        if config.workers == 1
        else SqliteReplayCache(config.data_dir / REPLAY_FILE)
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        node_keys = keys if keys is not None else load_keys(config)
        scale = load_scale(config)
        engine = create_engine(config.database_url, pool_size=config.pool_size)
        publisher = StatusPublisher(
            engine,
            node_keys.signer,
            issuer=config.issuer,
            base_url=config.public_url,
            ttl=config.status_ttl,
            lifetime=config.status_lifetime,
            source_refresh=config.status_source_refresh,
        )
        app[appkeys.KEYS] = node_keys
        app[appkeys.SCALE] = scale
        app[appkeys.ENGINE] = engine
        app[appkeys.PUBLISHER] = publisher
        app[appkeys.VALIDATOR] = RecordValidator(scale, node_keys.hasher)
        app[appkeys.ISSUER] = Issuer(
            engine=engine,
            signer=node_keys.signer,
            config=config,
            scale=scale,
            publisher=publisher,
            slots=asyncio.Semaphore(max(1, config.pool_size - 1)),
        )
        catalogue = IncentiveCatalogue(config.incentives_file, scale, config.city)
        catalogue.load()
        app[appkeys.CATALOGUE] = catalogue
        store = SyncStore(config.sync_dir)
        own = OwnMaterial(
            config=config,
            keys=node_keys,
            scale=scale,
            catalogue=catalogue,
            publisher=publisher,
            store=store,
        )
        app[appkeys.OWN_MATERIAL] = own
        fed = _load_federation(config, store, clock())
        app[appkeys.FEDERATION] = fed
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=32),
            timeout=aiohttp.ClientTimeout(total=config.sync_timeout.total_seconds()),
            headers={"User-Agent": "huxin-node-sync"},
        )
        syncer = None
        try:
            await publisher.open_current(config.status_list_size, clock())
        except (SQLAlchemyError, OSError):
            log.warning("could not open the current status list at start-up; issuance will")
        if fed is not None:
            syncer = Syncer(
                config=config,
                federation=fed,
                own=own,
                store=store,
                session=session,
                metrics=app[appkeys.METRICS],
                clock=clock,
                sleep=sleep,
            )
            try:
                await syncer.refresh_own(clock())
            except (SQLAlchemyError, OSError):
                log.warning("could not sign our material at start-up; the first round will")
        app[appkeys.SYNCER] = syncer
        tasks: list[asyncio.Task[None]] = []
        if syncer is not None and sync_leader and config.sync_interval > timedelta(0):
            tasks.append(asyncio.create_task(syncer.run_forever(config.sync_interval)))
        if config.workers > 1:
            tasks.append(
                asyncio.create_task(_follow_workers(catalogue, syncer, clock, leader=sync_leader))
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await session.close()
            await engine.dispose()

    app.cleanup_ctx.append(resources)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
    return app
