"""Fuzz targets in ``protocol``: presentations, SD-JWT mechanics, JOSE, status lists.

Presentations are verified with :func:`protocol.verifier.verify_presentation` against one issuer
and one holder (``tests/protocol/sdjwt_support.py``); Status List Tokens with
:func:`protocol.status_list.verify_status_list_token` and through a fresh
:class:`~protocol.status_list.StatusListCache`. See :mod:`tests.fuzz.framework` for the judge.

What it deliberately does not do: fetch anything or read the clock (``now`` is fixed).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Final

from protocol.attestation import CreditClaims, IssuedAttestation
from protocol.errors import ProtocolError
from protocol.jose import (
    KeySigner,
    b64u_decode,
    b64u_encode,
    check_public_jwk,
    check_public_jwks,
    jwk_thumbprint,
    parse_json,
    parse_json_object,
    public_key_from_jwk,
)
from protocol.keys import StaticKeyResolver
from protocol.presentation import DisclosureRequest
from protocol.qrform import (
    COMPACT_PREFIX,
    DICTIONARY,
    b45decode,
    b45encode,
    compact_presentation,
    expand_presentation,
)
from protocol.replay import MemoryReplayCache
from protocol.sdjwt import (
    decode_jws,
    parse_disclosure,
    process_disclosures,
    split_compact,
)
from protocol.status_list import (
    StatusList,
    StatusListCache,
    decode_status_list,
    sign_status_list_token,
    verify_status_list_token,
)
from protocol.verifier import VerifiedPresentation, VerifierPolicy, holder_key, verify_presentation
from tests.fuzz.framework import (
    Case,
    Seed,
    Target,
    jws_content,
    lenient_json,
    loose_json_bytes,
    pick,
)
from tests.fuzz.mutate import (
    b64u_json,
    decode_segment,
    encode_json,
    materialize,
    mutate_bytes,
    mutate_json,
    mutate_jws,
    mutate_segments,
    mutate_text,
    random_bytes,
    random_json,
    random_text,
)
from tests.protocol.sdjwt_support import (
    AUDIENCE,
    BOTH_ALGS,
    ISSUER,
    NONCE,
    NOW,
    STATUS_URI,
    World,
    make_world,
)


@dataclass(frozen=True)
class _PresentationWorld:
    world: World
    attestation: IssuedAttestation
    other: IssuedAttestation
    policy: VerifierPolicy
    disclosures: frozenset[tuple[str, str]] = field(default_factory=frozenset)


@cache
def presentation_world() -> _PresentationWorld:
    """One issuer, one holder, two attestations (level 4 with a band; level 2)."""
    world = make_world()
    att = world.issue(CreditClaims(level=4, band=(120, 149)))
    other = world.issue(CreditClaims(level=2), idx=9)
    every = split_compact(att.sd_jwt).disclosures
    allowed = frozenset(
        (d.name, json.dumps(d.value, sort_keys=True)) for d in map(parse_disclosure, every)
    )
    return _PresentationWorld(
        world, att, other, VerifierPolicy(allowed_algorithms=BOTH_ALGS), allowed
    )


def _summary(v: VerifiedPresentation) -> tuple[object, ...]:
    return (
        v.issuer,
        v.city,
        v.kid,
        v.scale_id,
        v.scale_version,
        v.vct,
        v.issued_at,
        v.expires_at,
        v.status,
        v.level,
        v.level_at_least,
        v.band,
        tuple(sorted((k, json.dumps(val, sort_keys=True)) for k, val in v.disclosed.items())),
    )


class PresentationTarget(Target):
    """``protocol.verifier.verify_presentation`` (SD-JWT+KB, nonce and one-way modes)."""

    name = "presentation"
    description = "verify_presentation: SD-JWT+KB presentations"
    errors = (ProtocolError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        pw = presentation_world()
        w, att = pw.world, pw.attestation
        return (
            ("nonce", w.present(DisclosureRequest(level=True), attestation=att)),
            ("nonce", w.present(DisclosureRequest(level=True, band=True), attestation=att)),
            ("nonce", w.present(DisclosureRequest(level_at_least=3), attestation=att)),
            ("one-way", w.present(DisclosureRequest(level=True), nonce=None, attestation=att)),
            ("nonce", w.present(DisclosureRequest(band=True), attestation=att).encode("ascii")),
        )

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, str | bytes)
        pw = presentation_world()
        one_way = seed.label == "one-way"
        verified = verify_presentation(
            data,
            keys=pw.world.keys,
            audience=AUDIENCE,
            nonce=None if one_way else NONCE,
            status=pw.world.status,
            now=NOW,
            policy=pw.policy,
            replay=MemoryReplayCache(16) if one_way else None,
        )
        return _summary(verified)

    def signed_content(self, seed: Seed, data: object) -> object:
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        if not isinstance(text, str):
            return None
        segments = text.split("~")
        return (
            jws_content(segments[0]),
            tuple(segments[1:-1]),
            jws_content(segments[-1]),
        )

    def judge(self, case: Case, summary: object) -> str | None:
        if case.mutation.startswith("holder-disclosures") and isinstance(summary, tuple):
            # The holder chose other Disclosures and signed a matching KB-JWT: legitimate, but
            # every disclosed claim must be one the issuer signed, and the rest unchanged.
            expected = case.seed.expected
            assert isinstance(expected, tuple)
            disclosed = summary[-1]
            assert isinstance(disclosed, tuple)
            if summary[:9] != expected[:9]:
                return "holder-chosen disclosures changed the issuer's claims"
            if not set(disclosed) <= presentation_world().disclosures:
                return "a disclosed claim the issuer never signed"
            return None
        return super().judge(case, summary)

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        pw = presentation_world()
        data = seed.data
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        assert isinstance(text, str)
        pool = (
            *split_compact(pw.other.sd_jwt).disclosures,
            *split_compact(pw.attestation.sd_jwt).disclosures,
        )
        segments = text.split("~")
        holder = pw.world.holder

        def with_kb(issuer_jwt: str, disclosures: Sequence[str], kb: str) -> str:
            """Re-sign ``kb`` by the holder over the given SD-JWT (a correct sd_hash)."""
            presented = "~".join((issuer_jwt, *disclosures, ""))
            return presented + _resign_sd_hash(kb, presented, holder)

        def holder_disclosures() -> Case:
            chosen = list(segments[1:-1])
            op = rng.randrange(4)
            if op == 0 and chosen:
                del chosen[rng.randrange(len(chosen))]
            elif op == 1 and chosen:
                chosen.append(rng.choice(chosen))
            elif op == 2:
                chosen.append(rng.choice(pool))
            else:
                rng.shuffle(chosen)
            presented = "~".join((segments[0], *chosen, ""))
            kb = _resign_sd_hash(segments[-1], presented, holder)
            return Case(seed, presented + kb, "holder-disclosures", "holder")

        def issuer_resign() -> Case:
            issuer_jwt = mutate_jws(rng, segments[0], resign=pw.world.issuer)
            return Case(
                seed, with_kb(issuer_jwt, segments[1:-1], segments[-1]), "issuer-resign", "issuer"
            )

        def holder_kb() -> Case:
            kb = mutate_jws(rng, segments[-1], resign=holder)
            return Case(seed, "~".join((*segments[:-1], kb)), "holder-kb", "holder")

        def unsigned_kb() -> Case:
            kb = mutate_jws(rng, segments[-1])
            return Case(seed, "~".join((*segments[:-1], kb)), "kb-jws")

        def unsigned_issuer() -> Case:
            jwt = mutate_jws(rng, segments[0])
            return Case(seed, "~".join((jwt, *segments[1:])), "issuer-jws")

        ops: list[tuple[str, Callable[[], Case]]] = [
            ("text", lambda: Case(seed, mutate_text(rng, text), "text")),
            ("segments", lambda: Case(seed, mutate_segments(rng, text, "~", pool), "segments")),
            ("issuer-jws", unsigned_issuer),
            ("kb-jws", unsigned_kb),
            ("holder-kb", holder_kb),
            ("holder-disclosures", holder_disclosures),
            ("issuer-resign", issuer_resign),
            (
                "bytes",
                lambda: Case(
                    seed, mutate_bytes(rng, text.encode("utf-8", "surrogatepass")), "bytes"
                ),
            ),
            ("noop-bytes", lambda: Case(seed, text.encode("utf-8", "surrogatepass"), "to-bytes")),
        ]
        return pick(rng, ops)


class CompactPresentationTarget(PresentationTarget):
    """``verify_presentation`` on the compact QR form (``HX1:``: Base45, DEFLATE, side buffer).

    Mutations hit each layer: the Base45 text, the decoded body, the inflated skeleton
    (re-deflated, so the expansion's marker and side-buffer rules are reached), and the
    presentation underneath (every mutation of the ``presentation`` target, packed again).
    """

    name = "qrform"
    description = "verify_presentation: the compact QR form (HX1:)"

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        packed = []
        for label, data in super().raw_seeds():
            text = data.decode("ascii") if isinstance(data, bytes) else data
            assert isinstance(text, str)
            packed.append((label, compact_presentation(text)))
        return packed

    def signed_content(self, seed: Seed, data: object) -> object:
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        if not isinstance(text, str):
            return None
        try:
            full = expand_presentation(text, max_bytes=1 << 20)
        except ProtocolError:
            return None
        return super().signed_content(seed, full)

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        data = seed.data
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        assert isinstance(text, str)
        try:  # a stacked mutation's input may not be a compact form any more
            full = expand_presentation(text, max_bytes=1 << 20)
        except ProtocolError:
            return Case(seed, mutate_text(rng, text), "text")
        body = b45decode(text[len(COMPACT_PREFIX) :])
        size = int.from_bytes(body[:2], "big")
        skeleton = zlib.decompressobj(-15, zdict=DICTIONARY).decompress(body[2 : 2 + size])

        def repack(new_skeleton: bytes) -> str:
            packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
            packed = packer.compress(new_skeleton) + packer.flush()
            head = len(packed).to_bytes(2, "big")
            return COMPACT_PREFIX + b45encode(head + packed + body[2 + size :])

        def underneath() -> Case:
            inner = super(CompactPresentationTarget, self).mutate(rng, Seed(seed.label, full))
            data = inner.data
            with contextlib.suppress(ProtocolError):
                plain = data.decode("latin-1") if isinstance(data, bytes) else data
                assert isinstance(plain, str)
                data = compact_presentation(plain)
            return Case(seed, data, f"{inner.mutation}-packed", inner.trust)

        ops: list[tuple[str, Callable[[], Case]]] = [
            ("text", lambda: Case(seed, mutate_text(rng, text), "text")),
            (
                "body",
                lambda: Case(
                    seed, COMPACT_PREFIX + b45encode(mutate_bytes(rng, body)), "body-bytes"
                ),
            ),
            ("skeleton", lambda: Case(seed, repack(mutate_bytes(rng, skeleton)), "skeleton")),
            ("underneath", underneath),
        ]
        return pick(rng, ops)


def _resign_sd_hash(kb: str, presented: str, holder: KeySigner) -> str:
    parts = kb.split(".")
    header = decode_segment(parts[0])
    payload = decode_segment(parts[1]) if len(parts) > 1 else None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return kb
    payload["sd_hash"] = b64u_encode(
        hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    )
    signing_input = (
        b64u_encode(loose_json_bytes(header)) + "." + b64u_encode(loose_json_bytes(payload))
    )
    return f"{signing_input}.{b64u_encode(holder.sign(signing_input.encode('ascii')))}"


# ============================================================================================
# protocol: SD-JWT mechanics (no signature checks)


class SdJwtTarget(Target):
    """``protocol.sdjwt``: ``split_compact``, ``parse_disclosure``, ``decode_jws`` and
    ``process_disclosures`` on a whole SD-JWT(+KB)."""

    name = "sdjwt"
    description = "sdjwt: split_compact, parse_disclosure, decode_jws, process_disclosures"
    errors = (ProtocolError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        pw = presentation_world()
        return (
            ("sd-jwt", pw.attestation.sd_jwt),
            ("sd-jwt", pw.other.sd_jwt),
            *(("sd-jwt", s.data) for s in PRESENTATION.seeds() if isinstance(s.data, str)),
        )

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, str)
        parts = split_compact(data, max_disclosures=64)
        names = set()
        for d in parts.disclosures:
            with contextlib.suppress(ProtocolError):
                names.add(parse_disclosure(d).name)
        jws = decode_jws(parts.issuer_jwt, what="issuer JWT")
        processed = process_disclosures(jws.payload, parts.disclosures)
        if parts.kb_jwt is not None:
            decode_jws(parts.kb_jwt, what="KB-JWT")
        return (tuple(sorted(processed.disclosed)), frozenset(names), len(parts.disclosures))

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, tuple)
        disclosed, names, count = summary
        if not set(disclosed) <= names:
            return "a disclosed claim comes from no presented Disclosure"
        if len(disclosed) > count:
            return "more disclosed claims than Disclosures"
        return None

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        case = PRESENTATION.mutate(rng, seed)
        if isinstance(case.data, bytes):
            return Case(seed, case.data.decode("latin-1"), case.mutation, case.trust)
        return case

    def coerce(self, seed: Seed, data: bytes, rng: random.Random) -> object:
        return data.decode("utf-8", "replace") if rng.random() < 0.5 else data.decode("latin-1")

    def noops(self, seed: Seed) -> list[object]:
        return []  # text only; its values are checked against the invariant, not a seed


# ============================================================================================
# protocol: JOSE primitives


class JoseTarget(Target):
    """``protocol.jose``: ``b64u_decode``, ``parse_json``/``parse_json_object``,
    ``public_key_from_jwk``, ``jwk_thumbprint``, the verifier's memoised ``holder_key``, and the
    issuer's ``check_public_jwk``/``check_public_jwks``, which must agree with the import."""

    name = "jose"
    description = "jose: b64u_decode, parse_json_object, public_key_from_jwk, jwk_thumbprint"
    errors = (ProtocolError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        ec_key, ed_key = KeySigner.generate("ES256"), KeySigner.generate("EdDSA")
        return (
            ("bytes", json.dumps(ec_key.public_jwk).encode()),
            ("bytes", json.dumps(ed_key.public_jwk).encode()),
            ("text", json.dumps({**ec_key.public_jwk, "kid": ec_key.kid})),
            ("text", b64u_encode(b"\x00\x01hello world\xff")),
            ("bytes", b64u_encode(json.dumps(ed_key.public_jwk).encode()).encode()),
        )

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, str | bytes)
        out: list[object] = []
        try:
            decoded = b64u_decode(data)
            out.append(("b64", decoded))
        except ProtocolError as err:
            out.append(("b64", err.code))
        try:
            out.append(("json", type(parse_json(data)).__name__))
        except ProtocolError as err:
            out.append(("json", err.code))
        try:
            obj = parse_json_object(data)
        except ProtocolError as err:
            out.append(("object", err.code))
            return tuple(out)
        for fn in (jwk_thumbprint, holder_key):
            try:
                fn(obj)
                out.append((fn.__name__, "ok"))
            except ProtocolError as err:
                out.append((fn.__name__, err.code))
        # Differential: the issuer's arithmetic check must say what the key import says.
        checks: list[tuple[str, str]] = []
        for name, check_fn in (
            ("import", lambda: public_key_from_jwk(obj)),
            ("check", lambda: check_public_jwk(obj)),
            ("check_many", lambda: check_public_jwks([obj])),
        ):
            try:
                check_fn()
                checks.append((name, "ok"))
            except ProtocolError as err:
                checks.append((name, f"{err.code}: {err}"))
        out.append(("jwk checks", tuple(checks)))
        return tuple(out)

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, tuple)
        _kind, value = summary[0]
        if isinstance(value, bytes) and b64u_decode(b64u_encode(value)) != value:
            return "base64url does not round-trip"
        if isinstance(value, bytes) and len(data) not in (  # type: ignore[arg-type]
            len(b64u_encode(value)),
        ):
            return "base64url accepted a length that no encoder produces"
        kind, checks = summary[-1]
        if kind == "jwk checks" and isinstance(checks, tuple) and len({c[1] for c in checks}) > 1:
            return f"check_public_jwk(s) disagrees with public_key_from_jwk: {checks}"
        return None

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        data = seed.data
        raw = data.encode("utf-8") if isinstance(data, str) else data
        assert isinstance(raw, bytes)

        def as_type(b: bytes) -> object:
            return b.decode("latin-1") if isinstance(data, str) else b

        def json_level() -> Case:
            obj = lenient_json(raw)
            if obj is None:
                return Case(seed, as_type(mutate_bytes(rng, raw)), "bytes")
            return Case(seed, as_type(encode_json(mutate_json(rng, obj), rng)), "json")

        def coordinate() -> Case:
            obj = lenient_json(raw)
            if not isinstance(obj, dict) or "x" not in obj:
                return json_level()
            member = rng.choice(("x", "y")) if "y" in obj else "x"
            x = obj[member]
            obj[member] = mutate_text(rng, x) if isinstance(x, str) else x
            return Case(seed, as_type(loose_json_bytes(obj)), "jwk-coordinate")

        ops: list[tuple[str, Callable[[], Case]]] = [
            ("bytes", lambda: Case(seed, as_type(mutate_bytes(rng, raw)), "bytes")),
            ("json", json_level),
            ("coordinate", coordinate),
        ]
        return pick(rng, ops)


