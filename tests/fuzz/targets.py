"""Fuzz targets: every parser that sees outside bytes, its valid seeds, mutations and judge.

Shared by the bounded hypothesis tests (``tests/fuzz/test_*.py``) and the long run
(``bench/fuzz.py``). A :class:`Target` knows how to call one parser, which exceptions are its
documented errors (the package's error root), how to build valid inputs (:class:`Seed`), how to
make arbitrary and mutated inputs from a :class:`random.Random`, and how to judge an accepted
input. :func:`check` runs one :class:`Case` and classifies it:

* ``reject`` -- the documented error root (``ProtocolError``, ``CertsError``, ``MappingError``);
* ``accept`` -- a value that passes the judge;
* ``crash`` -- any other exception (``KeyError``, ``RecursionError``, ``OverflowError``, ...);
* ``false_accept`` -- an accepted value that must not have been: arbitrary bytes that verify,
  a mutated signed input whose verified value or signed content differs from the original's,
  or an unsigned value that breaks the parser's own invariants;
* ``hang`` -- a case slower than :data:`HANG_SECONDS`.

Mutations say who (if anyone) re-signed them: ``none`` (nobody: a verifier must not accept
anything but the original value from the original signed bytes), ``holder`` (the wallet
re-signed its Key Binding JWT: the issuer's claims must come out unchanged), or ``issuer`` (a
trusted signer signed something odd: acceptance is legitimate, a crash is still a bug).

What it deliberately does not do: touch the node, HTTP, files beyond the package's data, or the
clock (every verification uses a fixed ``now``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import random
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Final, Literal

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certs.bundle import TrustBundle, build_bundle, verify_material
from certs.ca import Purpose
from certs.chain import check_ca_certificate, verify_node_certificate
from certs.errors import CertsError, ThresholdNotMetError
from certs.keys import (
    certificate_pem,
    certificate_public_key,
    key_jwk,
    load_certificate,
    load_private_key,
    load_public_key,
    parse_key_jwk,
    private_key_pem,
    public_key_pem,
)
from certs.multisig import combine, count_signatures, parse, sign
from certs.root import (
    ROOT_JWS_TYP,
    Root,
    verify_initial_root,
    verify_root_chain,
    verify_root_update,
)
from certs.update import Proposal, initial_root, propose
from mapping.errors import MappingError
from mapping.levels import HIGHEST_LEVEL, LOWEST_LEVEL
from mapping.scale import BUILTIN_SCALE_IDS, Scale, builtin_scale, parse_scale, parse_scale_json
from protocol.attestation import CreditClaims, IssuedAttestation
from protocol.errors import ProtocolError
from protocol.incentive import Catalogue, parse_catalogue
from protocol.jose import (
    KeySigner,
    b64u_decode,
    b64u_encode,
    jwk_thumbprint,
    key_thumbprint,
    parse_json,
    parse_json_object,
    public_key_from_jwk,
)
from protocol.keys import StaticKeyResolver
from protocol.presentation import DisclosureRequest
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
from tests.certs.sim import FEDERATION, Federation, sign_root
from tests.certs.sim import NOW as CERTS_NOW
from tests.fuzz.mutate import (
    Deep,
    b64u_json,
    decode_segment,
    encode_json,
    materialize,
    mutate_bytes,
    mutate_json,
    mutate_jws,
    mutate_pem,
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

Kind = Literal["accept", "reject", "crash", "false_accept", "hang"]
Trust = Literal["none", "holder", "issuer"]
#: A single case slower than this counts as a hang (inputs are bounded; honest cases take ms).
HANG_SECONDS: Final = 2.0
KINDS: Final[tuple[Kind, ...]] = ("accept", "reject", "crash", "false_accept", "hang")
_CATALOGUES: Final = Path(__file__).parents[2] / "node" / "data" / "incentives"


@dataclass(frozen=True)
class Seed:
    """A valid input and what the parser makes of it.

    Attributes:
        label: names the seed and selects how the target calls the parser.
        data: the valid input.
        expected: the parser's summary of ``data`` (computed once, at setup).
        signed: the signed content of ``data`` (``None`` for unsigned inputs).
    """

    label: str
    data: object
    expected: object = None
    signed: object = None


@dataclass(frozen=True)
class Case:
    """One input for a target: arbitrary, or a mutation of a seed."""

    seed: Seed
    data: object
    mutation: str
    trust: Trust = "none"
    arbitrary: bool = False


@dataclass(frozen=True)
class Outcome:
    """How one case ended."""

    kind: Kind
    detail: str = ""
    seconds: float = 0.0


class Target:
    """One parser under fuzzing. Subclasses fill in the parser-specific parts."""

    name: str = ""
    description: str = ""
    errors: tuple[type[Exception], ...] = ()
    #: Whether the input carries signatures (so a changed input must never verify).
    signed: bool = False

    def __init__(self) -> None:
        self._seeds: tuple[Seed, ...] | None = None

    # -- setup ----------------------------------------------------------------------------

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        """``(label, valid input)`` pairs."""
        raise NotImplementedError

    def seeds(self) -> tuple[Seed, ...]:
        """The valid inputs with their expected summaries (computed once)."""
        if self._seeds is None:
            built = []
            for label, data in self.raw_seeds():
                probe = Seed(label, data)
                built.append(
                    Seed(label, data, self.call(probe, data), self.signed_content(probe, data))
                )
            self._seeds = tuple(built)
        return self._seeds

    # -- the parser -----------------------------------------------------------------------

    def call(self, seed: Seed, data: object) -> object:
        """Run the parser as ``seed.label`` says; return a comparable summary of the result."""
        raise NotImplementedError

    def signed_content(self, seed: Seed, data: object) -> object:
        """What the signatures of ``data`` cover (decoded leniently); ``None`` if unsigned."""
        del seed, data
        return None

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        """For an accepted unsigned input: a broken invariant, or ``None``."""
        del seed, data, summary
        return None

    def noops(self, seed: Seed) -> list[object]:
        """Variants of ``seed.data`` that must parse to exactly ``seed.expected``."""
        data = seed.data
        if isinstance(data, str) and data.isascii():
            return [data.encode("ascii")]
        if isinstance(data, bytes) and data.isascii() and not data.lstrip().startswith(b"{"):
            return [data.decode("ascii")]
        if isinstance(data, dict):
            return [dict(reversed(list(data.items())))]
        doc = _lenient_json(data)
        if isinstance(doc, dict):
            variants: list[object] = [
                json.dumps(doc).encode(),
                json.dumps(dict(reversed(list(doc.items()))), indent=4).encode(),
                json.dumps(doc, ensure_ascii=True, sort_keys=True).encode(),
            ]
            if isinstance(doc.get("signatures"), list):
                variants.append(json.dumps({**doc, "signatures": doc["signatures"][::-1]}).encode())
            return variants
        return []

    # -- inputs ---------------------------------------------------------------------------

    def arbitrary(self, rng: random.Random) -> Case:
        """An arbitrary input (random bytes, text or JSON) for a random seed's entry point."""
        seed = rng.choice(self.seeds())
        data = random_bytes(rng) if rng.random() < 0.5 else encode_json(random_json(rng), rng)
        return Case(seed, self.coerce(seed, data, rng), "arbitrary", arbitrary=True)

    def coerce(self, seed: Seed, data: bytes, rng: random.Random) -> object:
        """Turn arbitrary bytes into the input type of ``seed``'s entry point."""
        if isinstance(seed.data, str):
            return data.decode("utf-8", "replace") if rng.random() < 0.5 else data.decode("latin-1")
        return data

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        """A mutation of ``seed``."""
        raise NotImplementedError

    # -- judging --------------------------------------------------------------------------

    def judge(self, case: Case, summary: object) -> str | None:
        """Why accepting ``case`` with ``summary`` is wrong, or ``None`` if it is fine."""
        if not self.signed:
            return self.invariant(case.seed, case.data, summary)
        if case.arbitrary:
            return "arbitrary input verified"
        if case.trust == "issuer":
            return None
        if summary != case.seed.expected:
            return f"verified to another value after {case.mutation}"
        if case.trust == "none" and self.signed_content(case.seed, case.data) != case.seed.signed:
            return f"verified with altered signed content after {case.mutation}"
        return None


