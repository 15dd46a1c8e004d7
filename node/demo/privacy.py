"""Privacy invariant 1, measured: scan recorded node responses for residents' data.

What it does: :func:`scan` looks at every recorded response body and everything decodable
inside it -- JSON, each base64url segment of JWTs and SD-JWTs (headers, payloads, disclosures),
recursively -- and reports a :class:`Leak` for a national ID of any resident (18-character
pattern checked against the set), a name, a JSON member called ``score``, ``national_id`` or
``name``, or a disclosed claim whose value is a resident's exact score.

What it deliberately does not do: decide who may receive what (the caller passes only the
exchanges that left the home city), or decompress status list bits (they hold no values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from node.demo.proxy import Exchange
from protocol.errors import MalformedError
from protocol.jose import b64u_decode

_ID_RE: Final = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])")
_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9_-]{8,}")
_FORBIDDEN_MEMBERS: Final = frozenset({"score", "national_id", "name", "resident"})
#: Disclosure claim names whose values are about the holder's credit (not structure).
_CLAIMS: Final = frozenset({"level", "band"})
MAX_DEPTH: Final = 4


@dataclass(frozen=True)
class Leak:
    """Something about a resident found in a response."""

    city: str
    path: str
    what: str


def _decoded(text: str, depth: int = 0) -> Iterator[str]:
    """``text`` and every base64url segment inside it that decodes to UTF-8 text."""
    yield text
    if depth >= MAX_DEPTH:
        return
    for segment in _SEGMENT_RE.findall(text):
        try:
            raw = b64u_decode(segment)
            inner = raw.decode("utf-8")
        except (MalformedError, UnicodeDecodeError, ValueError):
            continue
        readable = all(ch.isprintable() or ch in "\n\r\t" for ch in inner)
        if readable and any(ch in inner for ch in '{["'):
            yield from _decoded(inner, depth + 1)


def _json_values(text: str) -> Iterator[tuple[str, object]]:
    try:
        doc = json.loads(text)
    except ValueError:
        return
    stack: list[tuple[str, object]] = [("", doc)]
    while stack:
        key, value = stack.pop()
        yield key, value
        if isinstance(value, dict):
            stack.extend((str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            # An SD-JWT disclosure is [salt, name, value]: report the value under its name.
            if len(value) == 3 and all(isinstance(v, str) for v in value[:2]):
                stack.append((str(value[1]), value[2]))
            stack.extend((f"{key}[]", v) for v in value)


def scan(
    exchanges: Iterable[Exchange],
    *,
    national_ids: Collection[str],
    names: Collection[str] = (),
    scores: Collection[int] = (),
) -> list[Leak]:
    """Every leak of a national ID, a name or an exact score in ``exchanges``' bodies."""
    leaks: list[Leak] = []
    for ex in exchanges:
        body = ex.body.decode("utf-8", errors="replace")
        for text in _decoded(body):
            leaks.extend(
                Leak(ex.city, ex.path, f"national ID {m}")
                for m in _ID_RE.findall(text)
                if m in national_ids
            )
            leaks.extend(Leak(ex.city, ex.path, f"name {n}") for n in names if n in text)
            for key, value in _json_values(text):
                if key in _FORBIDDEN_MEMBERS:
                    leaks.append(Leak(ex.city, ex.path, f"member {key!r} = {value!r}"))
                elif key in _CLAIMS and _holds_score(value, scores):
                    leaks.append(Leak(ex.city, ex.path, f"claim {key!r} = {value!r}"))
    return leaks


def _holds_score(value: object, scores: Collection[int]) -> bool:
    """A level above 5 or a one-point band would be an exact score in disguise."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value > 5 and value in scores
    if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
        return value[0] in scores
    return False
