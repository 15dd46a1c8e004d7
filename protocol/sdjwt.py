"""SD-JWT mechanics (RFC 9901): disclosures, salts, digests, decoys, the ``~`` compact format.

What it does: builds and parses Disclosures (``[salt, name, value]``, base64url of UTF-8 JSON),
computes their digests and decoy digests with ``sha-256`` (the only ``_sd_alg`` huxin uses),
splits and joins the compact serialisation ``<issuer-jwt>~<disclosure>~...~[<kb-jwt>]``,
computes ``sd_hash`` (RFC 9901 section 4.3.1), signs and decodes compact JWS, and runs the
Disclosure processing of RFC 9901 section 7.1 step 3 over a decoded payload: every Disclosure
referenced exactly once, no digest twice, no Disclosure overriding a signed claim or using a
reserved name.

What it deliberately does not do: decide which claims are required, which algorithms or keys
are acceptable, or anything about time -- that is :mod:`protocol.verifier`. It never reads the
clock or the random source implicitly: salts come from an injectable :data:`SaltSource`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

from protocol.errors import BadDisclosureError, MalformedError, TooLargeError
from protocol.jose import (
    Signer,
    b64u_decode,
    b64u_encode,
    json_bytes,
    parse_json,
    parse_json_object,
)

#: The ``_sd_alg`` value huxin issues and accepts (RFC 9901 section 4.1.1).
SD_ALG: Final = "sha-256"
SEPARATOR: Final = "~"
SD_KEY: Final = "_sd"
SD_ALG_KEY: Final = "_sd_alg"
ARRAY_KEY: Final = "..."
#: Claim names a Disclosure may never carry (RFC 9901 section 4.2.1).
RESERVED_NAMES: Final = frozenset({SD_KEY, ARRAY_KEY})
#: Deepest nesting of objects and arrays Disclosure processing walks (huxin uses 3).
MAX_DEPTH: Final = 64
#: Salt length in bytes: 128 bits, as RFC 9901 section 9.3 recommends.
SALT_BYTES: Final = 16

#: JSON values a claim may hold.
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
#: Returns fresh salt bytes (128 bits). Production uses :func:`secrets.token_bytes`; test
#: vectors inject a deterministic source.
SaltSource = Callable[[], bytes]


def random_salt() -> bytes:
    """128 bits from the operating system's CSPRNG."""
    return secrets.token_bytes(SALT_BYTES)


def digest(text: str) -> str:
    """``sha-256`` digest of the ASCII text, base64url: how Disclosures are referenced."""
    return b64u_encode(hashlib.sha256(text.encode("ascii")).digest())


@dataclass(frozen=True)
class Disclosure:
    """One object-property Disclosure.

    Attributes:
        encoded: the base64url text exactly as it travels (digests are over this text).
        salt: the salt as it appears in the array (base64url of 128 random bits).
        name: the claim name.
        value: the claim value.
        digest: base64url ``sha-256`` of ``encoded``.
    """

    encoded: str
    salt: str
    name: str
    value: JsonValue
    digest: str


def make_disclosure(name: str, value: JsonValue, salt: bytes) -> Disclosure:
    """Create the Disclosure ``[salt, name, value]`` with compact JSON.

    Raises:
        ValueError: ``name`` is reserved or ``salt`` is shorter than 128 bits.
    """
    if name in RESERVED_NAMES:
        raise ValueError(f"claim name {name!r} is reserved")
    if len(salt) < SALT_BYTES:
        raise ValueError("salt must carry at least 128 bits")
    salt_text = b64u_encode(salt)
    encoded = b64u_encode(json_bytes([salt_text, name, value]))
    return Disclosure(encoded, salt_text, name, value, digest(encoded))


def decoy_digest(salt: bytes) -> str:
    """A decoy digest: the digest of random bytes, indistinguishable from a real one."""
    if len(salt) < SALT_BYTES:
        raise ValueError("decoy input must carry at least 128 bits")
    return digest(b64u_encode(salt))


