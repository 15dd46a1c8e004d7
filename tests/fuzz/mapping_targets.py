"""Fuzz targets for documents a city publishes: scale definitions and incentive catalogues.

Seeds are the built-in scales (``mapping/scales``) and the seed catalogues
(``node/data/incentives``). These parsers verify no signature, so an accepted value is judged by
independent invariants (bands cover the range contiguously, levels do not go down, a value
round-trips through ``to_dict``).

What it deliberately does not do: read files other than those seeds.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from mapping.errors import MappingError
from mapping.levels import HIGHEST_LEVEL, LOWEST_LEVEL
from mapping.scale import BUILTIN_SCALE_IDS, Scale, builtin_scale, parse_scale, parse_scale_json
from protocol.errors import ProtocolError
from protocol.incentive import Catalogue, parse_catalogue
from tests.fuzz.framework import (
    Case,
    Seed,
    Target,
    lenient_json,
)
from tests.fuzz.mutate import (
    encode_json,
    materialize,
    mutate_bytes,
    mutate_json,
    random_json,
)

_CATALOGUES: Final = Path(__file__).parents[2] / "node" / "data" / "incentives"


def scale_problem(scale: Scale) -> str | None:
    """An independent check of the rules a parsed scale must satisfy."""
    bands = scale.bands
    if not bands or bands[0].low != scale.min or bands[-1].high != scale.max:
        return "bands do not span min..max"
    for prev, band in itertools.pairwise(bands):
        if band.low != prev.high + 1 or band.level < prev.level:
            return "bands are not contiguous and monotonic"
    if any(not LOWEST_LEVEL <= b.level <= HIGHEST_LEVEL or b.low > b.high for b in bands):
        return "a band is empty or off the federation levels"
    if scale.kind == "score" and {b.level for b in bands} != set(
        range(LOWEST_LEVEL, HIGHEST_LEVEL + 1)
    ):
        return "a score scale misses a level"
    if parse_scale(scale.to_dict()) != scale:
        return "does not round-trip through to_dict"
    for band in bands:
        if scale.band_of(band.low) != band or scale.band_of(band.high) != band:
            return "band_of disagrees with the bands"
    return None


class ScaleJsonTarget(Target):
    """``mapping.scale.parse_scale_json``: a scale definition file's bytes."""

    name = "scale_json"
    description = "parse_scale_json: scale definition files"
    errors = (MappingError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return tuple(
            ("file", json.dumps(builtin_scale(s).to_dict(), ensure_ascii=False).encode())
            for s in BUILTIN_SCALE_IDS
        )

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes | str)
        return parse_scale_json(data)

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, Scale)
        return scale_problem(summary)

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        data = seed.data
        assert isinstance(data, bytes)
        obj = lenient_json(data)
        if obj is None or rng.random() < 0.4:
            return Case(seed, mutate_bytes(rng, data), "bytes")
        return Case(seed, encode_json(mutate_json(rng, obj), rng), "json")


class ScaleTarget(Target):
    """``mapping.scale.parse_scale`` on decoded JSON values."""

    name = "scale"
    description = "parse_scale: decoded scale definitions"
    errors = (MappingError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return tuple(("object", builtin_scale(s).to_dict()) for s in BUILTIN_SCALE_IDS)

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, dict)
        return parse_scale(data)

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, Scale)
        return scale_problem(summary)

    def arbitrary(self, rng: random.Random) -> Case:
        seed = rng.choice(self.seeds())
        value = materialize(random_json(rng))
        return Case(
            seed, value if isinstance(value, dict) else {"id": value}, "arbitrary", arbitrary=True
        )

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        value = materialize(mutate_json(rng, seed.data))
        return Case(seed, value if isinstance(value, dict) else {"id": value}, "json")


class CatalogueTarget(Target):
    """``protocol.incentive.parse_catalogue`` against the city's scale."""

    name = "catalogue"
    description = "parse_catalogue: 信易+ incentive catalogues"
    errors = (ProtocolError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        out = []
        for path in sorted(_CATALOGUES.glob("*.json")):
            doc = json.loads(path.read_text("utf-8"))
            out.append((str(doc["scale"]), doc))
        return tuple(out)

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, dict)
        return parse_catalogue(data, builtin_scale(seed.label))

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, Catalogue)
        scale = builtin_scale(seed.label)
        if parse_catalogue(summary.to_dict(), scale) != summary:
            return "does not round-trip through to_dict"
        ids = [i.id for i in summary.incentives]
        if len(set(ids)) != len(ids):
            return "duplicate incentive ids"
        for item in summary.incentives:
            level, score = item.rule.min_level, item.rule.min_score
            if (level is None) == (score is None):
                return "a rule must set exactly one threshold"
            if score is not None and not scale.min <= score <= scale.max:
                return "min_score outside the scale"
        return None

    def arbitrary(self, rng: random.Random) -> Case:
        seed = rng.choice(self.seeds())
        value = materialize(random_json(rng))
        return Case(
            seed, value if isinstance(value, dict) else {"city": value}, "arbitrary", arbitrary=True
        )

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        value = materialize(mutate_json(rng, seed.data))
        return Case(seed, value if isinstance(value, dict) else {"city": value}, "json")
