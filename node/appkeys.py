"""Typed keys for everything the aiohttp application holds (one module, as aiohttp advises).

What it does: declares the :class:`aiohttp.web.AppKey` s and the per-request key for the
authenticated caller. What it deliberately does not do: create any of the resources
(``node.app`` does, in ``cleanup_ctx``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from mapping.scale import Scale
from node.auth import Principal
from node.catalogue import IncentiveCatalogue
from node.config import NodeConfig
from node.federation import Federation
from node.imports import RecordValidator
from node.issuance import Issuer
from node.keystore import NodeKeys
from node.metrics import Metrics
from node.status import StatusPublisher
from node.sync import OwnMaterial, Syncer
from protocol.replay import ReplayCache

CONFIG: Final = web.AppKey("config", NodeConfig)
CLOCK: Final[web.AppKey[Callable[[], datetime]]] = web.AppKey("clock")
KEYS: Final = web.AppKey("keys", NodeKeys)
SCALE: Final = web.AppKey("scale", Scale)
ENGINE: Final = web.AppKey("engine", AsyncEngine)
PUBLISHER: Final = web.AppKey("publisher", StatusPublisher)
ISSUER: Final = web.AppKey("issuer", Issuer)
VALIDATOR: Final = web.AppKey("validator", RecordValidator)
REPLAY: Final[web.AppKey[ReplayCache]] = web.AppKey("replay")
REGISTRY: Final = web.AppKey("registry", CollectorRegistry)
METRICS: Final = web.AppKey("metrics", Metrics)
CATALOGUE: Final = web.AppKey("catalogue", IncentiveCatalogue)
OWN_MATERIAL: Final = web.AppKey("own_material", OwnMaterial)
#: The federation view and its syncer; ``None`` when no federation root is pinned.
FEDERATION: Final[web.AppKey[Federation | None]] = web.AppKey("federation")
SYNCER: Final[web.AppKey[Syncer | None]] = web.AppKey("syncer")

#: The authenticated caller of the current request (absent on public routes).
PRINCIPAL: Final = web.RequestKey("principal", Principal)