def parse_disclosure(encoded: str) -> Disclosure:
    """Decode an object-property Disclosure.

    Array-element Disclosures (two elements) are recognised by :func:`process_disclosures` but
    huxin issues none; this function accepts only the three-element form.

    Raises:
        BadDisclosureError: not base64url JSON, not ``[salt, name, value]`` with string salt and
            name, or a reserved name.
    """
    try:
        value = parse_json(b64u_decode(encoded, what="disclosure"), what="disclosure")
    except MalformedError as err:
        raise BadDisclosureError(err.message) from err
    if not isinstance(value, list) or len(value) != 3:
        raise BadDisclosureError("disclosure is not a [salt, name, value] array")
    salt, name, claim = value
    if not isinstance(salt, str) or not isinstance(name, str):
        raise BadDisclosureError("disclosure salt and name must be strings")
    if name in RESERVED_NAMES:
        raise BadDisclosureError(f"disclosure uses the reserved name {name!r}")
    return Disclosure(encoded, salt, name, _as_json(claim), digest(encoded))


def _as_json(value: object) -> JsonValue:
    # parse_json only produces JSON values; this narrows the type for mypy without copying.
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    raise BadDisclosureError("disclosure value is not JSON")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Compact serialisation


@dataclass(frozen=True)
class CompactSdJwt:
    """An SD-JWT split at ``~`` (RFC 9901 section 4).

    Attributes:
        issuer_jwt: the issuer-signed JWT.
        disclosures: the Disclosure strings in order of appearance.
        kb_jwt: the Key Binding JWT, or ``None`` when the last segment is empty.
    """

    issuer_jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None

    @property
    def presented_sd_jwt(self) -> str:
        """``<issuer-jwt>~<d1>~...~``: the text ``sd_hash`` covers."""
        return join_sd_jwt(self.issuer_jwt, self.disclosures)


def join_sd_jwt(issuer_jwt: str, disclosures: Sequence[str]) -> str:
    """Join an issuer JWT and Disclosures into an SD-JWT without key binding (ends in ``~``)."""
    return SEPARATOR.join((issuer_jwt, *disclosures, ""))


def split_compact(text: str, *, max_disclosures: int = 64) -> CompactSdJwt:
    """Split an SD-JWT or SD-JWT+KB.

    Raises:
        MalformedError: no ``~``, an empty issuer JWT or an empty Disclosure segment.
        TooLargeError: more than ``max_disclosures`` Disclosures.
    """
    segments = split_segments(text, max_disclosures)
    return CompactSdJwt(segments[0], tuple(segments[1:-1]), segments[-1] or None)


def split_segments(text: str, max_disclosures: int) -> list[str]:
    """:func:`split_compact` without the dataclass: ``[issuer_jwt, *disclosures, last]``.

    ``last`` is the KB-JWT, or ``""`` when there is none.

    Raises:
        MalformedError: no ``~``, an empty issuer JWT or an empty Disclosure segment.
        TooLargeError: more than ``max_disclosures`` Disclosures.
    """
    issuer_jwt, disclosures, last = split_presentation(text, max_disclosures)
    return [issuer_jwt, *disclosures, last]


def split_presentation(text: str, max_disclosures: int) -> tuple[str, list[str], str]:
    """``(issuer_jwt, disclosures, last)`` of an SD-JWT or SD-JWT+KB, checked as
    :func:`split_segments` checks them.

    The first and the last ``~`` are found by ``memchr``-speed searches; only the short part
    between them (the Disclosures) is split.

    Raises:
        MalformedError: no ``~``, an empty issuer JWT or an empty Disclosure segment.
        TooLargeError: more than ``max_disclosures`` Disclosures.
    """
    first = text.find(SEPARATOR)
    if first < 0:
        raise MalformedError("not an SD-JWT: no '~' separator")
    last = text.rfind(SEPARATOR)
    disclosures = text[first + 1 : last].split(SEPARATOR) if last > first else []
    if len(disclosures) > max_disclosures:
        raise TooLargeError(f"more than {max_disclosures} disclosures")
    if not first or "" in disclosures:
        raise MalformedError("empty segment in SD-JWT")
    return text[:first], disclosures, text[last + 1 :]