def describe(err: BaseException) -> str:
    """``Type: message @ file:line`` of the innermost frame in our code."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [
        f for f in frames if "/site-packages/" not in f.filename and "python3." not in f.filename
    ]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    loc = f" @ {Path(where.filename).name}:{where.lineno}" if where else ""
    return f"{type(err).__name__}: {str(err)[:160]}{loc}"


def check(target: Target, case: Case) -> Outcome:
    """Run one case and classify it (see the module docstring)."""
    start = time.perf_counter()
    kind: Kind
    detail = ""
    try:
        with warnings.catch_warnings():
            # cryptography warns about certificates it will refuse in a future release (e.g. a
            # negative serial number); pytest turns warnings into errors, but they are not
            # parser failures.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            summary = target.call(case.seed, case.data)
    except target.errors:
        kind = "reject"
    except Exception as err:
        kind, detail = "crash", describe(err)
    else:
        try:
            problem = target.judge(case, summary)
        except Exception as err:
            problem = f"accepted, but checking the value raised {describe(err)}"
        kind, detail = ("false_accept", problem) if problem else ("accept", "")
    seconds = time.perf_counter() - start
    if kind in ("accept", "reject") and seconds > HANG_SECONDS:
        kind, detail = "hang", f"{case.mutation} took {seconds:.2f} s"
    return Outcome(kind, detail, seconds)


def next_case(target: Target, rng: random.Random, *, arbitrary_share: float = 0.2) -> Case:
    """The next case of a run: arbitrary with probability ``arbitrary_share``, else a mutation
    of a random seed (sometimes two or three stacked unsigned mutations)."""
    if rng.random() < arbitrary_share:
        return target.arbitrary(rng)
    seed = rng.choice(target.seeds())
    case = target.mutate(rng, seed)
    stacked = 1 if rng.random() < 0.75 else rng.randint(2, 3)
    for _ in range(stacked - 1):
        if case.trust != "none":
            break
        again = target.mutate(rng, Seed(seed.label, case.data, seed.expected, seed.signed))
        if again.trust != "none":
            break
        case = Case(seed, again.data, f"{case.mutation}+{again.mutation}")
    return case


def _pick(rng: random.Random, ops: Sequence[tuple[str, Callable[[], Case]]]) -> Case:
    return rng.choice(ops)[1]()


def _lenient_json(data: object) -> object:
    try:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if not isinstance(raw, bytes):
            return None
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _jws_content(token: object) -> tuple[object, ...] | None:
    """Decoded header and payload bytes of a compact JWS (lenient: for comparison only)."""
    text = token.decode("latin-1") if isinstance(token, bytes) else token
    if not isinstance(text, str):
        return None
    parts = text.split(".")
    if len(parts) != 3:
        return None
    out: list[object] = []
    for part in parts[:2]:
        try:
            out.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except ValueError:
            return None
    return tuple(out)


# ============================================================================================
# protocol: presentations


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
            _jws_content(segments[0]),
            tuple(segments[1:-1]),
            _jws_content(segments[-1]),
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
        return _pick(rng, ops)


def _resign_sd_hash(kb: str, presented: str, holder: KeySigner) -> str:
    parts = kb.split(".")
    header = decode_segment(parts[0])
    payload = decode_segment(parts[1]) if len(parts) > 1 else None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return kb
    payload["sd_hash"] = b64u_encode(
        hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    )
    signing_input = b64u_encode(_compact(header)) + "." + b64u_encode(_compact(payload))
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
    ``public_key_from_jwk``, ``jwk_thumbprint`` and the verifier's memoised ``holder_key``."""

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
        for fn in (public_key_from_jwk, jwk_thumbprint, holder_key):
            try:
                fn(obj)
                out.append((fn.__name__, "ok"))
            except ProtocolError as err:
                out.append((fn.__name__, err.code))
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
        return None

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        data = seed.data
        raw = data.encode("utf-8") if isinstance(data, str) else data
        assert isinstance(raw, bytes)

        def as_type(b: bytes) -> object:
            return b.decode("latin-1") if isinstance(data, str) else b

        def json_level() -> Case:
            obj = _lenient_json(raw)
            if obj is None:
                return Case(seed, as_type(mutate_bytes(rng, raw)), "bytes")
            return Case(seed, as_type(encode_json(mutate_json(rng, obj), rng)), "json")

        def coordinate() -> Case:
            obj = _lenient_json(raw)
            if not isinstance(obj, dict) or "x" not in obj:
                return json_level()
            x = obj["x"]
            obj["x"] = mutate_text(rng, x) if isinstance(x, str) else x
            return Case(seed, as_type(_compact(obj)), "jwk-coordinate")

        ops: list[tuple[str, Callable[[], Case]]] = [
            ("bytes", lambda: Case(seed, as_type(mutate_bytes(rng, raw)), "bytes")),
            ("json", json_level),
            ("coordinate", coordinate),
        ]
        return _pick(rng, ops)


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
        return _jws_content(data)

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
        return _pick(rng, ops)


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


