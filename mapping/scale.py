"""City credit scales: their definitions, validation, and the level and band of a score.

A scale is data: one JSON file per scale (``mapping/scales/<id>.json`` for the built-in ones, or
an operator's own file), with explicit inclusive integer band edges, each band mapped onto one of
the five federation levels. :func:`parse_scale` validates a definition and refuses anything it
does not understand, naming the offending field or band.

Score semantics (see ``docs/scales.md``): a scale is a continuous axis ``[min, max]``. A band
``low..high`` covers the half-open span ``[low, high + 1)`` -- which for integer scores is exactly
``low..high`` -- except the top band, which covers ``[low, max]`` including ``max``. So 149.5 on
商鼎分 is in the band 120..149 and 150 is in the band 150..200. A level covers the union of its
bands' spans.

This module does not convert between scales (:mod:`mapping.convert` does), does not know which
incentives a level unlocks, and reads no file but the package's own built-in definitions (an
operator's file is read by ``node.scalefile``, which hands the bytes to :func:`parse_scale_json`).
Stdlib only.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import pairwise

from mapping.errors import (
    NotANumberError,
    ScaleDefinitionError,
    ScaleFileError,
    ScoreOutOfRangeError,
    UnknownLevelError,
    UnknownScaleError,
)
from mapping.levels import HIGHEST_LEVEL, LOWEST_LEVEL

#: Scale kinds. A ``score`` scale maps every band onto one federation level and covers all five
#: levels; a ``membership`` scale (Nanjing's honest-citizen card) attests "level L or above".
KIND_SCORE = "score"
KIND_MEMBERSHIP = "membership"
KINDS = (KIND_SCORE, KIND_MEMBERSHIP)

#: The built-in scales, in the order ``huxin scale list`` shows them.
BUILTIN_SCALE_IDS: tuple[str, ...] = (
    "shangding",
    "qianjiang",
    "jasmine",
    "honest-card",
    "wuhan",
    "osmanthus",
    "qiqihar",
)

#: Largest definition file ``node.scalefile.load_scale_file`` reads (a scale is a few kilobytes).
MAX_DEFINITION_BYTES = 256 * 1024

_IDENT = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_REQUIRED_FIELDS = (
    "id",
    "version",
    "name_zh",
    "name_en",
    "city",
    "kind",
    "min",
    "max",
    "integer",
    "base",
    "bands",
    "source",
    "provisional",
)
_OPTIONAL_FIELDS = ("notes",)
_BAND_FIELDS = ("low", "high", "level", "name_zh", "name_en")


@dataclass(frozen=True)
class Band:
    """One band of a scale: the scores ``low..high`` (inclusive integers) and their level.

    Raises:
        ScaleDefinitionError: ``low > high`` or ``level`` is not a federation level (1..5).
    """

    low: int
    high: int
    level: int
    name_zh: str
    name_en: str

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ScaleDefinitionError(
                f"band {self.label()}: low {self.low} is above high {self.high}"
            )
        if not LOWEST_LEVEL <= self.level <= HIGHEST_LEVEL:
            raise ScaleDefinitionError(
                f"band {self.label()}: level {self.level} is not a federation level "
                f"({LOWEST_LEVEL}..{HIGHEST_LEVEL})"
            )

    def label(self) -> str:
        """``[low..high] name_zh``, the way error messages and tables name a band."""
        return f"[{self.low}..{self.high}] {self.name_zh}"

    def to_dict(self) -> dict[str, object]:
        """The band as in a definition file."""
        return {
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
        }


@dataclass(frozen=True)
class Scale:
    """A validated city scale. Construct it with :func:`parse_scale` or directly; both validate.

    Raises:
        ScaleDefinitionError: the bands leave a gap, overlap, are out of order, go down in level,
            do not cover ``min..max``; a score scale misses a federation level; ``base`` lies
            outside the range; an unknown ``kind``.
    """

    id: str
    version: str
    name_zh: str
    name_en: str
    city: str
    kind: str
    min: int
    max: int
    integer: bool
    base: int | None
    bands: tuple[Band, ...]
    source: str
    provisional: bool
    notes: str = ""
    _lows: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_structure(self)
        object.__setattr__(self, "_lows", tuple(band.low for band in self.bands))

    # -- scores ----------------------------------------------------------------------------

    def check_score(self, score: float) -> float:
        """``score`` as a float, after checking it is a finite number within ``min..max``.

        Raises:
            NotANumberError: ``score`` is not a real number, or is NaN or infinite.
            ScoreOutOfRangeError: ``score`` lies outside ``min..max``.
        """
        value = _finite(score)
        if not self.min <= value <= self.max:
            raise ScoreOutOfRangeError(
                f"score {_show(value)} is outside {self.name_zh} {self.id}'s range "
                f"{self.min}..{self.max}"
            )
        return value

    def band_of(self, score: float) -> Band:
        """The band ``score`` falls in (``[low, high + 1)``; the top band ``[low, max]``).

        Raises:
            NotANumberError: ``score`` is not a finite number.
            ScoreOutOfRangeError: ``score`` lies outside ``min..max``.
        """
        value = self.check_score(score)
        return self.bands[bisect_right(self._lows, value) - 1]

    def level_of(self, score: float) -> int:
        """The federation level of ``score`` (for a membership scale: the least level attested).

        Raises:
            NotANumberError: ``score`` is not a finite number.
            ScoreOutOfRangeError: ``score`` lies outside ``min..max``.
        """
        return self.band_of(score).level

    # -- levels ----------------------------------------------------------------------------

    @property
    def levels(self) -> tuple[int, ...]:
        """The federation levels this scale has bands for, ascending."""
        return tuple(sorted({band.level for band in self.bands}))

    def bands_of_level(self, level: int) -> tuple[Band, ...]:
        """The bands mapped onto ``level``, ascending.

        Raises:
            UnknownLevelError: no band of this scale has that level.
        """
        found = tuple(band for band in self.bands if band.level == level)
        if not found:
            raise UnknownLevelError(
                f"{self.name_zh} {self.id} has no band at federation level {level!r} "
                f"(its levels: {', '.join(map(str, self.levels))})"
            )
        return found

    def level_span(self, level: int) -> tuple[int, int]:
        """The inclusive integer scores ``(low, high)`` of ``level`` on this scale.

        Raises:
            UnknownLevelError: no band of this scale has that level.
        """
        found = self.bands_of_level(level)
        return found[0].low, found[-1].high

    def level_axis(self, level: int) -> tuple[int, int]:
        """The continuous span ``(start, end)`` of ``level``: ``[start, end)``, or for the top
        level ``[start, max]``. These are the anchors of the level-anchored conversion.

        Raises:
            UnknownLevelError: no band of this scale has that level.
        """
        low, high = self.level_span(level)
        return (low, self.max) if high == self.max else (low, high + 1)

    def is_top_level(self, level: int) -> bool:
        """Whether ``level`` is this scale's highest level (its span is closed at ``max``)."""
        return self.bands[-1].level == level

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """The definition as a JSON-ready dict in the data-file schema (``parse_scale`` inverse)."""
        out: dict[str, object] = {
            "id": self.id,
            "version": self.version,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "city": self.city,
            "kind": self.kind,
            "min": self.min,
            "max": self.max,
            "integer": self.integer,
            "base": self.base,
            "bands": [band.to_dict() for band in self.bands],
            "source": self.source,
            "provisional": self.provisional,
        }
        if self.notes:
            out["notes"] = self.notes
        return out


