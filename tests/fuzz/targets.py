"""Every fuzz target, by name: the registry the hypothesis tests and ``bench/fuzz.py`` share.

What it does: lists one :class:`~tests.fuzz.framework.Target` per parser that sees outside
bytes and re-exports the framework (:func:`check`, :func:`next_case`, :func:`run`, ...) and the
shared worlds, so callers import one module.

What it deliberately does not do: define targets (``protocol_targets``, ``certs_targets``,
``mapping_targets`` do) or run anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tests.fuzz.certs_targets import (
    BundleTarget,
    KeysTarget,
    MaterialTarget,
    MultisigTarget,
    RootTarget,
    certs_world,
)
from tests.fuzz.framework import (
    HANG_SECONDS,
    KINDS,
    Case,
    Outcome,
    Seed,
    Tally,
    Target,
    check,
    next_case,
    run,
)
from tests.fuzz.mapping_targets import CatalogueTarget, ScaleJsonTarget, ScaleTarget
from tests.fuzz.protocol_targets import (
    PRESENTATION,
    CompactPresentationTarget,
    JoseTarget,
    SdJwtTarget,
    StatusCacheTarget,
    StatusListTarget,
    StatusTokenTarget,
    presentation_world,
    status_world,
)

#: Every target, cheapest first within each package.
TARGETS: Final[tuple[Target, ...]] = (
    JoseTarget(),
    SdJwtTarget(),
    PRESENTATION,
    CompactPresentationTarget(),
    StatusListTarget(),
    StatusTokenTarget(),
    StatusCacheTarget(),
    KeysTarget(),
    MultisigTarget(),
    RootTarget(),
    MaterialTarget(),
    BundleTarget(),
    ScaleJsonTarget(),
    ScaleTarget(),
    CatalogueTarget(),
)
BY_NAME: Final[Mapping[str, Target]] = {t.name: t for t in TARGETS}

__all__ = [
    "BY_NAME",
    "HANG_SECONDS",
    "KINDS",
    "TARGETS",
    "Case",
    "Outcome",
    "Seed",
    "Tally",
    "Target",
    "certs_world",
    "check",
    "next_case",
    "presentation_world",
    "run",
    "status_world",
]
