"""Generate ``tests/vectors/presentations.json``, ``tests/vectors/jose.json`` and the generated
parts of ``docs/protocol.md`` (error table, examples).

Run ``python -m tests.vectors.generate`` to rewrite them, ``--check`` to only compare.
``tests/protocol/test_presentation_vectors.py`` checks the committed files equal this script's
output and runs every case through :func:`protocol.verifier.verify_presentation`.

The output is a pure function of this script: keys are derived from fixed seeds, ES256
signatures use RFC 6979 deterministic nonces (EdDSA is deterministic by design), salts and the
one-way nonce come from a seeded counter, and every time is fixed. Every case is verified while
generating, so a vector that does not behave as labelled cannot be written.

``presentations.json`` (Wycheproof shape): top-level ``issuer``, ``city``, ``policy`` (the
verifier policy every case runs under), ``status_lists`` (URI -> JSON Status List, draft
section 4.2) and ``cases``; each case has ``tcId``, ``comment``, ``now`` (Unix seconds),
``issuer_jwk`` (the public key the verifier trusts for ``issuer``), ``presentation``, ``aud``,
``nonce`` (null = one-way mode), ``result`` (``valid``/``invalid``), ``error`` (the code, or
null), ``disclosed`` (valid cases: the claims the verifier sees) and ``seen_before`` (true: the
same presentation was already accepted once by the same replay cache).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from protocol.attestation import CreditClaims, StatusRef, issue_attestation
from protocol.errors import ERROR_CLASSES, InvalidTokenError, ProtocolError, UnavailableError
from protocol.jose import (
    EDDSA,
    ES256,
    PrivateKey,
    algorithm_for_key,
    b64u_encode,
    json_bytes,
    jwk_thumbprint,
    public_jwk,
)
from protocol.keys import StaticKeyResolver
from protocol.presentation import DisclosureRequest, present
from protocol.qrform import (
    COMPACT_PREFIX,
    DICTIONARY,
    b45decode,
    b45encode,
    compact_presentation,
)
from protocol.replay import MemoryReplayCache
from protocol.sdjwt import (
    decode_jws,
    join_sd_jwt,
    make_disclosure,
    parse_disclosure,
    sd_hash,
    split_compact,
)
from protocol.status_list import StaticStatusListSource, StatusList, decode_status_list
from protocol.verifier import VerifiedPresentation, VerifierPolicy, verify_presentation

ROOT = Path(__file__).resolve().parents[2]
PRESENTATIONS = ROOT / "tests" / "vectors" / "presentations.json"
JOSE = ROOT / "tests" / "vectors" / "jose.json"
DOC = ROOT / "docs" / "protocol.md"

ISSUER = "https://zz.huxin.cn"
CITY = "zhengzhou"
AUD = "https://shop.example"
NONCE = "n-0S6_WzA2Mj"
STATUS_URI = "https://zz.huxin.cn/status/1"
MISSING_URI = "https://zz.huxin.cn/status/9"
NOW = datetime(2026, 1, 1, 8, tzinfo=UTC)
REVOKED_IDX = 13
SUSPENDED_IDX = 14
LIST_SIZE = 1024
POLICY = VerifierPolicy(allowed_algorithms=frozenset({ES256, EDDSA}))

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# --------------------------------------------------------------------------------------------
# deterministic keys, signers and salts


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"huxin test vector key: {label}".encode()).digest()


def derive_key(label: str, alg: str) -> PrivateKey:
    """A private key derived from ``label``: the same label always gives the same key."""
    seed = _seed(label)
    if alg == ES256:
        return ec.derive_private_key(
            int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1()
        )
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


@dataclass(frozen=True, eq=False)
class DeterministicSigner:
    """A :class:`protocol.jose.Signer` with RFC 6979 ES256 (reproducible signatures)."""

    private_key: PrivateKey

    @property
    def alg(self) -> str:
        return algorithm_for_key(self.private_key)

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key.public_key())

    @property
    def kid(self) -> str:
        return jwk_thumbprint(self.public_jwk)

    def sign(self, data: bytes) -> bytes:
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            der = key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
            r, s = decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return key.sign(data)


def signer(label: str, alg: str = ES256) -> DeterministicSigner:
    return DeterministicSigner(derive_key(label, alg))


def counter_salts(label: str) -> Callable[[], bytes]:
    """A salt source: ``sha-256(label || n)[:16]`` for n = 0, 1, 2, ..."""
    counter = iter(range(1_000_000))
    return lambda: hashlib.sha256(f"{label}:{next(counter)}".encode()).digest()[:16]


ISSUER_ES = signer("issuer es256")
ISSUER_ED = signer("issuer ed25519", EDDSA)
HOLDER_ES = signer("holder es256")
HOLDER_ED = signer("holder ed25519", EDDSA)
ATTACKER = signer("attacker es256")


# --------------------------------------------------------------------------------------------
# building blocks


def _raw_sign(header: Mapping[str, object], payload: bytes, sign: Callable[[bytes], bytes]) -> str:
    si = f"{b64u_encode(json_bytes(header))}.{b64u_encode(payload)}"
    return f"{si}.{b64u_encode(sign(si.encode('ascii')))}"


@dataclass(frozen=True)
class Attestation:
    jwt: str
    disclosures: dict[str, str]


def attestation(
    label: str,
    *,
    claims: CreditClaims = CreditClaims(4, (120, 149)),  # noqa: B008 - frozen
    holder: DeterministicSigner = HOLDER_ES,
    issuer: DeterministicSigner = ISSUER_ES,
    idx: int = 7,
    header: Mapping[str, object] | None = None,
    payload: Mapping[str, object] | None = None,
    drop: Sequence[str] = (),
    extra_sd: Sequence[str] = (),
    raw_payload: Callable[[bytes], bytes] | None = None,
    sign: Callable[[bytes], bytes] | None = None,
) -> Attestation:
    """Issue with the real issuer code, then (for invalid cases) patch and re-sign."""
    issued = issue_attestation(
        issuer,
        issuer=ISSUER,
        scale_id="shangding",
        scale_version="2019.1",
        claims=claims,
        holder_jwk=holder.public_jwk,
        status=StatusRef(STATUS_URI, idx),
        now=NOW,
        salts=counter_salts(label),
    )
    parts = split_compact(issued.sd_jwt)
    disclosures = {parse_disclosure(d).name: d for d in parts.disclosures}
    if not (header or payload or drop or extra_sd or raw_payload or sign):
        return Attestation(parts.issuer_jwt, disclosures)
    jws = decode_jws(parts.issuer_jwt, what="attestation")
    h = {**jws.header, **(header or {})}
    p = {**jws.payload, **(payload or {})}
    for name in drop:
        del p[name]
    if extra_sd:
        sd = p["_sd"]
        assert isinstance(sd, list)
        p["_sd"] = sorted([*sd, *extra_sd])
    body = json_bytes(p)
    if raw_payload is not None:
        body = raw_payload(body)
    return Attestation(_raw_sign(h, body, sign or issuer.sign), disclosures)


def key_bound(
    jwt: str,
    disclosures: Sequence[str],
    *,
    holder: DeterministicSigner = HOLDER_ES,
    iat: datetime = NOW,
    aud: object = AUD,
    nonce: object = NONCE,
    header: Mapping[str, object] | None = None,
    payload: Mapping[str, object] | None = None,
    drop: Sequence[str] = (),
    sign: Callable[[bytes], bytes] | None = None,
) -> str:
    """Append a KB-JWT built by hand (for invalid cases; valid ones use ``present``)."""
    presented = join_sd_jwt(jwt, disclosures)
    h = {"alg": holder.alg, "typ": "kb+jwt", **(header or {})}
    p = {"iat": int(iat.timestamp()), "aud": aud, "nonce": nonce, "sd_hash": sd_hash(presented)}
    p.update(payload or {})
    for name in drop:
        del p[name]
    return presented + _raw_sign(h, json_bytes(p), sign or holder.sign)


def honest(
    label: str,
    request: DisclosureRequest,
    *,
    claims: CreditClaims = CreditClaims(4, (120, 149)),  # noqa: B008 - frozen
    holder: DeterministicSigner = HOLDER_ES,
    issuer: DeterministicSigner = ISSUER_ES,
    idx: int = 7,
    nonce: str | None = NONCE,
    now: datetime = NOW,
) -> str:
    """A presentation made by the real holder code."""
    att = attestation(label, claims=claims, holder=holder, issuer=issuer, idx=idx)
    sd_jwt = join_sd_jwt(att.jwt, list(att.disclosures.values()))
    return present(
        sd_jwt,
        holder,
        request=request,
        audience=AUD,
        nonce=nonce,
        now=now,
        salts=counter_salts(f"{label}/kb"),
    )


def status_lists() -> dict[str, StatusList]:
    return {STATUS_URI: StatusList.build(LIST_SIZE, {REVOKED_IDX: 1, SUSPENDED_IDX: 2}, bits=2)}


# --------------------------------------------------------------------------------------------
# cases


@dataclass(frozen=True)
class Case:
    comment: str
    presentation: str
    error: str | None = None
    issuer_key: DeterministicSigner = ISSUER_ES
    nonce: str | None = NONCE
    now: datetime = NOW
    aud: str = AUD
    seen_before: bool = False
    original: str | None = None


def _swap_sig_high_s(kb_jwt: str) -> str:
    h, p, s = kb_jwt.split(".")
    from protocol.jose import b64u_decode

    raw = b64u_decode(s)
    high = (_P256_ORDER - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    return f"{h}.{p}.{b64u_encode(raw[:32] + high)}"


def cases() -> Iterator[Case]:
    level = DisclosureRequest(level=True)
    # ---- valid
    yield Case("level only, ES256 issuer and holder, nonce mode", honest("v1", level))
    yield Case(
        "level_at_least_3 and band",
        honest("v2", DisclosureRequest(level_at_least=3, band=True)),
    )
    yield Case(
        "EdDSA issuer and EdDSA holder",
        honest("v3", level, issuer=ISSUER_ED, holder=HOLDER_ED),
        issuer_key=ISSUER_ED,
    )
    yield Case(
        "nothing disclosed: proves a valid attestation only", honest("v4", DisclosureRequest())
    )
    yield Case(
        "one-way (gate QR) mode: holder-chosen nonce, fresh iat",
        honest("v5", level, nonce=None),
        nonce=None,
        now=NOW + timedelta(seconds=30),
    )
    yield Case(
        "level 1 holder: every at-least slot (2..5) is a decoy; at least 1 needs no disclosure",
        honest("v6", DisclosureRequest(level=True, level_at_least=1), claims=CreditClaims(1)),
    )
    yield Case(
        "within leeway: verifier clock 59 s behind the issuer",
        honest("v7", level),
        now=NOW - timedelta(seconds=59),
    )

    # ---- size and structure
    yield Case("longer than max_presentation_bytes", "A" * 8193, "too_large")
    base = attestation("s1")
    yield Case(
        "17 disclosures, above max_disclosures",
        key_bound(base.jwt, [base.disclosures["level"]] * 17),
        "too_large",
    )
    yield Case("not an SD-JWT at all", "hello world", "malformed")
    yield Case(
        "issuer payload repeats a member name (iss twice)",
        key_bound(
            attestation(
                "s2",
                raw_payload=lambda b: b.replace(
                    b'"iss":', b'"iss":"https://evil.example","iss":', 1
                ),
            ).jwt,
            [],
        ),
        "malformed",
    )
    yield Case(
        "_sd_alg other than sha-256",
        key_bound(attestation("s3", payload={"_sd_alg": "sha-512"}).jwt, []),
        "malformed",
    )
    yield Case(
        "no key binding JWT (SD-JWT ends in ~)",
        join_sd_jwt(base.jwt, [base.disclosures["level"]]),
        "key_binding_missing",
    )

    # ---- headers
    yield Case(
        "issuer typ is JWT, not dc+sd-jwt",
        key_bound(attestation("h1", header={"typ": "JWT"}).jwt, []),
        "wrong_type",
    )
    yield Case(
        "KB-JWT typ is JWT, not kb+jwt",
        key_bound(base.jwt, [], header={"typ": "JWT"}),
        "wrong_type",
    )
    yield Case(
        "vct is not the huxin credit-level type",
        key_bound(attestation("h2", payload={"vct": "urn:example:other"}).jwt, []),
        "wrong_type",
    )
    for name, value in (
        ("jwk", ATTACKER.public_jwk),
        ("jku", "https://evil.example/jwks"),
        ("x5u", "https://evil.example/cert.pem"),
        ("x5c", ["MIIBfake"]),
    ):
        forged = attestation(
            f"h-{name}", header={name: value, "kid": ATTACKER.kid}, sign=ATTACKER.sign
        )
        yield Case(
            f"attacker-signed, header {name} supplies the attacker's key",
            key_bound(forged.jwt, []),
            "forbidden_header",
        )
    yield Case(
        "unknown critical header",
        key_bound(attestation("h3", header={"crit": ["exp"]}).jwt, []),
        "forbidden_header",
    )
    yield Case(
        "alg none, empty signature",
        key_bound(attestation("h4", header={"alg": "none"}, sign=lambda _: b"").jwt, []),
        "alg_not_allowed",
    )
    pem = ISSUER_ES.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    yield Case(
        "HS256 keyed with the issuer's public key (PEM)",
        key_bound(
            attestation(
                "h5",
                header={"alg": "HS256"},
                sign=lambda d: hmac.new(pem, d, hashlib.sha256).digest(),
            ).jwt,
            [],
        ),
        "alg_not_allowed",
    )
    yield Case(
        "alg ES384, outside the allowlist",
        key_bound(attestation("h6", header={"alg": "ES384"}).jwt, []),
        "alg_not_allowed",
    )
    yield Case(
        "KB-JWT alg EdDSA for a P-256 cnf.jwk",
        key_bound(base.jwt, [], header={"alg": EDDSA}),
        "alg_not_allowed",
    )

    # ---- keys and signatures
    yield Case(
        "iss is not a trusted issuer",
        key_bound(attestation("k1", payload={"iss": "https://evil.example"}).jwt, []),
        "untrusted_issuer",
    )
    yield Case(
        "kid of a key the issuer does not have",
        key_bound(attestation("k2", header={"kid": ATTACKER.kid}, sign=ATTACKER.sign).jwt, []),
        "unknown_key",
    )
    good = honest("k3", level)
    jwt, rest = good.split("~", 1)
    h, _, s = jwt.split(".")
    tampered = decode_jws(jwt, what="a").payload
    tampered["scale"] = {"id": "qianjiang", "version": "2018"}
    yield Case(
        "payload changed after signing (scale)",
        f"{h}.{b64u_encode(json_bytes(tampered))}.{s}~{rest}",
        "bad_signature",
    )

    # ---- time and claims
    later = NOW + timedelta(hours=25)
    yield Case("attestation expired", honest("t1", level, now=later), "expired", now=later)
    yield Case(
        "attestation iat an hour in the future",
        key_bound(attestation("t2", payload={"iat": int(NOW.timestamp()) + 3600}).jwt, []),
        "not_yet_valid",
    )
    yield Case(
        "attestation nbf an hour in the future",
        key_bound(attestation("t3", payload={"nbf": int(NOW.timestamp()) + 3600}).jwt, []),
        "not_yet_valid",
    )
    yield Case(
        "no cnf claim",
        key_bound(attestation("t4", drop=("cnf",)).jwt, []),
        "missing_claim",
    )
    yield Case(
        "no status claim",
        key_bound(attestation("t5", drop=("status",)).jwt, []),
        "missing_claim",
    )

    # ---- disclosures
    forged_level = make_disclosure("level", 5, hashlib.sha256(b"forged").digest()[:16])
    yield Case(
        "a disclosure the issuer never signed (level 5)",
        key_bound(base.jwt, [forged_level.encoded]),
        "bad_disclosure",
    )
    foreign = attestation("d1", claims=CreditClaims(5))
    yield Case(
        "a level_at_least_5 disclosure from another attestation",
        key_bound(base.jwt, [foreign.disclosures["level_at_least_5"]]),
        "bad_disclosure",
    )
    yield Case(
        "the same disclosure twice",
        key_bound(base.jwt, [base.disclosures["level"]] * 2),
        "bad_disclosure",
    )
    evil_iss = make_disclosure("iss", "https://evil.example", hashlib.sha256(b"i").digest()[:16])
    yield Case(
        "a signed disclosure that would override iss",
        key_bound(attestation("d2", extra_sd=(evil_iss.digest,)).jwt, [evil_iss.encoded]),
        "bad_disclosure",
    )
    yield Case(
        "the same digest twice in _sd",
        key_bound(attestation("d3", extra_sd=(forged_level.digest, forged_level.digest)).jwt, []),
        "bad_disclosure",
    )

    # ---- key binding
    yield Case(
        "KB-JWT signed by a key other than cnf.jwk",
        key_bound(base.jwt, [base.disclosures["level"]], sign=ATTACKER.sign),
        "key_binding_invalid",
    )
    a = key_bound(base.jwt, [base.disclosures["level"]])
    b = key_bound(base.jwt, [base.disclosures["band"]])
    yield Case(
        "KB-JWT of another presentation (sd_hash mismatch)",
        a.rsplit("~", 1)[0] + "~" + b.rsplit("~", 1)[1],
        "key_binding_invalid",
    )
    yield Case(
        "KB-JWT aud is another merchant",
        key_bound(base.jwt, [], aud="https://other.example"),
        "wrong_audience",
    )
    yield Case(
        "KB-JWT aud is an array",
        key_bound(base.jwt, [], aud=[AUD]),
        "wrong_audience",
    )
    yield Case(
        "KB-JWT nonce is not the verifier's",
        key_bound(base.jwt, [], nonce="some-other-nonce"),
        "wrong_nonce",
    )
    yield Case(
        "KB-JWT iat older than key_binding_max_age (5 min + leeway)",
        key_bound(base.jwt, [], iat=NOW - timedelta(minutes=7)),
        "stale",
    )
    yield Case(
        "one-way KB-JWT older than one_way_max_age (60 s + leeway)",
        honest("b1", level, nonce=None),
        "stale",
        nonce=None,
        now=NOW + timedelta(seconds=121),
    )
    yield Case(
        "KB-JWT iat ten minutes in the future",
        key_bound(base.jwt, [], iat=NOW + timedelta(minutes=10)),
        "not_yet_valid",
    )
    one_way = honest("b2", level, nonce=None)
    yield Case(
        "one-way presentation shown a second time",
        one_way,
        "replayed",
        nonce=None,
        seen_before=True,
    )
    head, kb = one_way.rsplit("~", 1)
    yield Case(
        "one-way replay with the ECDSA signature rewritten to (r, n - s)",
        f"{head}~{_swap_sig_high_s(kb)}",
        "replayed",
        nonce=None,
        seen_before=True,
        original=one_way,
    )

    # ---- status
    yield Case(
        "status INVALID (revoked)",
        honest("st1", level, idx=REVOKED_IDX),
        "revoked",
    )
    yield Case(
        "status SUSPENDED",
        honest("st2", level, idx=SUSPENDED_IDX),
        "revoked",
    )
    yield Case(
        "status index beyond the list",
        honest("st3", level, idx=LIST_SIZE),
        "status_index_out_of_range",
    )
    yield Case(
        "status list URI the verifier has no list for",
        key_bound(
            attestation(
                "st4",
                payload={"status": {"status_list": {"idx": 7, "uri": MISSING_URI}}},
            ).jwt,
            [],
        ),
        "status_unavailable",
    )

    # ---- the compact QR form (docs/protocol.md section 7.1). Its DEFLATE bytes come from this
    # machine's zlib; another zlib may pack differently, and every packing expands the same.
    yield Case(
        "compact QR form (HX1:) of a level-only presentation",
        compact_presentation(honest("q1", level)),
    )
    yield Case(
        "compact QR form, one-way (gate QR) mode",
        compact_presentation(honest("q2", level, nonce=None)),
        nonce=None,
        now=NOW + timedelta(seconds=30),
    )
    packed = compact_presentation(honest("q3", level))
    at = next(n for n, c in enumerate(packed) if n > 10 and c.isalpha())
    yield Case(
        "compact QR form with a lower-case character (outside Base45)",
        packed[:at] + packed[at].lower() + packed[at + 1 :],
        "malformed",
    )
    body = b45decode(packed[len(COMPACT_PREFIX) :])
    yield Case(
        "compact QR form with one side byte too many",
        COMPACT_PREFIX + b45encode(body + b"\x00"),
        "malformed",
    )
    yield Case(
        "compact QR form whose DEFLATE skeleton expands beyond max_presentation_bytes",
        _compact_bomb(),
        "too_large",
    )
    full = honest("q4", level)
    yield Case(
        "compact QR form of a presentation whose issuer payload was altered",
        compact_presentation(full.replace(full.split(".")[1], _tamper(full.split(".")[1]), 1)),
        "bad_signature",
    )


def _tamper(segment: str) -> str:
    """A payload segment with iat one second later: valid JSON, no longer what was signed."""
    from protocol.jose import b64u_decode, b64u_encode

    data = b64u_decode(segment)
    return b64u_encode(data.replace(b'"iat":17', b'"iat":27', 1))


def _compact_bomb() -> str:
    """``HX1:`` text whose skeleton inflates to 1 MB of spaces (a DEFLATE bomb)."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    packed = packer.compress(b"{" + b" " * 1_000_000 + b"}") + packer.flush()
    return COMPACT_PREFIX + b45encode(len(packed).to_bytes(2, "big") + packed)