# -- validation ----------------------------------------------------------------------------


def _check_structure(scale: Scale) -> None:
    """The cross-field rules of a scale; raises :class:`ScaleDefinitionError` naming the band."""
    where = f"scale {scale.id!r}"
    if scale.kind not in KINDS:
        raise ScaleDefinitionError(f"{where}: kind {scale.kind!r} is not one of {', '.join(KINDS)}")
    if scale.min > scale.max:
        raise ScaleDefinitionError(f"{where}: min {scale.min} is above max {scale.max}")
    if scale.base is not None and not scale.min <= scale.base <= scale.max:
        raise ScaleDefinitionError(
            f"{where}: base {scale.base} is outside the range {scale.min}..{scale.max}"
        )
    bands = scale.bands
    if not bands:
        raise ScaleDefinitionError(f"{where}: no bands")
    first, last = bands[0], bands[-1]
    if first.low > scale.min:
        raise ScaleDefinitionError(
            f"{where}: the bands do not cover the range: scores {scale.min}..{first.low - 1} "
            f"lie below the first band {first.label()}"
        )
    if first.low < scale.min:
        raise ScaleDefinitionError(
            f"{where}: band 1 {first.label()} starts below the minimum {scale.min}"
        )
    for number, (prev, band) in enumerate(pairwise(bands), start=2):
        if band.low < prev.low:
            raise ScaleDefinitionError(
                f"{where}: band {number} {band.label()} starts below band {number - 1} "
                f"{prev.label()}: list bands in ascending order of score"
            )
    for number, (prev, band) in enumerate(pairwise(bands), start=2):
        if band.low <= prev.high:
            raise ScaleDefinitionError(
                f"{where}: band {number} {band.label()} overlaps band {number - 1} "
                f"{prev.label()}: scores {band.low}..{min(prev.high, band.high)} are in both"
            )
        if band.low > prev.high + 1:
            raise ScaleDefinitionError(
                f"{where}: gap between band {number - 1} {prev.label()} and band {number} "
                f"{band.label()}: scores {prev.high + 1}..{band.low - 1} are in no band"
            )
        if band.level < prev.level:
            raise ScaleDefinitionError(
                f"{where}: band {number} {band.label()} has level {band.level}, below level "
                f"{prev.level} of band {number - 1} {prev.label()}: levels must not go down "
                "as scores rise"
            )
    if last.high < scale.max:
        raise ScaleDefinitionError(
            f"{where}: the bands do not cover the range: scores {last.high + 1}..{scale.max} "
            f"lie above the last band {last.label()}"
        )
    if last.high > scale.max:
        raise ScaleDefinitionError(
            f"{where}: band {len(bands)} {last.label()} ends above the maximum {scale.max}"
        )
    if scale.kind == KIND_SCORE:
        missing = sorted(set(range(LOWEST_LEVEL, HIGHEST_LEVEL + 1)) - {b.level for b in bands})
        if missing:
            raise ScaleDefinitionError(
                f"{where}: no band at federation level(s) {', '.join(map(str, missing))}: a score "
                f"scale maps its bands onto all of levels {LOWEST_LEVEL}..{HIGHEST_LEVEL}"
            )
        if last.high == last.low:
            raise ScaleDefinitionError(
                f"{where}: the top band {last.label()} is a single score: the top level spans "
                "[low, max] and needs max > low to anchor a conversion"
            )


