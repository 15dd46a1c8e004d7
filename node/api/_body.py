"""Request parsing shared by the handlers: bounded JSON bodies and typed member access.

What it does: reads a body (refusing oversized ones before and after reading), parses it as a
JSON object refusing duplicate members, and extracts members with their expected types, raising
:class:`~node.errors.BadRequestError` with the member's name. What it deliberately does not do:
decide anything about the values.
"""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

from node.errors import BadRequestError, PayloadTooLargeError

#: Ceiling for ordinary JSON requests; bulk imports have their own, larger limit.
MAX_JSON_BYTES: Final = 256 * 1024


async def read_bytes(request: web.Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes.

    Raises:
        PayloadTooLargeError: the declared or actual length exceeds ``limit``.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError(f"request body exceeds {limit} bytes") from None
    if len(body) > limit:
        raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
    return body


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise BadRequestError(f"duplicate JSON member {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> object:
    raise BadRequestError(f"{name} is not valid JSON")


#: Built once: ``json.loads`` with hooks builds a decoder (and its scanner) on every call.
_DECODER: Final = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


async def json_object(request: web.Request, limit: int = MAX_JSON_BYTES) -> dict[str, object]:
    """The body as a JSON object.

    Raises:
        PayloadTooLargeError: too large.
        BadRequestError: not UTF-8 JSON, not an object, or a duplicate member.
    """
    body = await read_bytes(request, limit)
    try:
        value = _DECODER.decode(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequestError("request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequestError("request body must be a JSON object")
    return value


def only(obj: dict[str, object], *allowed: str) -> None:
    """Refuse members other than ``allowed``.

    Raises:
        BadRequestError: an unknown member.
    """
    if len(obj) <= len(allowed) and all(name in allowed for name in obj):
        return
    raise BadRequestError(f"unknown members {sorted(set(obj) - set(allowed))}")


def string(obj: dict[str, object], name: str, *, max_len: int = 256) -> str:
    """A required string member.

    Raises:
        BadRequestError: missing, not a string, empty or too long.
    """
    value = obj.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise BadRequestError(f"{name} must be a non-empty string of at most {max_len} characters")
    return value


def optional_string(obj: dict[str, object], name: str, *, max_len: int = 256) -> str | None:
    """An optional string member (absent or null gives ``None``).

    Raises:
        BadRequestError: present but not a suitable string.
    """
    if obj.get(name) is None:
        return None
    return string(obj, name, max_len=max_len)


def boolean(obj: dict[str, object], name: str) -> bool:
    """A required boolean member.

    Raises:
        BadRequestError: missing or not a boolean.
    """
    value = obj.get(name)
    if not isinstance(value, bool):
        raise BadRequestError(f"{name} must be true or false")
    return value
