"""The OpenAPI 3.1 document of the node's HTTP API, built from ``node.app.ROUTES``.

What it does: :func:`build_document` walks the route table and, for each route, attaches the
request body schema (mirroring the validation in ``node.api._body`` and the handlers: required
members, types, limits, ``additionalProperties: false`` where unknown members are refused), the
success response and every error response the route can answer (``{"error": code, "message":
...}``, with the codes listed). Protected routes carry bearer security and their roles in
``x-huxin-roles``; public routes carry no security. :func:`openapi` serves it at
``GET /openapi.json``. A route in ``ROUTES`` without an entry here fails :func:`build_document`,
so the document cannot drift from the table.

What it deliberately does not do: validate requests (the handlers do; this describes them), or
describe the internals of signed documents (status list tokens, roots, member material), which
have their own specifications in ``docs/protocol.md`` and ``docs/federation.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from node import appkeys
from node.api.verify import MAX_PRESENTATION
from node.config import NodeConfig
from node.imports import MAX_SEQ
from node.residents import MAX_REASON

Schema = dict[str, object]

_ERROR_CODE_PATTERN: Final = "^[a-z][a-z0-9_]*$"

#: Codes per HTTP status answered by the middlewares on every route (body parsing aside).
_AUTH_ERRORS: Final = {401: ("unauthorized",), 403: ("forbidden",)}


def _error_schema(codes: tuple[str, ...] | None) -> Schema:
    code: Schema = {"type": "string", "pattern": _ERROR_CODE_PATTERN}
    if codes is not None:
        code = {"type": "string", "enum": list(codes)}
    return {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": code, "message": {"type": "string"}},
        "additionalProperties": False,
    }


def _obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """A closed object: ``required`` members must be present, nothing else is allowed."""
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
    }


def _open(required: dict[str, Schema]) -> Schema:
    return {"type": "object", "required": sorted(required), "properties": required}


def _str(max_len: int = 256) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": max_len}


_INT: Final[Schema] = {"type": "integer"}
_NONNEG: Final[Schema] = {"type": "integer", "minimum": 0}
_STRING: Final[Schema] = {"type": "string"}
_BOOL: Final[Schema] = {"type": "boolean"}
_OBJECT: Final[Schema] = {"type": "object"}
_NATIONAL_ID: Final[Schema] = {
    **_str(64),
    "description": "The resident's national ID; hashed at once, never stored or logged.",
}
_SCALE_REF: Final[Schema] = _obj({"id": _STRING, "version": _STRING})
_LEVEL: Final[Schema] = {"type": "integer", "minimum": 1, "maximum": 5}
_JWK: Final[Schema] = {
    "type": "object",
    "required": ["kty"],
    "properties": {"kty": {"type": "string"}},
    "description": "A public JWK (EC P-256 or OKP Ed25519); private members are refused.",
}
_SCORE_RECORD: Final[Schema] = _obj(
    {
        "national_id": _NATIONAL_ID,
        "score": {"type": "number"},
        "seq": {**_NONNEG, "maximum": MAX_SEQ},
    }
)
_IMPORT_STATS: Final[Schema] = _obj(
    {
        "records": _NONNEG,
        "applied": _NONNEG,
        "unchanged": _NONNEG,
        "revoked": _NONNEG,
        "skipped_by_checkpoint": _NONNEG,
    }
)
_PEER: Final[Schema] = {
    "type": "object",
    "required": ["state"],
    "properties": {"state": {"type": "string"}},
}
_READYZ: Final[Schema] = _obj(
    {
        "status": {"type": "string", "enum": ["ready", "degraded", "not_ready"]},
        "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "federation": {
            "type": "object",
            "required": ["configured"],
            "properties": {
                "configured": _BOOL,
                "root_version": _INT,
                "root_warnings": {"type": "array", "items": _STRING},
                "peers": {"type": "object", "additionalProperties": _PEER},
            },
        },
    }
)
_VERIFY_RESULT: Final[Schema] = {
    "type": "object",
    "required": ["valid", "error"],
    "properties": {
        "valid": _BOOL,
        "error": {"type": ["string", "null"]},
        "message": _STRING,
        "issuer": _STRING,
        "city": _STRING,
        "scale": _SCALE_REF,
        "level": {"type": ["integer", "null"]},
        "level_at_least": {"type": "array", "items": _LEVEL},
        "band": {"type": ["array", "null"], "items": _INT, "minItems": 2, "maxItems": 2},
        "expires_at": _INT,
        "incentive": _STRING,
        "eligibility": {"type": ["string", "null"]},
        "explanation": _OBJECT,
        "ask_for": {"type": ["object", "null"]},
    },
}
_OBJECTION: Final[Schema] = _obj(
    {
        "id": _INT,
        "resident": _STRING,
        "reason": _STRING,
        "status": {"type": "string", "enum": ["open", "upheld", "rejected"]},
        "created_at": _INT,
        "resolved_at": {"type": ["integer", "null"]},
        "resolution": {"type": ["string", "null"]},
    }
)
_AUDIT_ENTRY: Final[Schema] = _obj(
    {"seq": _INT, "at": _INT, "actor": _STRING, "action": _STRING, "detail": _OBJECT}
)


@dataclass(frozen=True)
class Spec:
    """What the document says about one route beyond ``ROUTES``.

    Attributes:
        summary: one line.
        ok: the success status and its JSON schema (``None``: not JSON, see ``media``).
        body: the request body schemas by media type (none: no body).
        errors: error codes by HTTP status, beyond the middlewares' own.
        params: extra OpenAPI parameters (query, path).
        media: the success media type.
        cached: the route answers ``304`` to a matching ``If-None-Match``.
    """

    summary: str
    ok: tuple[int, Schema | None]
    body: dict[str, Schema] = field(default_factory=dict)
    errors: Mapping[int, tuple[str, ...] | None] = field(default_factory=dict)
    params: tuple[Schema, ...] = ()
    media: str = "application/json"
    cached: bool = False


_DB: Final = {503: ("node_unavailable",)}
_JSON_BODY: Final = {400: ("bad_request",), 413: ("payload_too_large",)}


def _json(schema: Schema) -> dict[str, Schema]:
    return {"application/json": schema}


def _specs(config: NodeConfig | None) -> dict[str, Spec]:
    max_batch = config.max_batch if config is not None else 64
    resident = _obj({"national_id": _NATIONAL_ID})
    fed_missing = {404: ("not_found",)}
    return {
        "metadata": Spec(
            "Who this node is and where its material lives.",
            (
                200,
                _open(
                    {
                        "city": _STRING,
                        "issuer": _STRING,
                        "node_url": _STRING,
                        "scale": _OBJECT,
                        "jwks_uri": _STRING,
                        "signing_kid": _STRING,
                        "signing_alg": _STRING,
                        "algorithms": {"type": "array", "items": _STRING},
                        "status_lists": {"type": "array", "items": _STRING},
                        "attestation_lifetime_seconds": _INT,
                    }
                ),
            ),
            errors=_DB,
        ),
        "jwks": Spec(
            "The signing key(s) as a JWK Set with kid, alg and x5c.",
            (200, _open({"keys": {"type": "array", "items": _JWK}})),
        ),
        "scale": Spec("The city's scale definition (the scale data-file schema).", (200, _OBJECT)),
        "incentives": Spec(
            "The city's 信易+ incentive catalogue.",
            (200, _OBJECT),
            errors={404: ("not_found",)},
            cached=True,
        ),
        "federation_root": Spec(
            "The trusted federation root chain, oldest first.",
            (200, _open({"roots": {"type": "array", "items": _OBJECT}})),
            errors=fed_missing,
            cached=True,
        ),
        "federation_material": Spec(
            "This node's signed member material (what peers sync).",
            (200, _OBJECT),
            errors=fed_missing,
            cached=True,
        ),
        "federation_bundle": Spec(
            "The verified trust bundle of every member's material (merchant apps).",
            (200, _OBJECT),
            errors={404: ("not_found",), 503: ("federation_unavailable",)},
            cached=True,
        ),
        "status_list": Spec(
            "A signed status list token (statuslist+jwt).",
            (200, None),
            errors={400: ("bad_request",), 404: ("not_found",), **_DB},
            params=(
                {
                    "name": "list_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"},
                },
            ),
            media="application/statuslist+jwt",
            cached=True,
        ),
        "healthz": Spec(
            "The process is up.", (200, _obj({"status": {"type": "string", "const": "ok"}}))
        ),
        "readyz": Spec(
            "Ready, degraded (200) or not ready (503), with every check.", (200, _READYZ)
        ),
        "metrics": Spec("Prometheus text exposition.", (200, None), media="text/plain"),
        "openapi": Spec("This document.", (200, _OBJECT)),
        "scores_push": Spec(
            "One score record, applied if its seq is newer than the stored one.",
            (200, _IMPORT_STATS),
            body=_json(_SCORE_RECORD),
            errors={**_JSON_BODY, 422: ("score_rejected",), **_DB},
        ),
        "scores_bulk": Spec(
            "Many score records (NDJSON, CSV or {records}), validated before any is applied.",
            (200, _IMPORT_STATS),
            body={
                "application/x-ndjson": _STRING,
                "text/csv": _STRING,
                "application/json": _obj(
                    {"records": {"type": "array", "items": _SCORE_RECORD, "maxItems": 100_000}}
                ),
            },
            errors={
                400: ("bad_request", "import_format"),
                413: ("payload_too_large",),
                422: ("score_rejected",),
                **_DB,
            },
        ),
        "objections_list": Spec(
            "Objections, optionally by state.",
            (200, _obj({"objections": {"type": "array", "items": _OBJECTION}})),
            errors={400: ("bad_request",), **_DB},
            params=(
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["open", "upheld", "rejected"]},
                },
            ),
        ),
        "objections_resolve": Spec(
            "Resolve an objection (upheld may correct the score).",
            (
                200,
                _obj({"status": _STRING, "revoked": _NONNEG, "score_changed": _BOOL}),
            ),
            body=_json(
                _obj(
                    {
                        "decision": {"type": "string", "enum": ["upheld", "rejected"]},
                        "note": _str(MAX_REASON),
                    },
                    {"score": {"type": ["number", "null"]}},
                )
            ),
            errors={
                **_JSON_BODY,
                404: ("not_found", "unknown_resident"),
                409: ("conflict",),
                422: ("score_rejected",),
                **_DB,
            },
            params=(
                {
                    "name": "objection_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
                },
            ),
        ),
        "audit_verify": Spec(
            "Verify the audit log's hash chain.",
            (200, _obj({"ok": _BOOL, "entries": _NONNEG})),
            errors={500: ("audit_chain_broken",), **_DB},
        ),
        "incentives_replace": Spec(
            "Replace the incentive catalogue (validated completely, then audited).",
            (200, _obj({"ok": _BOOL, "version": _STRING, "incentives": _NONNEG})),
            body=_json(_OBJECT),
            errors={**_JSON_BODY, 422: None, **_DB},
        ),
        "federation_root_submit": Spec(
            "Offer the next federation root version (TUF rules).",
            (200, _obj({"accepted": _BOOL, "version": _INT})),
            body=_json(_OBJECT),
            errors={
                413: ("payload_too_large",),
                422: ("root_refused",),
                503: ("node_unavailable", "federation_unavailable"),
            },
        ),
        "attestations_issue": Spec(
            "Issue one SD-JWT attestation per holder key for a consenting resident.",
            (
                200,
                _obj(
                    {
                        "attestations": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "sd_jwt": _STRING,
                                    "holder_kid": _STRING,
                                    "status": _obj({"uri": _STRING, "idx": _NONNEG}),
                                    "issued_at": _INT,
                                    "expires_at": _INT,
                                }
                            ),
                        }
                    }
                ),
            ),
            body=_json(
                _obj(
                    {
                        "national_id": _NATIONAL_ID,
                        "holder_keys": {
                            "type": "array",
                            "items": _JWK,
                            "minItems": 1,
                            "maxItems": max_batch,
                        },
                    }
                )
            ),
            errors={
                **_JSON_BODY,
                403: ("consent_required",),
                404: ("unknown_resident",),
                **_DB,
            },
        ),
        "residents_me": Spec(
            "The resident's own score, level and consent.",
            (
                200,
                _obj(
                    {
                        "score": {"type": "number"},
                        "level": _LEVEL,
                        "consent": _BOOL,
                        "scale": _SCALE_REF,
                    }
                ),
            ),
            body=_json(resident),
            errors={**_JSON_BODY, 404: ("unknown_resident",), **_DB},
        ),
        "residents_audit": Spec(
            "The audit entries about the resident (知情权).",
            (200, _obj({"entries": {"type": "array", "items": _AUDIT_ENTRY}})),
            body=_json(resident),
            errors={**_JSON_BODY, **_DB},
        ),
        "residents_consent": Spec(
            "Grant or withdraw consent; withdrawal revokes every attestation.",
            (200, _obj({"consent": _BOOL, "revoked": _NONNEG})),
            body=_json(_obj({"national_id": _NATIONAL_ID, "granted": _BOOL})),
            errors={**_JSON_BODY, 404: ("unknown_resident",), **_DB},
        ),
        "residents_objection": Spec(
            "File an objection (异议).",
            (201, _obj({"objection": _INT, "status": {"type": "string", "const": "open"}})),
            body=_json(_obj({"national_id": _NATIONAL_ID, "reason": _str(MAX_REASON)})),
            errors={**_JSON_BODY, 404: ("unknown_resident",), **_DB},
        ),
        "verify": Spec(
            "Verify a presentation (an invalid one is an answer: valid false, with its code).",
            (200, _VERIFY_RESULT),
            body=_json(
                _obj(
                    {"presentation": _str(MAX_PRESENTATION), "audience": _str(256)},
                    {
                        "nonce": {"type": ["string", "null"], "minLength": 1, "maxLength": 256},
                        "incentive": {
                            "type": ["string", "null"],
                            "minLength": 1,
                            "maxLength": 200,
                        },
                    },
                )
            ),
            errors={
                **_JSON_BODY,
                422: None,
                503: ("node_unavailable", "federation_unavailable"),
            },
        ),
    }


def _operation(route_name: str, roles: list[str] | None, spec: Spec) -> Schema:
    responses: dict[str, object] = {}
    ok_status, ok_schema = spec.ok
    content: Schema = {spec.media: {"schema": ok_schema}} if ok_schema else {spec.media: {}}
    responses[str(ok_status)] = {"description": spec.summary, "content": content}
    if spec.cached:
        responses["304"] = {"description": "Not modified (If-None-Match matched the ETag)."}
    errors: dict[int, tuple[str, ...] | None] = {}
    if roles is not None:
        errors.update(_AUTH_ERRORS)
        errors[503] = ("node_unavailable",)  # the credential lookup needs the database
    for status, codes in spec.errors.items():
        known = errors.get(status, ())
        errors[status] = None if codes is None or known is None else (*known, *codes)
    if spec.params and any(p["in"] == "path" for p in spec.params):
        errors[404] = (*(errors.get(404) or ()), "not_found")  # the router's own 404
    for status, codes in sorted(errors.items()):
        unique = None if codes is None else tuple(dict.fromkeys(codes))
        listed = "any coded error" if unique is None else ", ".join(unique)
        schema = _error_schema(unique)
        responses[str(status)] = {
            "description": f"Error ({listed}).",
            "content": {"application/json": {"schema": schema}},
        }
    if route_name == "readyz":
        responses["503"] = {
            "description": "Not ready: the database, its schema or the federation root failed.",
            "content": {"application/json": {"schema": _READYZ}},
        }
    op: Schema = {"operationId": route_name, "summary": spec.summary, "responses": responses}
    if spec.params:
        op["parameters"] = list(spec.params)
    if spec.body:
        op["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schema} for media, schema in spec.body.items()},
        }
    if roles is None:
        op["security"] = []
    else:
        op["security"] = [{"bearer": []}]
        op["x-huxin-roles"] = roles
        op["description"] = f"Roles: {', '.join(roles)}."
    return op


def build_document(config: NodeConfig | None = None) -> Schema:
    """The OpenAPI 3.1 document for every route in ``node.app.ROUTES``.

    Args:
        config: the node's configuration (limits such as ``max_batch``); ``None``: defaults.

    Raises:
        KeyError: a route in ``ROUTES`` has no specification here (the document would drift).
    """
    from node.app import ROUTES  # the app imports this module for its route

    specs = _specs(config)
    paths: dict[str, dict[str, object]] = {}
    for route in ROUTES:
        spec = specs[route.name]
        roles = None if route.roles is None else sorted(r.value for r in route.roles)
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route.name, roles, spec)
    doc: Schema = {
        "openapi": "3.1.0",
        "info": {
            "title": "huxin node (互信节点)",
            "version": "1",
            "description": "The HTTP API of a huxin city node. Errors are "
            '{"error": code, "message": text}.',
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A node credential (huxin node credential add); its role "
                    "(office, app, merchant) decides the routes it may call.",
                }
            }
        },
    }
    if config is not None:
        doc["servers"] = [{"url": config.public_url}]
    return doc


async def openapi(request: web.Request) -> web.Response:
    """``GET /openapi.json``: this document."""
    return web.json_response(build_document(request.app[appkeys.CONFIG]))