# ============================================================================================
# certs: the federation root, multisig, material, bundles, keys


@dataclass(frozen=True)
class _CertsWorld:
    federation: Federation
    v1: bytes
    v2: bytes
    root1: Root
    small_root: bytes
    small_cities: tuple[str, ...]
    bundle: bytes
    materials: Mapping[str, bytes]


@cache
def certs_world() -> _CertsWorld:
    fed = Federation()
    root1 = fed.root_v1(threshold=3)
    every = tuple(fed.cities)
    v1 = sign_root(root1, fed.governance(*every))
    v2 = sign_root(propose(root1, Proposal(threshold=4)), fed.governance(*every))
    # A three-city federation for bundles (a five-city bundle takes ~10 ms a case to verify).
    small = every[:3]
    small_v1 = initial_root(
        federation=FEDERATION,
        members=[fed[c].entry() for c in small],
        threshold=2,
        expires=CERTS_NOW + timedelta(days=365),
    )
    small_root = sign_root(small_v1, fed.governance(*small))
    materials = {c: fed[c].material() for c in every}
    bundle, _ = build_bundle(
        [small_root], [materials[c] for c in small], now=CERTS_NOW, pinned_root=small_root
    )
    return _CertsWorld(
        fed, v1, v2, verify_initial_root(v1).root, small_root, small, bundle, materials
    )