# --------------------------------------------------------------------------------------------
# running a case (the loader in tests uses the same function)


def run_case(
    case: Mapping[str, object],
    lists: Mapping[str, StatusList],
    issuer: str = ISSUER,
    city: str = CITY,
) -> VerifiedPresentation:
    """Verify one JSON case as a verifier would; returns the result or raises its error."""
    from protocol.jose import public_key_from_jwk

    jwk = case["issuer_jwk"]
    assert isinstance(jwk, dict)
    keys = StaticKeyResolver.of({issuer: public_key_from_jwk(jwk)}, city=city)
    now = case["now"]
    presentation, aud, nonce = case["presentation"], case["aud"], case["nonce"]
    assert isinstance(now, int)
    assert isinstance(presentation, str)
    assert isinstance(aud, str)
    assert nonce is None or isinstance(nonce, str)
    when = datetime.fromtimestamp(now, UTC)
    replay = MemoryReplayCache()
    source = StaticStatusListSource(lists)

    def once() -> VerifiedPresentation:
        return verify_presentation(
            presentation,
            keys=keys,
            audience=aud,
            nonce=nonce,
            status=source,
            now=when,
            policy=POLICY,
            replay=replay,
        )

    if case.get("seen_before"):
        # The honest original is accepted first; the case input is what comes next.
        original = case.get("original", presentation)
        assert isinstance(original, str)
        verify_presentation(
            original, keys=keys, audience=aud, nonce=nonce, status=source, now=when,
            policy=POLICY, replay=replay,
        )  # fmt: skip
    return once()


