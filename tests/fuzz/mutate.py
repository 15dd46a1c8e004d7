"""Structured mutations and random inputs, driven by a :class:`random.Random`.

Shared by the bounded hypothesis tests (``tests/fuzz/``, where hypothesis supplies the
``Random``) and the long run (``bench/fuzz.py``, a seeded loop), so both check the same cases.

What it does: byte and text mutations (flip, truncate, insert, delete, duplicate, swap), JSON
value mutations at a random path (numbers to floats, huge or negative ints, strings, nulls,
containers, lone surrogates, deep nesting, unknown and missing fields), raw JSON fragments a
Python ``json.dumps`` would never write (``NaN``, ``1e999``, duplicate members, 5,000-digit
integers, 5,000-deep arrays), compact-JWS mutations (re-encoded headers with another ``alg``,
``typ``, ``kid``, ``jwk``, ``crit``; changed claims re-encoded without re-signing; tampered
signatures) and DER mutations inside PEM. Random arbitrary inputs: bytes, text, JSON values and
token-shaped strings.

What it deliberately does not do: decide whether an outcome is right (``tests/fuzz/targets.py``
does), or read the clock or any file.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from protocol.jose import Signer, b64u_encode

#: Largest arbitrary input generated, in bytes or characters (keeps every case fast).
MAX_ARBITRARY: Final = 3000
#: Characters that carry structure in our formats, favoured when inserting.
STRUCTURAL: Final = '~.{}[]":,\\-_=+/ \n\x00'
_INTERESTING_BYTES: Final = (
    b"~",
    b".",
    b"~~",
    b'"',
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"\x00",
    b"\xff",
    b"\xc3\x28",  # invalid UTF-8
    b"\xed\xa0\x80",  # an encoded surrogate (invalid UTF-8)
    "é".encode(),
    "互信".encode(),
    b"=",
    b"+/",
    b"\r\n",
    b"-----BEGIN ",
    b"-----END ",
)


@dataclass(frozen=True)
class Raw:
    """A JSON fragment written verbatim by :func:`dumps` (text no ``json.dumps`` produces)."""

    text: str


def raw_fragments(rng: random.Random) -> Raw:
    """A hostile JSON fragment: deep nesting, non-finite numbers, giant integers, duplicates."""
    depth = rng.choice((30, 200, 990, 1100, 5000))
    choices = (
        "[" * depth + "]" * depth,
        '{"a":' * depth + "1" + "}" * depth,
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "-1e999",
        "1" * rng.choice((20, 400, 4300, 4301, 5000)),
        "-" + "9" * 4301,
        "1.5e308",
        "0.1e-400",
        '"\\ud800"',
        '"\\udfff\\ud800"',
        '"\\u0000"',
        '{"a":1,"a":2}',
        '{"_sd":[],"_sd":[]}',
        "-0",
        "0e0",
        "1E+2",
        '"' + "x" * 5000 + '"',
    )
    return Raw(rng.choice(choices))


#: Numbers at the edges of what times, indices and sizes can hold.
NUMBERS: Final[tuple[int | float, ...]] = (
    0,
    -1,
    1,
    2**31 - 1,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    10**20,
    10**300,
    253_402_300_799,  # 9999-12-31T23:59:59Z
    253_402_300_800,
    253_402_300_799.999,
    -62_135_596_800,  # 0001-01-01T00:00:00Z
    -62_135_596_801,
    1e18,
    1e308,
    -1e308,
    0.5,
    1e-320,
    1_767_225_600.5,
)


def interesting_values(rng: random.Random) -> object:
    """A JSON value a careless parser mishandles."""
    choices: tuple[object, ...] = (
        0,
        -1,
        1,
        2,
        5,
        6,
        2**31,
        2**53 + 1,
        2**63,
        2**64,
        -(2**63) - 1,
        10**20,
        10**300,
        10**4200,
        -(10**4200),
        253_402_300_799,
        253_402_300_800,
        -62_135_596_800,
        0.5,
        1.0,
        -0.0,
        1e308,
        -1e308,
        1e-320,
        1767225600.5,
        "",
        " ",
        "a",
        "0",
        "1",
        "true",
        "null",
        "\ud800",
        "\udfff\ud800",
        "\x00",
        "\U0001d4b3",  # mathematical script X (astral plane)
        "互信",
        "x" * 5000,
        "ES256",
        "EdDSA",
        "none",
        "HS256",
        "sha-256",
        "https://zz.huxin.cn",
        "2026-11-25T12:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        True,
        False,
        None,
        [],
        {},
        [1, 2],
        [None],
        [[]],
        {"a": 1},
        {"": None},
    )
    return rng.choice(choices)


@dataclass(frozen=True)
class Deep:
    """A deeply nested array or object, kept symbolic so that our own code never recurses."""

    depth: int
    as_list: bool
    leaf: object

    def text(self) -> str:
        """The JSON text."""
        opening, closing = ("[", "]") if self.as_list else ('{"a":', "}")
        return opening * self.depth + json.dumps(self.leaf) + closing * self.depth

    def build(self) -> object:
        """The Python value (built iteratively)."""
        value = self.leaf
        for _ in range(self.depth):
            value = [value] if self.as_list else {"a": value}
        return value


def deep(rng: random.Random) -> Deep:
    """A nested list or object 50 to 3,000 levels deep (often just under the recursion limit,
    where a parser succeeds and a later ``repr`` or re-encoding may not)."""
    depth = rng.choice((50, 500, 3000, rng.randint(900, 1000), rng.randint(900, 1000)))
    return Deep(depth, rng.random() < 0.5, rng.choice((1, "x", None)))


def random_json(rng: random.Random, depth: int = 0) -> object:
    """A random JSON value of bounded size."""
    roll = rng.random()
    if depth > 4 or roll < 0.45:
        return rng.choice(
            (
                lambda: interesting_values(rng),
                lambda: rng.randint(-(2**70), 2**70),
                lambda: rng.uniform(-1e12, 1e12),
                lambda: random_text(rng, 12),
                lambda: rng.choice((True, False, None)),
            )
        )()
    if roll < 0.7:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {random_text(rng, 8): random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def random_text(rng: random.Random, max_len: int = 200) -> str:
    """Random text mixing ASCII, structural characters, CJK, astral and surrogate code points."""
    n = rng.randint(0, max_len)
    pools = (
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
        STRUCTURAL,
        "互信郑州杭州é\u200b\ufeff",
    )
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.9:
            out.append(rng.choice(pools[rng.randrange(3)]))
        elif r < 0.95:
            out.append(chr(rng.randint(0x80, 0x10FFFF)))
        else:
            out.append(chr(rng.randint(0xD800, 0xDFFF)))
    return "".join(out)


def random_bytes(rng: random.Random, max_len: int = MAX_ARBITRARY) -> bytes:
    """Random bytes: uniform, or ASCII-heavy with structural characters."""
    n = rng.randint(0, max_len)
    if rng.random() < 0.5:
        return rng.randbytes(n)
    alphabet = (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" + STRUCTURAL.encode()
    )
    return bytes(rng.choice(alphabet) for _ in range(n))


def dumps(value: object, *, ascii_only: bool = True) -> str:
    """Serialise ``value`` as JSON, writing :class:`Raw` fragments verbatim.

    Non-finite floats are written as ``NaN``/``Infinity`` (as ``json.dumps`` does).
    """
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        return value.text()
    if isinstance(value, dict):
        items = (
            json.dumps(str(k), ensure_ascii=ascii_only) + ":" + dumps(v, ascii_only=ascii_only)
            for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v, ascii_only=ascii_only) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=ascii_only)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**4000:
        return str(value)  # json.dumps would refuse beyond sys.get_int_max_str_digits
    return json.dumps(value)


def encode_json(value: object, rng: random.Random) -> bytes:
    """JSON bytes of ``value``: ASCII-escaped, or raw UTF-8 (lone surrogates kept as WTF-8)."""
    try:
        if rng.random() < 0.5:
            return dumps(value).encode("ascii")
        return dumps(value, ascii_only=False).encode("utf-8", "surrogatepass")
    except RecursionError:  # a value nested by an earlier mutation: keep it hostile
        return Deep(3000, True, 1).text().encode("ascii")


def materialize(value: object, _depth: int = 0) -> object:
    """Turn :class:`Raw` and :class:`Deep` into the Python values a lenient ``json.loads``
    gives (nodes deeper than 200 levels are returned as they are)."""
    if _depth > 200:
        return value
    if isinstance(value, Deep):
        return value.build()
    if isinstance(value, Raw):
        try:
            return json.loads(value.text)
        except (ValueError, RecursionError):
            return value.text
    if isinstance(value, dict):
        return {k: materialize(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v, _depth + 1) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# JSON mutations


def _paths(value: object, limit: int = 400) -> list[tuple[object, ...]]:
    """Paths to nodes of a JSON tree (breadth first, bounded)."""
    out: list[tuple[object, ...]] = [()]
    queue: list[tuple[tuple[object, ...], object]] = [((), value)]
    while queue and len(out) < limit:
        path, node = queue.pop(0)
        children: Sequence[tuple[object, object]] = ()
        if isinstance(node, dict):
            children = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        for key, child in children:
            out.append((*path, key))
            queue.append(((*path, key), child))
    return out


def _get(value: object, path: tuple[object, ...]) -> object:
    for key in path:
        if isinstance(value, dict):  # noqa: SIM114 - two branches so mypy can narrow
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int):
            value = value[key]
    return value


def _copy(value: object, depth: int = 0) -> object:
    # Deeper than 200 levels (only ever generated nesting) is shared, not copied.
    if depth > 200:
        return value
    if isinstance(value, dict):
        return {k: _copy(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v, depth + 1) for v in value]
    return value


def _replace(root: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    parent = _get(root, path[:-1])
    key = path[-1]
    if isinstance(parent, dict):  # noqa: SIM114 - two branches so mypy can narrow
        parent[key] = new
    elif isinstance(parent, list) and isinstance(key, int):
        parent[key] = new
    return root


def mutate_json(rng: random.Random, value: object, *, raw: bool = True) -> object:
    """One structured mutation of a JSON value at a random path (the input is not changed).

    With ``raw`` the result may contain :class:`Raw` fragments (serialise with :func:`dumps`).
    """
    root = _copy(value)
    paths = _paths(root)
    path = rng.choice(paths)
    node = _get(root, path)
    op = rng.randrange(12)
    if isinstance(node, int | float) and not isinstance(node, bool) and rng.random() < 0.5:
        op = 3  # numbers carry times, indices, sizes and levels: mutate them type-aware
    if op == 3 and isinstance(node, float):
        node = int(node) if node == node and abs(node) < 1e300 else 0
    if op == 0 and isinstance(node, dict) and node:  # drop a member
        del node[rng.choice(list(node))]
        return root
    if op == 1 and isinstance(node, dict):  # add an unknown member
        node[rng.choice(("x", "extra", "_sd", "...", "nbf", "crit", "jwk", "d", ""))] = (
            interesting_values(rng)
        )
        return root
    if op == 2 and isinstance(node, list) and node:  # drop, duplicate or reorder elements
        i = rng.randrange(len(node))
        choice = rng.randrange(3)
        if choice == 0:
            del node[i]
        elif choice == 1:
            node.insert(i, _copy(node[i]))
        else:
            rng.shuffle(node)
        return root
    if op == 3 and isinstance(node, int) and not isinstance(node, bool):  # number games
        small = abs(node) < 10**300  # float() of a larger int overflows
        variants: list[object] = [node + 1, node - 1, -node, node * 2**32, str(node)]
        variants += [10**4200, -(10**20), *(rng.choice(NUMBERS) for _ in range(3))]
        if small:
            variants += [float(node), node + 0.5]
        return _replace(root, path, rng.choice(variants))
    if op == 4 and isinstance(node, str):  # string games
        return _replace(
            root,
            path,
            rng.choice(
                (
                    node + "\ud800",
                    node.upper(),
                    node[: len(node) // 2],
                    node + node,
                    "",
                    " " + node,
                    node + "\x00",
                    node.replace("a", "\u0430"),  # Cyrillic a
                    mutate_text(rng, node),
                )
            ),
        )
    if op == 5 and raw:
        return _replace(root, path, raw_fragments(rng))
    if op == 6:
        return _replace(root, path, deep(rng))
    if op == 7 and path:  # swap with a sibling value from elsewhere in the tree
        other = _get(root, rng.choice(paths))
        return _replace(root, path, _copy(other))
    if op == 8:
        return _replace(root, path, random_json(rng))
    return _replace(root, path, interesting_values(rng))


# --------------------------------------------------------------------------------------------
# Bytes and text mutations


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """One byte-level mutation."""
    buf = bytearray(data)
    n = len(buf)
    op = rng.randrange(10)
    if n == 0 or op == 0:  # insert
        pos = rng.randint(0, n)
        piece = rng.choice(_INTERESTING_BYTES) if rng.random() < 0.7 else rng.randbytes(3)
        return bytes(buf[:pos] + piece + buf[pos:])
    pos = rng.randrange(n)
    if op == 1:  # flip one bit
        buf[pos] ^= 1 << rng.randrange(8)
    elif op == 2:  # replace one byte
        buf[pos] = rng.randrange(256)
    elif op == 3:  # truncate
        return bytes(buf[:pos])
    elif op == 4:  # drop a prefix
        return bytes(buf[pos:])
    elif op == 5:  # delete a range
        end = min(n, pos + rng.randint(1, 64))
        del buf[pos:end]
    elif op == 6:  # duplicate a range
        end = min(n, pos + rng.randint(1, 64))
        buf[pos:pos] = buf[pos:end]
    elif op == 7:  # swap two ranges
        other = rng.randrange(n)
        size = rng.randint(1, 16)
        a, b = bytes(buf[pos : pos + size]), bytes(buf[other : other + size])
        if len(a) == len(b):
            buf[pos : pos + size], buf[other : other + size] = b, a
    elif op == 8:  # change the case of an ASCII letter (base64url is case sensitive)
        c = buf[pos]
        if 65 <= c <= 90 or 97 <= c <= 122:
            buf[pos] = c ^ 0x20
        else:
            buf[pos] = rng.choice(b"AQgw-_09")
    else:  # whole-input games
        choice = rng.randrange(3)
        if choice == 0:
            return data + data
        if choice == 1:
            return data + b"\n"
        return b" " + data
    return bytes(buf)


def mutate_text(rng: random.Random, text: str) -> str:
    """One character-level mutation (byte mutations of the UTF-8 form, decoded leniently)."""
    if rng.random() < 0.8 and text.isascii():
        return mutate_bytes(rng, text.encode("ascii")).decode("latin-1")
    if rng.random() < 0.5:
        pos = rng.randint(0, len(text))
        return text[:pos] + rng.choice(("\ud800", "é", "互", "\x00", "~", ".")) + text[pos:]
    return mutate_bytes(rng, text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")


def mutate_segments(rng: random.Random, text: str, sep: str, pool: Sequence[str] = ()) -> str:
    """Drop, duplicate, swap, empty or replace a ``sep``-separated segment (``~`` or ``.``)."""
    parts = text.split(sep)
    n = len(parts)
    i = rng.randrange(n)
    op = rng.randrange(6)
    if op == 0 and n > 1:
        del parts[i]
    elif op == 1:
        parts.insert(i, parts[i])
    elif op == 2:
        j = rng.randrange(n)
        parts[i], parts[j] = parts[j], parts[i]
    elif op == 3:
        parts[i] = ""
    elif op == 4 and pool:
        parts[i] = rng.choice(pool)
    elif pool:
        parts.insert(i, rng.choice(pool))
    else:
        parts.append("")
    return sep.join(parts)


# --------------------------------------------------------------------------------------------
# Compact JWS


def b64u_json(value: object, rng: random.Random) -> str:
    """base64url of :func:`encode_json` of ``value``."""
    return b64u_encode(encode_json(value, rng))


def decode_segment(segment: str) -> object:
    """Leniently decode a base64url JSON segment (for building mutations, not for checking)."""
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):
        return None


HEADER_TWEAKS: Final[tuple[tuple[str, object], ...]] = (
    ("alg", "none"),
    ("alg", "HS256"),
    ("alg", "ES256"),
    ("alg", "EdDSA"),
    ("alg", "ES384"),
    ("alg", "es256"),
    ("alg", ""),
    ("alg", None),
    ("alg", ["ES256"]),
    ("typ", "JWT"),
    ("typ", "dc+sd-jwt"),
    ("typ", "kb+jwt"),
    ("typ", "statuslist+jwt"),
    ("typ", "application/statuslist+jwt"),
    ("typ", "DC+SD-JWT"),
    ("typ", None),
    ("kid", ""),
    ("kid", "x"),
    ("kid", 1),
    ("kid", None),
    ("jwk", {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
    ("jku", "https://evil.example/jwks"),
    ("x5c", ["MIIB"]),
    ("x5u", "https://evil.example/cert"),
    ("crit", ["exp"]),
    ("b64", False),
    ("zip", "DEF"),
)


def mutate_jws(
    rng: random.Random,
    token: str,
    *,
    resign: Signer | None = None,
    payload_fn: Callable[[dict[str, object]], None] | None = None,
) -> str:
    """Mutate a compact JWS at the JSON level.

    Without ``resign`` the header or payload is changed and re-encoded but the original signature
    kept (so a verifier must refuse it), or the signature itself is tampered with. With
    ``resign`` the payload is changed and signed again by ``resign`` (a legitimate signer doing
    something odd: the verifier may accept, but must not crash). ``payload_fn`` is applied to
    the payload object after the mutation (e.g. to fix up a hash).
    """
    parts = token.split(".")
    if len(parts) != 3:
        return mutate_text(rng, token)
    h, p, s = parts
    header = decode_segment(h)
    payload = decode_segment(p)
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return mutate_text(rng, token)
    op = rng.randrange(5) if resign is None else 1
    if op == 0:  # header
        name, value = rng.choice(HEADER_TWEAKS)
        new_header: object = dict(header)
        if isinstance(new_header, dict):
            if value is None and rng.random() < 0.5:
                new_header.pop(name, None)
            else:
                new_header[name] = value
        if rng.random() < 0.3:
            new_header = mutate_json(rng, header)
        return f"{b64u_json(new_header, rng)}.{p}.{s}"
    if op in (1, 2):  # payload
        new_payload = mutate_json(rng, payload)
        if payload_fn is not None and isinstance(new_payload, dict):
            payload_fn(new_payload)
        p2 = b64u_json(new_payload, rng)
        if resign is None:
            return f"{h}.{p2}.{s}"
        signing_input = f"{h}.{p2}"
        signature = resign.sign(signing_input.encode("utf-8", "surrogatepass"))
        return f"{signing_input}.{b64u_encode(signature)}"
    if op == 3:  # signature tampering
        choice = rng.randrange(5)
        if choice == 0:
            return f"{h}.{p}."
        if choice == 1:
            return f"{h}.{p}.{s[:-2]}"
        if choice == 2:
            return f"{h}.{p}.{s}AA"
        if choice == 3:
            return f"{h}.{p}.{b64u_encode(bytes(64))}"
        return f"{h}.{p}.{mutate_text(rng, s)}"
    # same claims, other serialisation (whitespace, escaping): the signed bytes change
    return f"{h}.{b64u_encode(json.dumps(payload, indent=1).encode())}.{s}"


_PEM_RE: Final = re.compile(
    r"-----BEGIN ([A-Z ]+)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----", re.S
)


def mutate_pem(rng: random.Random, pem: str) -> str:
    """Mutate the DER inside a PEM block (or the PEM text itself)."""
    match = _PEM_RE.search(pem)
    if match is None or rng.random() < 0.25:
        return mutate_text(rng, pem)
    try:
        der = base64.b64decode("".join(match.group(2).split()))
    except ValueError:
        return mutate_text(rng, pem)
    mutated = mutate_bytes(rng, der)
    if rng.random() < 0.3:
        mutated = mutate_bytes(rng, mutated)
    body = base64.b64encode(mutated).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    kind = match.group(1)
    return (
        pem[: match.start()]
        + f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----"
        + pem[match.end() :]
    )