def _finite(score: object) -> float:
    """``score`` as a finite float, or :class:`NotANumberError`."""
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise NotANumberError(f"score {score!r} is not a number")
    value = float(score)
    if not math.isfinite(value):
        raise NotANumberError(f"score {score!r} is not a finite number")
    return value


def _show(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def parse_score(text: str) -> float:
    """A score typed by a person (``"135"``, ``"686.5"``) as a finite float.

    Raises:
        NotANumberError: the text is not a decimal number, or is NaN or infinite.
    """
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        raise NotANumberError(f"score {text!r} is not a number") from None
    if not math.isfinite(value):
        raise NotANumberError(f"score {text!r} is not a finite number")
    return value


# -- parsing -------------------------------------------------------------------------------


def _brief(value: object) -> str:
    """A bounded rendering of an offending value: ``repr`` of a deeply nested value would raise
    ``RecursionError`` and of a huge one would flood the message."""
    try:
        return reprlib.repr(value)
    except (ValueError, RecursionError):  # pragma: no cover - an int beyond the str limit
        return f"<{type(value).__name__}>"


def _field_error(where: str, name: str, wanted: str, got: object) -> ScaleDefinitionError:
    return ScaleDefinitionError(f"{where}: {name!r} must be {wanted}, got {_brief(got)}")


def _get_int(obj: Mapping[str, object], name: str, where: str) -> int:
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _field_error(where, name, "an integer", value)
    return value


def _get_str(obj: Mapping[str, object], name: str, where: str) -> str:
    value = obj[name]
    if not isinstance(value, str) or not value.strip():
        raise _field_error(where, name, "a non-empty string", value)
    return value


def _get_bool(obj: Mapping[str, object], name: str, where: str) -> bool:
    value = obj[name]
    if not isinstance(value, bool):
        raise _field_error(where, name, "true or false", value)
    return value


def _check_fields(
    obj: Mapping[str, object], required: Sequence[str], optional: Sequence[str], where: str
) -> None:
    unknown = sorted(str(k) for k in obj if k not in required and k not in optional)
    if unknown:
        raise ScaleDefinitionError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join([*required, *optional])}"
        )
    missing = [k for k in required if k not in obj]
    if missing:
        raise ScaleDefinitionError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")


def _parse_band(obj: object, number: int, scale_id: str) -> Band:
    where = f"scale {scale_id!r} band {number}"
    if not isinstance(obj, Mapping):
        raise ScaleDefinitionError(f"{where}: must be an object, got {_brief(obj)}")
    _check_fields(obj, _BAND_FIELDS, (), where)
    return Band(
        low=_get_int(obj, "low", where),
        high=_get_int(obj, "high", where),
        level=_get_int(obj, "level", where),
        name_zh=_get_str(obj, "name_zh", where),
        name_en=_get_str(obj, "name_en", where),
    )


