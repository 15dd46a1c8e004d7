"""The certs package's errors: one root, one stable machine code per class.

Codes are stable strings the CLI prints and the node's HTTP API returns. This module defines
classes only.
"""

from __future__ import annotations

from typing import ClassVar


class CertsError(Exception):
    """Root of every certs failure. ``code`` is stable; the message is for people."""

    code: ClassVar[str] = "certs_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
