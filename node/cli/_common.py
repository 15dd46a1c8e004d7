"""Helpers every ``huxin`` subcommand shares: error reporting, JSON output, exit codes.

Exit codes: 0 success; 1 a domain failure with a stable code (invalid presentation, bad file,
rule violation); 2 a usage error (click's own). Errors print as ``error[code]: message`` on
standard error; with ``--json`` commands print their JSON object on standard output instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from certs.errors import CertsError
from mapping.errors import MappingError
from node.errors import NodeError
from protocol.errors import ProtocolError

#: Every error root whose instances carry a stable ``code``.
CODED_ERRORS: tuple[type[Exception], ...] = (MappingError, ProtocolError, CertsError, NodeError)

EXIT_FAILURE = 1


def error_code(err: BaseException) -> str | None:
    """The stable code of a coded error, else ``None``."""
    if isinstance(err, CODED_ERRORS):
        code = getattr(err, "code", None)
        return code if isinstance(code, str) else None
    return None


def fail(code: str, message: str) -> NoReturn:
    """Print ``error[code]: message`` to standard error and exit 1."""
    click.echo(f"error[{code}]: {message}", err=True)
    sys.exit(EXIT_FAILURE)


@contextmanager
def reported_errors(on_error: Callable[[str, str], None] | None = None) -> Iterator[None]:
    """Turn coded domain errors into ``error[code]: message`` and exit 1.

    ``on_error(code, message)`` runs first (e.g. to print a JSON object) when given.
    """
    try:
        yield
    except CODED_ERRORS as err:
        code = error_code(err) or "error"
        if on_error is not None:
            on_error(code, str(err))
        fail(code, str(err))


def echo_json(obj: object) -> None:
    """Print ``obj`` as one JSON document (UTF-8, Chinese kept readable)."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False))
