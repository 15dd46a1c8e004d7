"""Synthetic residents for the demo: seeded, never real.

What it does: :func:`synthetic_national_id` draws 18-character IDs in the GB 11643 shape (region,
birth date, sequence, ISO 7064 check character) under the region prefix ``99``, which no
province uses, so a demo ID can never be a real person's. :func:`residents_for` draws scores
that look like the city's scale: a normal distribution around the scale's base (or the middle
of its third level) clipped to the scale's range; a membership scale (Nanjing honest-card)
yields card holders only. :func:`write_csv` writes the ``huxin node import`` CSV layout.

What it deliberately does not do: produce names for the bulk residents (the node never receives
names), or read the clock (the same seed always gives the same residents).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mapping.scale import Scale

#: The region prefix of every synthetic ID: no Chinese province code starts with 99.
SYNTHETIC_REGION: Final = "99"
_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK: Final = "10X98765432"


@dataclass(frozen=True)
class Resident:
    """One synthetic resident as the city's credit platform holds them."""

    national_id: str
    score: int
    seq: int = 1
    name: str | None = None


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of an 18-character ID's first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def synthetic_national_id(rng: random.Random) -> str:
    """A well-formed ID under the synthetic region ``99``: never a real person's."""
    region = SYNTHETIC_REGION + f"{rng.randrange(10_000):04d}"
    year = rng.randrange(1950, 2006)
    month = rng.randrange(1, 13)
    day = rng.randrange(1, 29)
    first17 = f"{region}{year:04d}{month:02d}{day:02d}{rng.randrange(1000):03d}"
    return first17 + check_character(first17)


def is_synthetic(national_id: str) -> bool:
    """Whether ``national_id`` is a well-formed synthetic demo ID."""
    return (
        len(national_id) == 18
        and national_id.startswith(SYNTHETIC_REGION)
        and national_id[:17].isdigit()
        and check_character(national_id[:17]) == national_id[17]
    )


def _centre(scale: Scale) -> tuple[float, float]:
    if scale.kind == "membership":
        return float(scale.max), 0.0
    if scale.base is not None:
        centre = float(scale.base)
    else:
        low, high = scale.level_span(3)
        centre = (low + high) / 2
    return centre, (scale.max - scale.min) / 8


def residents_for(scale: Scale, count: int, *, seed: str) -> list[Resident]:
    """``count`` residents with distinct IDs and scores shaped like ``scale``.

    A clipped normal around the base score (or the middle of level 3) with a standard deviation
    of an eighth of the range; a membership scale gives every resident its single value.
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    seen: set[str] = set()
    out: list[Resident] = []
    centre, spread = _centre(scale)
    while len(out) < count:
        nid = synthetic_national_id(rng)
        if nid in seen:
            continue
        seen.add(nid)
        if scale.kind == "membership":
            score = scale.max
        else:
            score = round(min(scale.max, max(scale.min, rng.gauss(centre, spread))))
        out.append(Resident(nid, score))
    return out


def write_csv(path: Path, residents: Iterable[Resident]) -> int:
    """Write the ``national_id,score,seq`` import file; returns the number of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", newline="", encoding="ascii") as f:
        out = csv.writer(f)
        out.writerow(["national_id", "score", "seq"])
        for r in residents:
            out.writerow([r.national_id, r.score, r.seq])
            n += 1
    return n