def sd_hash(presented_sd_jwt: str) -> str:
    """The KB-JWT ``sd_hash``: base64url ``sha-256`` of ``<issuer-jwt>~<d1>~...~``."""
    return digest(presented_sd_jwt)


# --------------------------------------------------------------------------------------------
# Compact JWS


@dataclass(frozen=True)
class DecodedJws:
    """A compact JWS decoded but not verified.

    Attributes:
        header: the protected header.
        payload: the payload object.
        signing_input: ``<header-b64>.<payload-b64>`` as ASCII bytes.
        signature: the raw signature bytes.
    """

    header: dict[str, object]
    payload: dict[str, object]
    signing_input: bytes
    signature: bytes


def split_jws(token: str, *, what: str) -> tuple[str, str, str]:
    """Split a compact JWS into its three base64url segments.

    Raises:
        MalformedError: not exactly three segments.
    """
    # The first and the last '.', and none in between (memchr-speed searches, no list).
    first, last = token.find("."), token.rfind(".")
    if first == last or token.find(".", first + 1, last) >= 0:
        raise MalformedError(f"{what} is not a compact JWS")
    return token[:first], token[first + 1 : last], token[last + 1 :]


def decode_header(segment: str, *, what: str) -> dict[str, object]:
    """Decode a protected header segment.

    Raises:
        MalformedError: not base64url JSON object.
    """
    return parse_json_object(b64u_decode(segment, what=f"{what} header"), what=f"{what} header")


def decode_jws(token: str, *, what: str) -> DecodedJws:
    """Decode (without verifying) a compact JWS with a JSON object payload.

    Raises:
        MalformedError: any segment is not strict base64url, or header/payload not JSON objects.
    """
    h, p, s = split_jws(token, what=what)
    return DecodedJws(
        header=decode_header(h, what=what),
        payload=parse_json_object(b64u_decode(p, what=f"{what} payload"), what=f"{what} payload"),
        signing_input=f"{h}.{p}".encode("ascii"),
        signature=b64u_decode(s, what=f"{what} signature"),
    )


def sign_jws(signer: Signer, header: Mapping[str, object], payload: Mapping[str, object]) -> str:
    """Sign ``payload`` as a compact JWS with ``header`` (which must name ``signer.alg``)."""
    signing_input = f"{b64u_encode(json_bytes(header))}.{b64u_encode(json_bytes(payload))}"
    return f"{signing_input}.{b64u_encode(signer.sign(signing_input.encode('ascii')))}"


# --------------------------------------------------------------------------------------------
# Disclosure processing (RFC 9901 section 7.1 step 3)


@dataclass(frozen=True)
class ProcessedPayload:
    """The result of Disclosure processing.

    Attributes:
        claims: the payload with every referenced Disclosure substituted and ``_sd``,
            ``_sd_alg`` and unmatched ``...`` entries removed.
        disclosed: the top-level claims that came from Disclosures, name -> processed value.
    """

    claims: dict[str, JsonValue]
    disclosed: dict[str, JsonValue]


def _plain(node: object, depth: int = 0) -> bool:
    """True if ``node`` holds no ``_sd`` member and no ``{"...": digest}`` array element.

    Anything nested deeper than :data:`MAX_DEPTH` counts as not plain, so that the processor
    (which refuses it) sees it.
    """
    if depth > MAX_DEPTH:
        return False
    kind = type(node)
    if kind is dict:
        mapping = cast("dict[str, object]", node)
        if SD_KEY in mapping:
            return False
        for value in mapping.values():
            sub = type(value)
            if (sub is dict or sub is list) and not _plain(value, depth + 1):
                return False
        return True
    if kind is list:
        for value in cast("list[object]", node):
            sub = type(value)
            if sub is dict and ARRAY_KEY in cast("dict[str, object]", value):
                return False
            if (sub is dict or sub is list) and not _plain(value, depth + 1):
                return False
    return True