def _compact(obj: object, *, indent: int | None = None) -> bytes:
    """JSON bytes tolerating what earlier mutations left behind (surrogates, deep nesting)."""
    try:
        text = json.dumps(obj, ensure_ascii=False, indent=indent)
        return text.encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):
        return Deep(3000, True, 1).text().encode("ascii")


def _pretty(obj: object) -> bytes:
    """Indented JSON like the signed files."""
    return _compact(obj, indent=2)


def _payload_of(doc: object) -> bytes | None:
    if isinstance(doc, dict) and isinstance(doc.get("payload"), str):
        payload = doc["payload"]
        try:
            return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except ValueError:
            return None
    return None


def _general_jws_mutation(
    rng: random.Random,
    seed: Seed,
    signers: Sequence[KeySigner],
    typ: str,
    pem_paths: Callable[[dict[str, object]], list[tuple[dict[str, object], str]]],
) -> Case:
    """Mutations of a JWS in general JSON form (roots, material)."""
    data = seed.data
    assert isinstance(data, bytes)
    doc = _lenient_json(data)
    if not isinstance(doc, dict):
        return Case(seed, mutate_bytes(rng, data), "bytes")
    payload = _lenient_json(_payload_of(doc))

    def resigned(new_payload: bytes, who: Sequence[KeySigner]) -> bytes:
        docs = [sign(new_payload, s, typ=typ) for s in who]
        return combine(docs).to_bytes()

    def payload_level(resign: bool) -> Case:
        if not isinstance(payload, dict):
            return Case(seed, mutate_bytes(rng, data), "bytes")
        new = encode_json(mutate_json(rng, payload), rng)
        if resign:
            return Case(seed, resigned(new, signers), "payload-resigned", "issuer")
        return Case(seed, _pretty({**doc, "payload": b64u_encode(new)}), "payload")

    def certificate(resign: bool) -> Case:
        if not isinstance(payload, dict):
            return Case(seed, mutate_bytes(rng, data), "bytes")
        spots = pem_paths(payload)
        if not spots:
            return payload_level(resign)
        holder, key = rng.choice(spots)
        pem = holder[key]
        holder[key] = mutate_pem(rng, pem) if isinstance(pem, str) else random_text(rng, 100)
        new = _pretty(payload)
        if resign:
            return Case(seed, resigned(new, signers), "certificate-resigned", "issuer")
        return Case(seed, _pretty({**doc, "payload": b64u_encode(new)}), "certificate")

    def signatures() -> Case:
        entries = doc.get("signatures")
        if not isinstance(entries, list) or not entries:
            return Case(seed, mutate_bytes(rng, data), "bytes")
        entries = list(entries)
        op = rng.randrange(4)
        i = rng.randrange(len(entries))
        if op == 0:
            del entries[i]
        elif op == 1:
            entries.append(entries[i])
        elif op == 2:
            entry = dict(entries[i]) if isinstance(entries[i], dict) else {}
            protected = entry.get("protected")
            if isinstance(protected, str):
                entry["protected"] = mutate_jws(rng, f"{protected}.e30.AA").split(".")[0]
            entries[i] = entry
        else:
            entries[i] = mutate_json(rng, entries[i], raw=False)
        return Case(seed, encode_json({**doc, "signatures": entries}, rng), "signatures")

    def noop() -> Case:
        items = list(doc.items())
        rng.shuffle(items)
        return Case(seed, _compact(dict(items), indent=rng.choice((None, 1, 4))), "noop")

    ops: list[tuple[str, Callable[[], Case]]] = [
        ("bytes", lambda: Case(seed, mutate_bytes(rng, data), "bytes")),
        ("outer-json", lambda: Case(seed, encode_json(mutate_json(rng, doc), rng), "outer-json")),
        ("payload", lambda: payload_level(False)),
        ("payload-resigned", lambda: payload_level(True)),
        ("certificate", lambda: certificate(False)),
        ("certificate-resigned", lambda: certificate(True)),
        ("signatures", signatures),
        ("noop", noop),
    ]
    return _pick(rng, ops)