def disclosed_json(result: VerifiedPresentation) -> dict[str, object]:
    return dict(result.disclosed)


def build_presentations() -> dict[str, object]:
    lists = status_lists()
    out_cases: list[dict[str, object]] = []
    for n, case in enumerate(cases(), start=1):
        entry: dict[str, object] = {
            "tcId": n,
            "comment": case.comment,
            "now": int(case.now.timestamp()),
            "issuer_jwk": case.issuer_key.public_jwk,
            "presentation": case.presentation,
            "aud": case.aud,
            "nonce": case.nonce,
        }
        if case.seen_before:
            entry["seen_before"] = True
        if case.original is not None:
            entry["original"] = case.original
        try:
            result = run_case(entry, lists)
        except ProtocolError as err:
            if err.code != case.error:
                raise AssertionError(
                    f"tc {n}: expected {case.error}, got {err.code}: {err}"
                ) from err
            entry.update(result="invalid", error=err.code)
        else:
            if case.error is not None:
                raise AssertionError(f"tc {n}: expected {case.error}, got valid")
            entry.update(result="valid", error=None, disclosed=disclosed_json(result))
        out_cases.append(entry)
    return {
        "description": "huxin presentations (SD-JWT+KB credit attestations) and their verdicts",
        "spec": "docs/protocol.md; RFC 9901; draft-ietf-oauth-sd-jwt-vc; RFC 8725",
        "generator": "tests/vectors/generate.py",
        "notes": (
            "Run every case through verify_presentation with the keys {issuer: issuer_jwk}, "
            "the status lists below, the policy below and a fresh replay cache per case. "
            "seen_before: first verify 'original' (or the presentation itself) with the same "
            "replay cache, then the case. Errors are the codes of docs/protocol.md."
        ),
        "issuer": ISSUER,
        "city": CITY,
        "policy": {
            "allowed_algorithms": sorted(POLICY.allowed_algorithms),
            "leeway": int(POLICY.leeway.total_seconds()),
            "max_presentation_bytes": POLICY.max_presentation_bytes,
            "key_binding_max_age": int(POLICY.key_binding_max_age.total_seconds()),
            "one_way_max_age": int(POLICY.one_way_max_age.total_seconds()),
            "max_disclosures": POLICY.max_disclosures,
        },
        "status_lists": {uri: lst.encode() for uri, lst in lists.items()},
        "numberOfTests": len(out_cases),
        "cases": out_cases,
    }