# ============================================================================================
# protocol: status lists


@dataclass(frozen=True)
class _StatusWorld:
    issuer: KeySigner
    keys: StaticKeyResolver
    tokens: tuple[str, ...]
    lists: tuple[StatusList, ...]
    bombs: tuple[str, ...]


@cache
def status_world() -> _StatusWorld:
    issuer = KeySigner.generate("ES256")
    keys = StaticKeyResolver.of({ISSUER: issuer.public_key}, city="zhengzhou")
    lists = (
        StatusList.build(1000, {3: 1, 999: 1}, bits=1),
        StatusList.build(5, [0, 1, 2, 3, 0], bits=2),
        StatusList.build(100, {50: 0x42}, bits=8),
        StatusList.build(16, {1: 15}, bits=4),
    )
    tokens = tuple(
        sign_status_list_token(
            issuer,
            issuer=ISSUER,
            uri=STATUS_URI,
            status_list=lst,
            now=NOW,
            lifetime=timedelta(days=1),
            ttl=timedelta(hours=1),
        )
        for lst in lists
    )
    # zlib bombs: 8 MiB and 1 MiB of zeros (over the 1-bit cap of 4 MiB; over a small cap).
    bombs = tuple(b64u_encode(zlib.compress(bytes(n), 9)) for n in (8 << 20, 1 << 20))
    return _StatusWorld(issuer, keys, tokens, lists, bombs)


