"""The mapping package's errors: one root, one stable machine code per class.

Codes are stable strings the CLI prints and the node's HTTP API returns. This module defines
classes only.
"""

from __future__ import annotations

from typing import ClassVar


class MappingError(Exception):
    """Root of every mapping failure. ``code`` is stable; the message is for people."""

    code: ClassVar[str] = "mapping_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ScaleDefinitionError(MappingError):
    """A scale definition is malformed: unknown or missing fields, wrong types, bands with gaps,
    overlaps or wrong order, levels going down as scores rise, a range the bands do not cover."""

    code: ClassVar[str] = "bad_scale_definition"


class ScaleFileError(ScaleDefinitionError):
    """A scale definition file cannot be read or is not one JSON object."""

    code: ClassVar[str] = "bad_scale_file"


class UnknownScaleError(MappingError):
    """No built-in scale has the requested id."""

    code: ClassVar[str] = "unknown_scale"


class ScoreOutOfRangeError(MappingError):
    """A score (or an interval end) lies outside the scale's range."""

    code: ClassVar[str] = "score_out_of_range"


class NotANumberError(MappingError):
    """A score is not a finite number (text that does not parse, NaN, infinity)."""

    code: ClassVar[str] = "not_a_number"


class UnknownLevelError(MappingError):
    """A federation level is outside 1..5 or has no band on the scale in question."""

    code: ClassVar[str] = "unknown_level"


class InvalidIntervalError(MappingError):
    """An interval whose low end lies above its high end."""

    code: ClassVar[str] = "bad_interval"


class UnsupportedConversionError(MappingError):
    """A conversion the method cannot express, e.g. onto a membership card (not a score)."""

    code: ClassVar[str] = "unsupported_conversion"