def _member_pems(payload: dict[str, object]) -> list[tuple[dict[str, object], str]]:
    members = payload.get("members")
    if not isinstance(members, list):
        return []
    return [(m, "ca_certificate") for m in members if isinstance(m, dict) and "ca_certificate" in m]


def _material_pems(payload: dict[str, object]) -> list[tuple[dict[str, object], str]]:
    keys = payload.get("attestation_keys")
    if not isinstance(keys, list):
        return []
    return [(k, "certificate") for k in keys if isinstance(k, dict) and "certificate" in k]


class RootTarget(Target):
    """``certs.root``: ``verify_initial_root``, ``verify_root_update`` and ``verify_root_chain``
    (each parses with ``parse_signed_root`` and counts signatures with ``certs.multisig``)."""

    name = "root"
    description = "federation roots: parse_signed_root, verify_root_update, verify_root_chain"
    errors = (CertsError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        cw = certs_world()
        return (("initial", cw.v1), ("update", cw.v2), ("chain", cw.v2))

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes)
        cw = certs_world()
        if seed.label == "initial":
            root = verify_initial_root(data).root
        elif seed.label == "update":
            root = verify_root_update(cw.root1, data).root
        else:
            root = verify_root_chain(cw.v1, [data], now=CERTS_NOW).root
        return root.to_dict()

    def signed_content(self, seed: Seed, data: object) -> object:
        return _payload_of(_lenient_json(data))

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        fed = certs_world().federation
        signers = fed.governance(*fed.cities)
        return _general_jws_mutation(rng, seed, signers, ROOT_JWS_TYP, _member_pems)


class MultisigTarget(Target):
    """``certs.multisig.parse`` and ``count_signatures`` (a root's 3-of-5 threshold)."""

    name = "multisig"
    description = "multisig: JWS general JSON parse + count_signatures"
    errors = (CertsError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return (("root", certs_world().v1),)

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes)
        cw = certs_world()
        jws = parse(data, typ=ROOT_JWS_TYP, max_bytes=1 << 20, max_signatures=256)
        count = count_signatures(jws, cw.root1.governance_keys(), threshold=3)
        if not count.verified:
            raise ThresholdNotMetError(f"{len(count.signers)} of 3")
        return jws.payload

    def signed_content(self, seed: Seed, data: object) -> object:
        return _payload_of(_lenient_json(data))

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        fed = certs_world().federation
        return _general_jws_mutation(
            rng, seed, fed.governance(*fed.cities), ROOT_JWS_TYP, _member_pems
        )


def _material_summary(m: object) -> tuple[object, ...]:
    from certs.bundle import MemberMaterial

    assert isinstance(m, MemberMaterial)
    return (
        m.city,
        m.issued_at,
        tuple(k.kid for k in m.attestation_keys),
        m.scale,
        json.dumps(dict(m.incentives), sort_keys=True),
        m.status_lists,
    )


class MaterialTarget(Target):
    """``certs.bundle.verify_material``: a member's signed keys, scale and catalogue."""

    name = "material"
    description = "verify_material: a member's signed material"
    errors = (CertsError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return tuple((city, data) for city, data in certs_world().materials.items())

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes)
        return _material_summary(verify_material(data, certs_world().root1, now=CERTS_NOW))

    def signed_content(self, seed: Seed, data: object) -> object:
        return _payload_of(_lenient_json(data))

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        node = certs_world().federation[seed.label].node
        return _general_jws_mutation(rng, seed, [node], "huxin-material+json", _material_pems)