def load_status_lists(doc: Mapping[str, object]) -> dict[str, StatusList]:
    raw = doc["status_lists"]
    assert isinstance(raw, dict)
    return {uri: decode_status_list(obj) for uri, obj in raw.items()}


# --------------------------------------------------------------------------------------------
# jose.json: the RFC 8037 example


RFC8037_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def build_jose() -> dict[str, object]:
    tampered = RFC8037_JWS.replace(
        "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc", "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmd"
    )
    es = signer("jose es256")
    es_jws = _raw_sign({"alg": ES256}, b"huxin", es.sign)
    return {
        "description": "JWS signature vectors for protocol.jose.verify_signature",
        "generator": "tests/vectors/generate.py",
        "notes": "Verify the compact JWS under jwk with alg from the header and allowlist "
        "{ES256, EdDSA}; thumbprint is the RFC 7638 thumbprint of jwk.",
        "numberOfTests": 3,
        "cases": [
            {
                "tcId": 1,
                "comment": "RFC 8037 A.4: Ed25519 signature of 'Example of Ed25519 signing'",
                "origin": "RFC 8037 appendix A.2-A.4",
                "jwk": RFC8037_JWK,
                "thumbprint": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
                "jws": RFC8037_JWS,
                "result": "valid",
                "error": None,
            },
            {
                "tcId": 2,
                "comment": "RFC 8037 example with the payload's last character changed",
                "jwk": RFC8037_JWK,
                "thumbprint": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
                "jws": tampered,
                "result": "invalid",
                "error": "bad_signature",
            },
            {
                "tcId": 3,
                "comment": "ES256 (RFC 6979 deterministic) over 'huxin'",
                "jwk": es.public_jwk,
                "thumbprint": es.kid,
                "jws": es_jws,
                "result": "valid",
                "error": None,
            },
        ],
    }


