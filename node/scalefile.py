"""Reading an operator's scale definition file (the I/O in front of ``mapping.scale``).

What it does: reads at most :data:`mapping.scale.MAX_DEFINITION_BYTES` (+1, to tell a file that
is too large) of the file the operator named, and hands the bytes to
:func:`mapping.scale.parse_scale_json`; errors name the file.

What it deliberately does not do: validate anything itself (``mapping`` does, on bytes), or read
the built-in definitions (``mapping.scale.builtin_scale`` reads its own package data).
"""

from __future__ import annotations

import os

from mapping.errors import ScaleDefinitionError, ScaleFileError
from mapping.scale import MAX_DEFINITION_BYTES, Scale, parse_scale_json


def load_scale_file(path: str | os.PathLike[str]) -> Scale:
    """Read and validate an operator's scale definition file.

    Raises:
        ScaleFileError: the file cannot be read, is larger than
            :data:`~mapping.scale.MAX_DEFINITION_BYTES`, or is not one JSON object.
        ScaleDefinitionError: the definition is invalid; the message names the file.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = handle.read(MAX_DEFINITION_BYTES + 1)
    except OSError as err:
        raise ScaleFileError(f"cannot read scale file {name}: {err.strerror or err}") from err
    if len(data) > MAX_DEFINITION_BYTES:
        raise ScaleFileError(f"scale file {name} is larger than {MAX_DEFINITION_BYTES} bytes")
    try:
        return parse_scale_json(data)
    except ScaleFileError as err:
        raise ScaleFileError(f"{name}: {err}") from err
    except ScaleDefinitionError as err:
        raise ScaleDefinitionError(f"{name}: {err}") from err