def parse_scale(obj: Mapping[str, object]) -> Scale:
    """Validate a scale definition (a decoded JSON object) and build the :class:`Scale`.

    Raises:
        ScaleDefinitionError: unknown or missing fields, wrong types, a malformed id, or any
            rule :class:`Scale` enforces (gaps, overlaps, order, levels, coverage). The message
            names the offending field or band.
    """
    if not isinstance(obj, Mapping):
        raise ScaleDefinitionError(f"a scale definition must be a JSON object, got {_brief(obj)}")
    raw_id = obj.get("id")
    where = f"scale {raw_id!r}" if isinstance(raw_id, str) else "scale definition"
    _check_fields(obj, _REQUIRED_FIELDS, _OPTIONAL_FIELDS, where)
    scale_id = _get_str(obj, "id", where)
    city = _get_str(obj, "city", where)
    for name, value in (("id", scale_id), ("city", city)):
        if not _IDENT.match(value):
            raise _field_error(where, name, "lower-case letters, digits and '-'", value)
    kind = _get_str(obj, "kind", where)
    base = obj["base"]
    if base is not None and (isinstance(base, bool) or not isinstance(base, int)):
        raise _field_error(where, "base", "an integer or null", base)
    bands = obj["bands"]
    if not isinstance(bands, list) or not bands:
        raise _field_error(where, "bands", "a non-empty list of bands", bands)
    notes = obj.get("notes", "")
    if not isinstance(notes, str):
        raise _field_error(where, "notes", "a string", notes)
    return Scale(
        id=scale_id,
        version=_get_str(obj, "version", where),
        name_zh=_get_str(obj, "name_zh", where),
        name_en=_get_str(obj, "name_en", where),
        city=city,
        kind=kind,
        min=_get_int(obj, "min", where),
        max=_get_int(obj, "max", where),
        integer=_get_bool(obj, "integer", where),
        base=base,
        bands=tuple(_parse_band(b, n, scale_id) for n, b in enumerate(bands, start=1)),
        source=_get_str(obj, "source", where),
        provisional=_get_bool(obj, "provisional", where),
        notes=notes,
    )


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ScaleFileError(f"duplicate field {key!r} in scale definition")
        out[key] = value
    return out


def parse_scale_json(data: bytes | str) -> Scale:
    """Parse and validate a scale definition document (UTF-8 JSON text).

    Raises:
        ScaleFileError: not UTF-8, not JSON, a duplicate member, or not one JSON object.
        ScaleDefinitionError: the definition itself is invalid (see :func:`parse_scale`).
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ScaleFileError(f"scale definition is not UTF-8: {err}") from err
    try:
        obj = json.loads(data, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as err:
        raise ScaleFileError(f"scale definition is not valid JSON: {err}") from err
    except (ValueError, RecursionError) as err:  # an integer over 4,300 digits; deep nesting
        raise ScaleFileError(
            "scale definition is not usable JSON (a number over 4,300 digits or nesting too deep)"
        ) from err
    if not isinstance(obj, dict):
        raise ScaleFileError(
            f"a scale definition must be one JSON object, got {type(obj).__name__}"
        )
    return parse_scale(obj)


@cache
def builtin_scale(scale_id: str) -> Scale:
    """The built-in definition of ``scale_id`` (one of :data:`BUILTIN_SCALE_IDS`).

    Raises:
        UnknownScaleError: no built-in scale has this id.
    """
    if scale_id not in BUILTIN_SCALE_IDS:
        raise UnknownScaleError(
            f"unknown scale {scale_id!r}; built-in scales: {', '.join(BUILTIN_SCALE_IDS)}"
        )
    data = resources.files("mapping.scales").joinpath(f"{scale_id}.json").read_bytes()
    scale = parse_scale_json(data)
    if scale.id != scale_id:  # pragma: no cover - guarded by the package's own tests
        raise ScaleDefinitionError(f"built-in file {scale_id}.json defines scale {scale.id!r}")
    return scale


def builtin_scales() -> tuple[Scale, ...]:
    """Every built-in scale, in :data:`BUILTIN_SCALE_IDS` order."""
    return tuple(builtin_scale(scale_id) for scale_id in BUILTIN_SCALE_IDS)