def _mutate_lst(rng: random.Random, lst: object) -> object:
    """Mutate a status list's ``lst`` at the zlib level (or its text)."""
    sw = status_world()
    if not isinstance(lst, str) or rng.random() < 0.25:
        return mutate_text(rng, lst) if isinstance(lst, str) else random_text(rng, 40)
    try:
        packed = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    except (ValueError, zlib.error):
        return mutate_text(rng, lst)
    op = rng.randrange(9)
    if op == 0:  # change a status, recompress (unsigned content change)
        buf = bytearray(packed)
        if buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return b64u_encode(zlib.compress(bytes(buf)))
    if op == 1:  # raw deflate, gzip
        wbits = rng.choice((-15, 31))
        comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
        return b64u_encode(comp.compress(packed) + comp.flush())
    if op == 2:  # trailing bytes
        return b64u_encode(zlib.compress(packed) + rng.choice((b"\x00", b"junk", b"x" * 64)))
    if op == 3:  # truncated stream
        stream = zlib.compress(packed)
        return b64u_encode(stream[: rng.randrange(len(stream))])
    if op == 4:  # a flipped bit in the stream
        flipped = bytearray(zlib.compress(packed))
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return b64u_encode(bytes(flipped))
    if op == 5:
        return rng.choice(sw.bombs)
    if op == 6:  # empty list
        return b64u_encode(zlib.compress(b""))
    if op == 7:  # padded base64 / standard alphabet
        return base64.b64encode(zlib.compress(packed)).decode()
    return b64u_encode(zlib.compress(packed * rng.randint(2, 50)))


