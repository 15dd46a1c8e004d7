"""Conversion between city scales: level-anchored, piecewise linear, points and intervals.

Method (DESIGN.md, "Mapping between scales"; precise rules in ``docs/scales.md``): each scale is
a continuous axis ``[min, max]`` on which federation level L occupies ``[start_L, start_L+1)``
(the top level ``[start_top, max]``, closed). A score's relative position within its level's span
on the source maps to the same relative position within the same level's span on the target:

    value = t_start + (score - s_start) * (t_end - t_start) / (s_end - s_start)

so 商鼎分 135 (level 4, span [120, 150), position 0.5) maps to 钱江分 725 (span [700, 750)). The
map is a strictly increasing bijection from ``[min, max]`` onto the target's ``[min, max]`` that
sends every level onto the same level; its inverse is the conversion back, so a round trip
returns the start (up to floating point rounding). Values are clamped into the target level's
span, so float rounding can never push a value over a level edge.

Intervals are closed ``(low, high)`` pairs of values; the image of an interval is the interval
of the images of its ends, and contains the image of every point inside. A membership scale
(Nanjing's honest-citizen card) has no position inside a level: a member at "level L or above"
converts to the interval from the start of level L to the target's maximum, with no point
estimate. A membership card is never a conversion target.

This module does not decide incentives (it gives the three-valued :func:`eligibility` of an
interval against a threshold; the verifier decides what to ask next), does not read files and
keeps no state. Stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mapping.errors import (
    InvalidIntervalError,
    MappingError,
    NotANumberError,
    UnsupportedConversionError,
)
from mapping.levels import FederationLevel, federation_level
from mapping.scale import KIND_MEMBERSHIP, Band, Scale

__all__ = [
    "BandCorrespondence",
    "Conversion",
    "Eligibility",
    "convert_interval",
    "convert_many",
    "convert_score",
    "correspondence",
    "eligibility",
    "level_interval",
]


class Eligibility(StrEnum):
    """Whether a mapped interval clears a threshold: wholly, not at all, or it depends."""

    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True)
class Conversion:
    """The result of converting one score from ``source`` to ``target``.

    Attributes:
        source: the scale the score is on.
        target: the scale it was converted onto.
        score: the score, as given (a float).
        band: the source band of the score.
        level: the federation level (for a membership scale, the least level it attests).
        top_level: the highest level the interval can reach: ``level`` for a score scale, the
            target's top level for a membership scale.
        interval: closed ``(low, high)`` interval of values on the target.
        value: the point estimate on the target, ``None`` for a membership scale.
    """

    source: Scale
    target: Scale
    score: float
    band: Band
    level: int
    top_level: int
    interval: tuple[float, float]
    value: float | None

    @property
    def federation_level(self) -> FederationLevel:
        """The federation level's number and bilingual name."""
        return federation_level(self.level)

    @property
    def target_band(self) -> Band | None:
        """The target band of the point estimate, ``None`` without one."""
        return None if self.value is None else self.target.band_of(self.value)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (the object ``huxin scale convert --json`` prints)."""
        target_band = self.target_band
        named = self.federation_level
        return {
            "from": self.source.id,
            "from_version": self.source.version,
            "to": self.target.id,
            "to_version": self.target.version,
            "score": _json_number(self.score),
            "level": self.level,
            "level_name": named.name_zh,
            "level_name_en": named.name_en,
            "levels": [self.level, self.top_level],
            "band": self.band.to_dict(),
            "value": None if self.value is None else _json_number(self.value),
            "target_band": None if target_band is None else target_band.to_dict(),
            "interval": [_json_number(self.interval[0]), _json_number(self.interval[1])],
            "provisional": self.source.provisional or self.target.provisional,
        }


@dataclass(frozen=True)
class BandCorrespondence:
    """One row of a band-to-band table: a source band, its image, the target bands it meets."""

    band: Band
    interval: tuple[float, float]
    target_bands: tuple[Band, ...]


def _json_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _check_target(target: Scale) -> None:
    if target.kind == KIND_MEMBERSHIP:
        raise UnsupportedConversionError(
            f"{target.name_zh} {target.id} is a membership card, not a score: it can be "
            "converted from, not onto"
        )


def _level_top(target: Scale, level: int) -> float:
    """The largest value of ``level`` on ``target``: ``max`` for the top level, otherwise the
    float just below the next level's start."""
    end = target.level_axis(level)[1]
    return float(end) if target.is_top_level(level) else math.nextafter(end, -math.inf)


def _map_point(value: float, source: Scale, target: Scale) -> float:
    """The level-anchored image of a checked score scale value on a score target."""
    level = source.level_of(value)
    s_start, s_end = source.level_axis(level)
    t_start, t_end = target.level_axis(level)
    mapped = t_start + (value - s_start) * (t_end - t_start) / (s_end - s_start)
    return min(max(mapped, float(t_start)), _level_top(target, level))


def _membership_interval(level: int, target: Scale) -> tuple[float, float]:
    return float(target.level_axis(level)[0]), float(target.max)