class _Processor:
    def __init__(self, disclosures: Sequence[str]) -> None:
        self.by_digest: dict[str, tuple[str, list[object]]] = {}
        for encoded in disclosures:
            try:
                value = parse_json(b64u_decode(encoded, what="disclosure"), what="disclosure")
            except MalformedError as err:
                raise BadDisclosureError(err.message) from err
            if (
                not isinstance(value, list)
                or len(value) not in (2, 3)
                or not isinstance(value[0], str)
            ):
                raise BadDisclosureError("disclosure is not a [salt, (name,) value] array")
            d = digest(encoded)
            if d in self.by_digest:
                raise BadDisclosureError("the same disclosure is presented twice")
            self.by_digest[d] = (encoded, value)
        self.seen: set[str] = set()
        self.used: set[str] = set()
        self.top: list[str] = []
        self.depth = 0

    def _note(self, d: object) -> str:
        if not isinstance(d, str):
            raise BadDisclosureError("a digest is not a string")
        if d in self.seen:
            raise BadDisclosureError("a digest appears more than once")
        self.seen.add(d)
        return d

    def value(self, node: object) -> JsonValue:
        kind = type(node)
        if kind is not dict and kind is not list:
            return cast("JsonValue", node)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise MalformedError(f"claims nested deeper than {MAX_DEPTH} levels")
        try:
            if kind is dict:
                return self.obj(cast("dict[str, object]", node))
            return self.array(cast("list[object]", node))
        finally:
            self.depth -= 1

    def obj(self, node: Mapping[str, object], *, top: bool = False) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {}
        for name, val in node.items():
            if name in (SD_KEY, SD_ALG_KEY):
                continue
            kind = type(val)
            if (kind is dict or kind is list) and not _plain(val):
                out[name] = self.value(val)
            else:  # a scalar, or a container without any digest: shared, not copied
                out[name] = cast("JsonValue", val)
        digests = node.get(SD_KEY)
        if digests is None:
            return out
        if type(digests) is not list:
            raise BadDisclosureError("_sd is not an array")
        for raw in digests:
            if type(raw) is not str:
                raise BadDisclosureError("a digest is not a string")
        unique = set(digests)
        if len(unique) != len(digests) or not self.seen.isdisjoint(unique):
            raise BadDisclosureError("a digest appears more than once")
        self.seen |= unique
        by_digest = self.by_digest
        for d in [d for d in digests if d in by_digest]:
            value = by_digest[d][1]
            if len(value) != 3:
                raise BadDisclosureError("array-element disclosure referenced from _sd")
            claim = value[1]
            if not isinstance(claim, str):
                raise BadDisclosureError("disclosure claim name is not a string")
            if claim in RESERVED_NAMES:
                raise BadDisclosureError(f"disclosure uses the reserved name {claim!r}")
            if claim in out:
                raise BadDisclosureError(f"disclosure would override claim {claim!r}")
            self.used.add(d)
            out[claim] = self.value(value[2])
            if top:
                self.top.append(claim)
        return out

    def array(self, node: Sequence[object]) -> list[JsonValue]:
        out: list[JsonValue] = []
        for item in node:
            if isinstance(item, dict) and ARRAY_KEY in item:
                if len(item) != 1:
                    raise BadDisclosureError("'...' element with other members")
                d = self._note(item[ARRAY_KEY])
                found = self.by_digest.get(d)
                if found is None:
                    continue
                if len(found[1]) != 2:
                    raise BadDisclosureError("object-property disclosure referenced from array")
                self.used.add(d)
                out.append(self.value(found[1][1]))
            else:
                out.append(self.value(item))
        return out


def _is_scalar_or_flat(value: object) -> bool:
    # A scalar, or an array of scalars: what huxin's Disclosures carry (level, booleans, band).
    kind = type(value)
    if kind is list:
        for item in cast("list[object]", value):
            kind = type(item)
            if kind is dict or kind is list:
                return False
        return True
    return kind is not dict


