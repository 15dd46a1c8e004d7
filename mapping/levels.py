"""The five federation levels that carry meaning across member cities.

Every city scale maps its own bands onto these levels (DESIGN.md, "Federation levels"). This
module holds their numbers and bilingual names only; which scores fall into which level is each
scale's business (:mod:`mapping.scale`), and how levels anchor a conversion is
:mod:`mapping.convert`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from mapping.errors import UnknownLevelError

LOWEST_LEVEL = 1
HIGHEST_LEVEL = 5


@dataclass(frozen=True)
class FederationLevel:
    """One federation level: its number (1 lowest .. 5 highest) and its names."""

    level: int
    name_zh: str
    name_en: str


#: Level number -> level, as the federation table in DESIGN.md names them.
FEDERATION_LEVELS: dict[int, FederationLevel] = {
    5: FederationLevel(5, "信用极好", "exceptional"),
    4: FederationLevel(4, "信用优秀", "excellent"),
    3: FederationLevel(3, "信用良好", "good"),
    2: FederationLevel(2, "信用一般", "fair, minor lapses"),
    1: FederationLevel(1, "信用较差", "poor"),
}


def federation_level(level: int) -> FederationLevel:
    """The federation level with this number.

    Raises:
        UnknownLevelError: ``level`` is not one of 1..5.
    """
    try:
        return FEDERATION_LEVELS[level]
    except KeyError:
        raise UnknownLevelError(
            f"federation level {level!r} does not exist: levels run from "
            f"{LOWEST_LEVEL} to {HIGHEST_LEVEL}"
        ) from None