def convert_score(score: float, source: Scale, target: Scale) -> Conversion:
    """Convert one score from ``source`` onto ``target``.

    Raises:
        NotANumberError: ``score`` is not a finite number.
        ScoreOutOfRangeError: ``score`` lies outside the source range.
        UnsupportedConversionError: ``target`` is a membership card.
    """
    _check_target(target)
    value = source.check_score(score)
    band = source.band_of(value)
    if source.kind == KIND_MEMBERSHIP:
        return Conversion(
            source=source,
            target=target,
            score=value,
            band=band,
            level=band.level,
            top_level=target.bands[-1].level,
            interval=_membership_interval(band.level, target),
            value=None,
        )
    mapped = _map_point(value, source, target)
    return Conversion(
        source=source,
        target=target,
        score=value,
        band=band,
        level=band.level,
        top_level=band.level,
        interval=(mapped, mapped),
        value=mapped,
    )


def convert_many(scores: Iterable[float], source: Scale, target: Scale) -> tuple[Conversion, ...]:
    """Convert many scores between the same two scales (bulk form of :func:`convert_score`).

    Raises:
        NotANumberError: a score is not a finite number (the message names its position).
        ScoreOutOfRangeError: a score lies outside the source range (likewise).
        UnsupportedConversionError: ``target`` is a membership card.
    """
    _check_target(target)
    out: list[Conversion] = []
    for index, score in enumerate(scores):
        try:
            out.append(convert_score(score, source, target))
        except MappingError as err:
            raise type(err)(f"score #{index + 1}: {err}") from err
    return tuple(out)


def convert_interval(low: float, high: float, source: Scale, target: Scale) -> tuple[float, float]:
    """Convert the closed interval ``[low, high]`` of ``source`` values onto ``target``.

    The result contains the image of every score in ``[low, high]``. For a membership source
    it runs from the start of the least attested level to the target's maximum.

    Raises:
        NotANumberError: an end is not a finite number.
        ScoreOutOfRangeError: an end lies outside the source range.
        InvalidIntervalError: ``low`` is above ``high``.
        UnsupportedConversionError: ``target`` is a membership card.
    """
    _check_target(target)
    lo = source.check_score(low)
    hi = source.check_score(high)
    if lo > hi:
        raise InvalidIntervalError(f"interval [{low}, {high}]: low end is above high end")
    if source.kind == KIND_MEMBERSHIP:
        return _membership_interval(source.level_of(lo), target)
    return _map_point(lo, source, target), _map_point(hi, source, target)


def level_interval(level: int, target: Scale) -> tuple[float, float]:
    """The closed interval of values a resident at federation ``level`` has on ``target``.

    For an integer scale that is the level's inclusive scores (钱江分 level 4: 700..749); for a
    non-integer scale it ends just below the next level's start. The top level ends at ``max``.

    Raises:
        UnknownLevelError: ``level`` is not 1..5 or has no band on ``target``.
        UnsupportedConversionError: ``target`` is a membership card.
    """
    federation_level(level)
    _check_target(target)
    if target.integer:
        low, high = target.level_span(level)
        return float(low), float(high)
    return float(target.level_axis(level)[0]), _level_top(target, level)


def eligibility(interval: tuple[float, float], threshold: float) -> Eligibility:
    """Three-valued test of a closed interval against "``threshold`` and above".

    ``ELIGIBLE`` when the whole interval is at or above the threshold, ``NOT_ELIGIBLE`` when it
    is wholly below, ``UNDETERMINED`` when the threshold falls inside (ask for a finer
    disclosure).

    Raises:
        NotANumberError: an end or the threshold is not a finite number.
        InvalidIntervalError: the low end is above the high end.
    """
    low, high = interval
    for what, number in (("interval low end", low), ("interval high end", high)):
        _require_finite(what, number)
    _require_finite("threshold", threshold)
    if low > high:
        raise InvalidIntervalError(f"interval [{low}, {high}]: low end is above high end")
    if low >= threshold:
        return Eligibility.ELIGIBLE
    if high < threshold:
        return Eligibility.NOT_ELIGIBLE
    return Eligibility.UNDETERMINED


def _require_finite(what: str, number: object) -> None:
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise NotANumberError(f"{what} {number!r} is not a finite number")


def correspondence(source: Scale, target: Scale) -> tuple[BandCorrespondence, ...]:
    """Every source band with the interval its scores map to and the target bands it meets.

    For a score scale a band ``low..high`` maps to ``[f(low), f(high)]``; a membership band
    maps to the interval of its attested levels (up to the target's maximum).

    Raises:
        UnsupportedConversionError: ``target`` is a membership card.
    """
    _check_target(target)
    rows: list[BandCorrespondence] = []
    for band in source.bands:
        low, high = convert_interval(band.low, band.high, source, target)
        first = target.bands.index(target.band_of(low))
        last = target.bands.index(target.band_of(high))
        rows.append(BandCorrespondence(band, (low, high), target.bands[first : last + 1]))
    return tuple(rows)