class BundleTarget(Target):
    """``certs.bundle.TrustBundle.load``: the merchant's whole trust bundle."""

    name = "bundle"
    description = "TrustBundle.load: root chain + every member's material"
    errors = (CertsError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return (("bundle", certs_world().bundle),)

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes)
        cw = certs_world()
        bundle = TrustBundle.load(data, pinned_root=cw.small_root, now=CERTS_NOW)
        return (
            bundle.root.to_dict(),
            tuple(_material_summary(bundle.material(c)) for c in cw.small_cities),
        )

    def noops(self, seed: Seed) -> list[object]:
        doc = _lenient_json(seed.data)
        assert isinstance(doc, dict)
        materials = doc["materials"]
        assert isinstance(materials, list)
        return [
            *super().noops(seed),
            json.dumps({**doc, "roots": []}).encode(),  # the pinned root alone
            json.dumps({**doc, "materials": materials[::-1]}).encode(),
        ]

    def signed_content(self, seed: Seed, data: object) -> object:
        doc = _lenient_json(data)
        if not isinstance(doc, dict):
            return None
        roots, materials = doc.get("roots"), doc.get("materials")
        if not isinstance(roots, list) or not isinstance(materials, list):
            return None
        # The pinned root is trusted whether or not the bundle repeats it.
        pinned = _payload_of(_lenient_json(certs_world().small_root))
        return (
            frozenset(_payload_of(r) for r in roots) | {pinned},
            frozenset(_payload_of(m) for m in materials),
        )

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        data = seed.data
        assert isinstance(data, bytes)
        cw = certs_world()
        doc = _lenient_json(data)
        if not isinstance(doc, dict) or not all(
            isinstance(doc.get(k), list) and doc.get(k) for k in ("roots", "materials")
        ):
            return Case(seed, mutate_bytes(rng, data), "bytes")

        def inner(kind: str) -> Case:
            items = doc[kind]
            assert isinstance(items, list)
            i = rng.randrange(len(items))
            if kind == "roots":
                fed = cw.federation
                signers = fed.governance(*cw.small_cities)
                pems = _member_pems
                typ = ROOT_JWS_TYP
            else:
                material = items[i]
                payload = _lenient_json(_payload_of(material))
                city = payload.get("city") if isinstance(payload, dict) else None
                signers = [cw.federation[city if isinstance(city, str) else "zhengzhou"].node]
                pems = _material_pems
                typ = "huxin-material+json"
            probe = Seed(kind, _compact(items[i]))
            case = _general_jws_mutation(rng, probe, signers, typ, pems)
            new_item = _lenient_json(case.data)
            if new_item is None:
                return Case(seed, mutate_bytes(rng, data), "bytes")
            new_items = list(items)
            new_items[i] = new_item
            return Case(
                seed,
                _compact({**doc, kind: new_items}),
                f"{kind}:{case.mutation}",
                case.trust,
            )

        def lists() -> Case:
            kind = rng.choice(("roots", "materials"))
            items = doc[kind]
            assert isinstance(items, list)
            new_items = list(items)
            op = rng.randrange(3)
            if op == 0:
                del new_items[rng.randrange(len(new_items))]
            elif op == 1:
                new_items.append(rng.choice(items))
            else:
                rng.shuffle(new_items)
            return Case(seed, _compact({**doc, kind: new_items}), f"{kind}-list")

        ops: list[tuple[str, Callable[[], Case]]] = [
            ("bytes", lambda: Case(seed, mutate_bytes(rng, data), "bytes")),
            ("json", lambda: Case(seed, encode_json(mutate_json(rng, doc), rng), "json")),
            ("noop", lambda: Case(seed, rng.choice(self.noops(seed)), "noop")),
            ("roots", lambda: inner("roots")),
            ("materials", lambda: inner("materials")),
            ("materials", lambda: inner("materials")),
            ("lists", lists),
            ("noop", lambda: Case(seed, _compact(doc), "noop")),
        ]
        return _pick(rng, ops)


@dataclass(frozen=True)
class _KeysWorld:
    ca: x509.Certificate
    node_pem: bytes