def _mutate_status_payload(rng: random.Random, payload: dict[str, object]) -> None:
    status = payload.get("status_list")
    if isinstance(status, dict) and rng.random() < 0.5:
        status["lst"] = _mutate_lst(rng, status.get("lst"))


class StatusTokenTarget(Target):
    """``protocol.status_list.verify_status_list_token``."""

    name = "status_list_token"
    description = "verify_status_list_token: Status List Tokens (JWT)"
    errors = (ProtocolError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        tokens = status_world().tokens
        return (*(("token", t) for t in tokens), ("token", tokens[0].encode("ascii")))

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, str | bytes)
        sw = status_world()
        return verify_status_list_token(
            data, keys=sw.keys, uri=STATUS_URI, allowed_algorithms=BOTH_ALGS, now=NOW
        )

    def signed_content(self, seed: Seed, data: object) -> object:
        return jws_content(data)

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        data = seed.data
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        assert isinstance(text, str)
        sw = status_world()

        def lst_level(resign: bool) -> Case:
            def fix(payload: dict[str, object]) -> None:
                _mutate_status_payload(rng, payload)

            parts = text.split(".")
            payload = decode_segment(parts[1]) if len(parts) == 3 else None
            if not isinstance(payload, dict):
                return Case(seed, mutate_text(rng, text), "text")
            _mutate_status_payload(rng, payload)
            if rng.random() < 0.5:
                fix(payload)
            p = b64u_json(payload, rng)
            if resign:
                signing_input = f"{parts[0]}.{p}"
                sig = b64u_encode(sw.issuer.sign(signing_input.encode("utf-8", "surrogatepass")))
                return Case(seed, f"{signing_input}.{sig}", "lst-resigned", "issuer")
            return Case(seed, f"{parts[0]}.{p}.{parts[2]}", "lst")

        ops: list[tuple[str, Callable[[], Case]]] = [
            ("text", lambda: Case(seed, mutate_text(rng, text), "text")),
            ("segments", lambda: Case(seed, mutate_segments(rng, text, "."), "segments")),
            ("jws", lambda: Case(seed, mutate_jws(rng, text), "jws")),
            (
                "resigned",
                lambda: Case(seed, mutate_jws(rng, text, resign=sw.issuer), "resigned", "issuer"),
            ),
            ("lst", lambda: lst_level(False)),
            ("lst-resigned", lambda: lst_level(True)),
            (
                "bytes",
                lambda: Case(
                    seed, mutate_bytes(rng, text.encode("utf-8", "surrogatepass")), "bytes"
                ),
            ),
            ("noop-bytes", lambda: Case(seed, text.encode("utf-8", "surrogatepass"), "to-bytes")),
        ]
        return pick(rng, ops)