# --------------------------------------------------------------------------------------------
# docs/protocol.md generated sections


def render_error_table() -> str:
    rows = [
        "| code | class | kind | meaning |",
        "|---|---|---|---|",
    ]
    for code in sorted(ERROR_CLASSES):
        cls = ERROR_CLASSES[code]
        if cls in (ProtocolError, InvalidTokenError, UnavailableError):
            kind = "root"
        elif issubclass(cls, UnavailableError):
            kind = "unavailable"
        elif issubclass(cls, InvalidTokenError):
            kind = "invalid"
        else:
            kind = "request (issuer or wallet side)"
        doc = (cls.__doc__ or "").strip().splitlines()[0].replace("|", "\\|").replace("``", "`")
        rows.append(f"| `{code}` | `{cls.__name__}` | {kind} | {doc} |")
    return "\n".join(rows)


def _pretty_jwt(token: str) -> str:
    jws = decode_jws(token, what="example")
    return (
        "header:\n\n```json\n" + json.dumps(jws.header, indent=2, ensure_ascii=False) + "\n```\n\n"
        "payload:\n\n```json\n" + json.dumps(jws.payload, indent=2, ensure_ascii=False) + "\n```"
    )


def render_examples(doc: Mapping[str, object]) -> str:
    raw_cases = doc["cases"]
    assert isinstance(raw_cases, list)
    first = raw_cases[0]
    text = first["presentation"]
    parts = split_compact(text)
    assert parts.kb_jwt is not None
    lines = [
        f"Vector tcId 1 of `tests/vectors/presentations.json` ({first['comment']}); "
        f"verified at `now` = {first['now']} with `aud` = `{first['aud']}` and "
        f"`nonce` = `{first['nonce']}`. It is {len(text)} bytes long.",
        "",
        "The presentation:",
        "",
        "```text",
        *(text[i : i + 96] for i in range(0, len(text), 96)),
        "```",
        "",
        "Issuer-signed JWT, decoded:",
        "",
        _pretty_jwt(parts.issuer_jwt),
        "",
        "Disclosures presented:",
        "",
    ]
    for d in parts.disclosures:
        disc = parse_disclosure(d)
        lines.append(
            f"- `{d}` = `{json.dumps([disc.salt, disc.name, disc.value])}`, digest `{disc.digest}`"
        )
    lines += ["", "Key Binding JWT, decoded:", "", _pretty_jwt(parts.kb_jwt)]
    return "\n".join(lines)