class KeysTarget(Target):
    """``certs.keys``: PEM certificates (checked as a city CA or a node certificate), PEM public
    and private keys, published JWKs."""

    name = "keys"
    description = "certs.keys: load_certificate (+ CA/node checks), PEM keys, parse_key_jwk"
    errors = (CertsError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        city = certs_world().federation["zhengzhou"]
        ed = KeySigner.generate("EdDSA")
        return (
            ("ca", certificate_pem(city.ca_cert).encode()),
            ("node", certificate_pem(city.node_cert).encode()),
            ("public", public_key_pem(city.node.public_key)),
            ("public", public_key_pem(ed.public_key)),
            ("private", private_key_pem(city.governance.private_key)),
            ("private", private_key_pem(ed.private_key)),
            ("jwk", key_jwk(city.node.public_key)),
            ("jwk", key_jwk(ed.public_key)),
        )

    def call(self, seed: Seed, data: object) -> object:
        city = certs_world().federation["zhengzhou"]
        if seed.label == "jwk":
            jwk, _ = parse_key_jwk(data)
            return tuple(sorted(jwk.items()))
        assert isinstance(data, bytes)
        if seed.label == "public":
            return key_thumbprint(load_public_key(data))
        if seed.label == "private":
            return key_thumbprint(load_private_key(data).public_key())
        cert = load_certificate(data)
        if seed.label == "ca":
            check_ca_certificate(cert, federation=FEDERATION, city="zhengzhou", now=CERTS_NOW)
            key_thumbprint(certificate_public_key(cert))
        else:
            verify_node_certificate(cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=CERTS_NOW)
        return cert.tbs_certificate_bytes

    def noops(self, seed: Seed) -> list[object]:
        if isinstance(seed.data, bytes):
            return [seed.data + b"\n", seed.data.replace(b"\n", b"\r\n")]
        return super().noops(seed)

    def judge(self, case: Case, summary: object) -> str | None:
        # Certificates are signed: an accepted mutation must carry the original TBS.
        if case.seed.label in ("ca", "node") and summary != case.seed.expected:
            return "a certificate with another TBS passed its signature check"
        return None

    def arbitrary(self, rng: random.Random) -> Case:
        seed = rng.choice(self.seeds())
        if seed.label == "jwk":
            value = materialize(random_json(rng))
            return Case(seed, value, "arbitrary", arbitrary=True)
        body = base64.b64encode(random_bytes(rng, 600)).decode()
        kind = rng.choice(("CERTIFICATE", "PUBLIC KEY", "PRIVATE KEY", "EC PRIVATE KEY"))
        pem = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()
        return Case(seed, rng.choice((pem, random_bytes(rng))), "arbitrary", arbitrary=True)

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        if seed.label == "jwk":
            return Case(seed, materialize(mutate_json(rng, seed.data)), "json")
        data = seed.data
        assert isinstance(data, bytes)
        if rng.random() < 0.7:
            return Case(
                seed, mutate_pem(rng, data.decode("latin-1")).encode("latin-1", "replace"), "der"
            )
        return Case(seed, mutate_bytes(rng, data), "bytes")


# ============================================================================================
# mapping: scales; protocol: incentive catalogues


def scale_problem(scale: Scale) -> str | None:
    """An independent check of the rules a parsed scale must satisfy."""
    bands = scale.bands
    if not bands or bands[0].low != scale.min or bands[-1].high != scale.max:
        return "bands do not span min..max"
    for prev, band in itertools.pairwise(bands):
        if band.low != prev.high + 1 or band.level < prev.level:
            return "bands are not contiguous and monotonic"
    if any(not LOWEST_LEVEL <= b.level <= HIGHEST_LEVEL or b.low > b.high for b in bands):
        return "a band is empty or off the federation levels"
    if scale.kind == "score" and {b.level for b in bands} != set(
        range(LOWEST_LEVEL, HIGHEST_LEVEL + 1)
    ):
        return "a score scale misses a level"
    if parse_scale(scale.to_dict()) != scale:
        return "does not round-trip through to_dict"
    for band in bands:
        if scale.band_of(band.low) != band or scale.band_of(band.high) != band:
            return "band_of disagrees with the bands"
    return None


class ScaleJsonTarget(Target):
    """``mapping.scale.parse_scale_json``: a scale definition file's bytes."""

    name = "scale_json"
    description = "parse_scale_json: scale definition files"
    errors = (MappingError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return tuple(
            ("file", json.dumps(builtin_scale(s).to_dict(), ensure_ascii=False).encode())
            for s in BUILTIN_SCALE_IDS
        )

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes | str)
        return parse_scale_json(data)

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, Scale)
        return scale_problem(summary)

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        data = seed.data
        assert isinstance(data, bytes)
        obj = _lenient_json(data)
        if obj is None or rng.random() < 0.4:
            return Case(seed, mutate_bytes(rng, data), "bytes")
        return Case(seed, encode_json(mutate_json(rng, obj), rng), "json")


