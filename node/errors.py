"""The node's errors: one root, one stable machine code and HTTP status per class.

The HTTP middleware maps every error with a ``code`` to a JSON body ``{"error": code,
"message": ...}``; the CLI prints ``error[code]: message``. This module defines classes only.
"""

from __future__ import annotations

from typing import ClassVar


class NodeError(Exception):
    """Root of every node failure. ``code`` is stable; the message is for people."""

    code: ClassVar[str] = "node_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