def render_size() -> str:
    rows = [
        "| attestation | level-only presentation (bytes), levels 1..5 | its compact QR form |",
        "|---|---|---|",
    ]
    parts_row = ""
    for band in (None, (120, 149)):
        sizes, compact = [], []
        for level in range(1, 6):
            text = honest(
                f"size{level}{band}",
                DisclosureRequest(level=True),
                claims=CreditClaims(level, band),
            )
            sizes.append(len(text))
            compact.append(len(compact_presentation(text)))
            if level == 4 and band:
                parts = split_compact(text)
                assert parts.kb_jwt is not None
                h, p, s = parts.issuer_jwt.split(".")
                kh, kp, ks = parts.kb_jwt.split(".")
                seps = len(text) - len(h + p + s + kh + kp + ks + parts.disclosures[0])
                parts_row = (
                    f"Breakdown (level 4, with band): issuer header {len(h)}, issuer payload "
                    f"{len(p)}, issuer signature {len(s)}, Disclosure {len(parts.disclosures[0])}, "
                    f"KB-JWT header {len(kh)}, KB-JWT payload {len(kp)}, KB-JWT signature "
                    f"{len(ks)}, separators {seps}."
                )
        label = "with `band` (6 digests)" if band else "without `band` (5 digests)"
        rows.append(f"| {label} | {', '.join(map(str, sizes))} | {', '.join(map(str, compact))} |")
    return "\n".join([*rows, "", parts_row])


def _splice(doc_text: str, name: str, body: str) -> str:
    begin = f"<!-- BEGIN GENERATED: {name} (tests/vectors/generate.py) -->"
    end = f"<!-- END GENERATED: {name} -->"
    head, sep, rest = doc_text.partition(begin)
    if not sep:
        raise SystemExit(f"{DOC}: marker {begin!r} missing")
    _, sep2, tail = rest.partition(end)
    if not sep2:
        raise SystemExit(f"{DOC}: marker {end!r} missing")
    return f"{head}{begin}\n{body}\n{end}{tail}"


def render_doc(doc_text: str, presentations: Mapping[str, object]) -> str:
    doc_text = _splice(doc_text, "errors", render_error_table())
    doc_text = _splice(doc_text, "size", render_size())
    return _splice(doc_text, "examples", render_examples(presentations))


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def outputs() -> dict[Path, str]:
    presentations = build_presentations()
    return {
        PRESENTATIONS: dump(presentations),
        JOSE: dump(build_jose()),
        DOC: render_doc(DOC.read_text(encoding="utf-8"), presentations),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("out of date: " + ", ".join(str(p.relative_to(ROOT)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