class ScaleTarget(Target):
    """``mapping.scale.parse_scale`` on decoded JSON values."""

    name = "scale"
    description = "parse_scale: decoded scale definitions"
    errors = (MappingError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return tuple(("object", builtin_scale(s).to_dict()) for s in BUILTIN_SCALE_IDS)

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, dict)
        return parse_scale(data)

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, Scale)
        return scale_problem(summary)

    def arbitrary(self, rng: random.Random) -> Case:
        seed = rng.choice(self.seeds())
        value = materialize(random_json(rng))
        return Case(
            seed, value if isinstance(value, dict) else {"id": value}, "arbitrary", arbitrary=True
        )

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        value = materialize(mutate_json(rng, seed.data))
        return Case(seed, value if isinstance(value, dict) else {"id": value}, "json")


class CatalogueTarget(Target):
    """``protocol.incentive.parse_catalogue`` against the city's scale."""

    name = "catalogue"
    description = "parse_catalogue: 信易+ incentive catalogues"
    errors = (ProtocolError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        out = []
        for path in sorted(_CATALOGUES.glob("*.json")):
            doc = json.loads(path.read_text("utf-8"))
            out.append((str(doc["scale"]), doc))
        return tuple(out)

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, dict)
        return parse_catalogue(data, builtin_scale(seed.label))

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        assert isinstance(summary, Catalogue)
        scale = builtin_scale(seed.label)
        if parse_catalogue(summary.to_dict(), scale) != summary:
            return "does not round-trip through to_dict"
        ids = [i.id for i in summary.incentives]
        if len(set(ids)) != len(ids):
            return "duplicate incentive ids"
        for item in summary.incentives:
            level, score = item.rule.min_level, item.rule.min_score
            if (level is None) == (score is None):
                return "a rule must set exactly one threshold"
            if score is not None and not scale.min <= score <= scale.max:
                return "min_score outside the scale"
        return None

    def arbitrary(self, rng: random.Random) -> Case:
        seed = rng.choice(self.seeds())
        value = materialize(random_json(rng))
        return Case(
            seed, value if isinstance(value, dict) else {"city": value}, "arbitrary", arbitrary=True
        )

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        value = materialize(mutate_json(rng, seed.data))
        return Case(seed, value if isinstance(value, dict) else {"city": value}, "json")


# ============================================================================================

PRESENTATION: Final = PresentationTarget()

#: Every target, cheapest first within each package.
TARGETS: Final[tuple[Target, ...]] = (
    JoseTarget(),
    SdJwtTarget(),
    PRESENTATION,
    StatusListTarget(),
    StatusTokenTarget(),
    StatusCacheTarget(),
    KeysTarget(),
    MultisigTarget(),
    RootTarget(),
    MaterialTarget(),
    BundleTarget(),
    ScaleJsonTarget(),
    ScaleTarget(),
    CatalogueTarget(),
)
BY_NAME: Final[Mapping[str, Target]] = {t.name: t for t in TARGETS}


@dataclass
class Tally:
    """Counts of one run over one target."""

    target: str
    cases: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    seconds: float = 0.0
    slowest: float = 0.0
    examples: list[str] = field(default_factory=list)

    def add(self, case: Case, outcome: Outcome, *, keep: int = 5) -> None:
        self.cases += 1
        self.counts[outcome.kind] += 1
        self.slowest = max(self.slowest, outcome.seconds)
        if outcome.kind in ("crash", "false_accept", "hang") and len(self.examples) < keep:
            try:
                shown = repr(case.data)
            except RecursionError:
                shown = "<nested too deeply to show>"
            if len(shown) > 300:
                shown = shown[:300] + f"... ({len(shown)} chars)"
            self.examples.append(
                f"{outcome.kind} [{case.mutation}]: {outcome.detail}\n    input: {shown}"
            )

    @property
    def failures(self) -> int:
        return self.counts["crash"] + self.counts["false_accept"] + self.counts["hang"]


def run(
    target: Target,
    *,
    cases: int,
    seed: int,
    max_seconds: float,
    on_case: Callable[[Case, Outcome], None] | None = None,
) -> Tally:
    """Run up to ``cases`` cases (and at most ``max_seconds``) of ``target`` from ``seed``."""
    rng = random.Random(f"{target.name}:{seed}")
    target.seeds()
    tally = Tally(target.name)
    start = time.perf_counter()
    deadline = start + max_seconds
    while tally.cases < cases and time.perf_counter() < deadline:
        case = next_case(target, rng)
        outcome = check(target, case)
        tally.add(case, outcome)
        if on_case is not None:
            on_case(case, outcome)
    tally.seconds = time.perf_counter() - start
    return tally