def disclosed_claims(
    payload: Mapping[str, object], disclosures: Sequence[str]
) -> dict[str, JsonValue]:
    """``process_disclosures(payload, disclosures).disclosed``, faster for the usual shape.

    The verifier needs only the top-level disclosed claims. When no claim of the payload holds a
    digest below the top level and every Disclosure value is a scalar or an array of scalars (all
    huxin attestations), this walks ``_sd`` once without rebuilding the payload; otherwise it
    runs :func:`process_disclosures`. Both paths apply the same checks in the same order, so the
    result and any error are identical.

    Raises:
        BadDisclosureError: as :func:`process_disclosures`.
        MalformedError: as :func:`process_disclosures`.
    """
    by_digest: dict[str, list[object]] = {}
    sha256 = hashlib.sha256
    for encoded in disclosures:
        try:
            value = parse_json(b64u_decode(encoded, what="disclosure"), what="disclosure")
        except MalformedError as err:
            raise BadDisclosureError(err.message) from err
        if type(value) is not list or len(value) not in (2, 3) or type(value[0]) is not str:
            raise BadDisclosureError("disclosure is not a [salt, (name,) value] array")
        d = b64u_encode(sha256(encoded.encode("ascii")).digest())
        if d in by_digest:
            raise BadDisclosureError("the same disclosure is presented twice")
        by_digest[d] = value
    for name, val in payload.items():
        kind = type(val)
        if (
            (kind is dict or kind is list)
            and name != SD_KEY
            and name != SD_ALG_KEY
            and not _plain(val)
        ):
            return process_disclosures(payload, disclosures).disclosed
    for value in by_digest.values():
        if len(value) != 3 or not _is_scalar_or_flat(value[2]):
            return process_disclosures(payload, disclosures).disclosed
    # From here on this is _Processor.obj(payload, top=True) with nothing seen below the top.
    digests = payload.get(SD_KEY)
    found: dict[str, JsonValue] = {}
    if digests is not None:
        if type(digests) is not list:
            raise BadDisclosureError("_sd is not an array")
        for raw in cast("list[object]", digests):
            if type(raw) is not str:
                raise BadDisclosureError("a digest is not a string")
        if len(set(digests)) != len(digests):
            raise BadDisclosureError("a digest appears more than once")
        for d in digests:
            value = by_digest.get(d)
            if value is None:
                continue
            claim = value[1]
            if type(claim) is not str:
                raise BadDisclosureError("disclosure claim name is not a string")
            if claim in RESERVED_NAMES:
                raise BadDisclosureError(f"disclosure uses the reserved name {claim!r}")
            if claim in found or (claim in payload and claim != SD_KEY and claim != SD_ALG_KEY):
                raise BadDisclosureError(f"disclosure would override claim {claim!r}")
            claim_value = value[2]
            # A flat array is copied, as _Processor.value() does; a scalar is shared.
            found[claim] = cast(
                "JsonValue",
                list(cast("list[object]", claim_value))
                if type(claim_value) is list
                else claim_value,
            )
    unused = len(by_digest) - len(found)
    if unused:
        raise BadDisclosureError(f"{unused} disclosure(s) not referenced by the issuer")
    return {name: found[name] for name in sorted(found)}


def process_disclosures(
    payload: Mapping[str, object], disclosures: Sequence[str]
) -> ProcessedPayload:
    """Apply RFC 9901 section 7.1 step 3 to a verified issuer payload.

    Raises:
        BadDisclosureError: a Disclosure is malformed, presented twice, unreferenced, uses a
            reserved name, overrides an existing claim, is referenced from the wrong container,
            or any digest appears more than once in the payload.
        MalformedError: claims nested deeper than :data:`MAX_DEPTH`.
    """
    proc = _Processor(disclosures)
    claims = proc.obj(payload, top=True)
    if len(proc.used) != len(proc.by_digest):
        unused = len(proc.by_digest) - len(proc.used)
        raise BadDisclosureError(f"{unused} disclosure(s) not referenced by the issuer")
    return ProcessedPayload(claims, {name: claims[name] for name in sorted(proc.top)})
