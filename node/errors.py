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


class BadRequestError(NodeError):
    """The request body or query is malformed: not JSON, wrong types, missing members."""

    code = "bad_request"
    http_status = 400


class PayloadTooLargeError(NodeError):
    """The request body or a collection inside it exceeds a configured limit."""

    code = "payload_too_large"
    http_status = 413


class UnauthorizedError(NodeError):
    """No credential, or an unknown or revoked one."""

    code = "unauthorized"
    http_status = 401


class ForbiddenError(NodeError):
    """The credential is valid but its role may not use this endpoint."""

    code = "forbidden"
    http_status = 403


class NotFoundError(NodeError):
    """The addressed object (status list, objection, route) does not exist."""

    code = "not_found"
    http_status = 404


class UnknownResidentError(NotFoundError):
    """No score record exists for this resident."""

    code = "unknown_resident"
    http_status = 404


class ScoreRejectedError(NodeError):
    """A score record is not valid on the city's scale (out of range, not an integer, ...)."""

    code = "score_rejected"
    http_status = 422


class ConsentRequiredError(NodeError):
    """The resident has not granted (or has withdrawn) consent to issuance."""

    code = "consent_required"
    http_status = 403


class ConflictError(NodeError):
    """The request conflicts with the current state (an objection already resolved, ...)."""

    code = "conflict"
    http_status = 409


class ConfigError(NodeError):
    """The node configuration file or an environment override is invalid or missing."""

    code = "config_error"
    http_status = 500


class AuditChainError(NodeError):
    """The audit log's hash chain is broken: an entry was edited, deleted or reordered.

    Attributes:
        seq: the sequence number of the first entry that fails verification.
    """

    code = "audit_chain_broken"
    http_status = 500

    def __init__(self, message: str, *, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


class ImportFormatError(NodeError):
    """An import file or body cannot be parsed (bad CSV header, bad NDJSON line)."""

    code = "import_format"
    http_status = 400


class UnavailableError(NodeError):
    """The node cannot serve this right now (database down, status list not signable)."""

    code = "node_unavailable"
    http_status = 503