class StatusCacheTarget(StatusTokenTarget):
    """``protocol.status_list.StatusListCache.put`` (then reading the stored list back)."""

    name = "status_list_cache"
    description = "StatusListCache.put: verify-before-store, rollback, ttl/exp bookkeeping"

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        tokens = status_world().tokens
        return (("empty", tokens[0]), ("held", tokens[1]), ("held", tokens[2]))

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, str | bytes)
        sw = status_world()
        cache_ = StatusListCache(sw.keys, BOTH_ALGS, max_lists=2)
        if seed.label == "held":
            cache_.put(STATUS_URI, sw.tokens[0], NOW)
        verified = cache_.put(STATUS_URI, data, NOW)
        served = cache_.status_list(STATUS_URI, NOW)
        for later in (NOW, NOW + timedelta(hours=2), NOW + timedelta(days=3650)):
            cache_.needs_refresh(STATUS_URI, later)
        if served.size:
            served.status(served.size - 1)
        return verified


class StatusListTarget(Target):
    """``protocol.status_list.decode_status_list`` on the JSON ``status_list`` object."""

    name = "status_list"
    description = "decode_status_list: {bits, lst} (zlib, bounded inflation)"
    errors = (ProtocolError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        lists = status_world().lists
        return (
            *(("default", lst.encode()) for lst in lists),
            ("small", lists[0].encode()),
        )

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, dict)
        max_size = 1000 if seed.label == "small" else 1 << 25
        return decode_status_list(data, max_size=max_size)

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, StatusList)
        if summary.size != len(summary.packed) * 8 // summary.bits or summary.size < 1:
            return "size does not match the packed bytes"
        if summary.size <= 1 << 20 and decode_status_list(summary.encode()) != summary:
            return "does not round-trip"
        summary.status(summary.size - 1)
        return None

    def arbitrary(self, rng: random.Random) -> Case:
        seed = rng.choice(self.seeds())
        obj: dict[str, object] = {
            "bits": rng.choice((1, 2, 4, 8, 3, 0, -1, "1", True, 1.0, None, 2**64)),
            "lst": rng.choice(
                (
                    random_text(rng, 100),
                    b64u_encode(random_bytes(rng, 200)),
                    b64u_encode(zlib.compress(random_bytes(rng, 500))),
                )
            ),
        }
        if rng.random() < 0.3:
            value = materialize(random_json(rng))
            return Case(
                seed,
                value if isinstance(value, dict) else {"v": value},
                "arbitrary",
                arbitrary=True,
            )
        return Case(seed, obj, "arbitrary", arbitrary=True)

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        assert isinstance(seed.data, dict)
        if rng.random() < 0.5:
            obj = dict(seed.data)
            obj["lst"] = _mutate_lst(rng, obj.get("lst"))
            return Case(seed, obj, "lst")
        value = materialize(mutate_json(rng, seed.data))
        return Case(seed, value if isinstance(value, dict) else {"v": value}, "json")


PRESENTATION: Final = PresentationTarget()
