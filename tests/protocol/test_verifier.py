"""Verifier: every processing rule, every error code, and one test per known JWT attack."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from protocol.attestation import CreditClaims
from protocol.errors import ERROR_CLASSES, ProtocolError
from protocol.jose import EDDSA, ES256, KeySigner, b64u_decode, b64u_encode, json_bytes
from protocol.presentation import DisclosureRequest
from protocol.replay import MemoryReplayCache
from protocol.sdjwt import (
    decode_jws,
    join_sd_jwt,
    make_disclosure,
    parse_disclosure,
    sd_hash,
    split_compact,
)
from protocol.verifier import VerifiedPresentation, VerifierPolicy, verify_presentation
from tests.protocol.sdjwt_support import (
    AUDIENCE,
    BOTH_ALGS,
    ISSUER,
    NONCE,
    NOW,
    STATUS_URI,
    World,
    make_world,
    status_list,
)

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def verify(
    w: World,
    presentation: str | bytes,
    *,
    nonce: str | None = NONCE,
    now: datetime = NOW,
    policy: VerifierPolicy | None = None,
    replay: MemoryReplayCache | None = None,
    audience: str = AUDIENCE,
) -> VerifiedPresentation:
    return verify_presentation(
        presentation,
        keys=w.keys,
        audience=audience,
        nonce=nonce,
        status=w.status,
        now=now,
        policy=policy or VerifierPolicy(),
        replay=replay if replay is not None else (MemoryReplayCache() if nonce is None else None),
    )


def expect(code: str, w: World, presentation: str | bytes, **kwargs: object) -> ProtocolError:
    assert code in ERROR_CLASSES
    with pytest.raises(ProtocolError) as info:
        verify(w, presentation, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == code, info.value.message
    return info.value


def _raw_sign(
    header: Mapping[str, object], payload: Mapping[str, object], sign: Callable[[bytes], bytes]
) -> str:
    si = f"{b64u_encode(json_bytes(header))}.{b64u_encode(json_bytes(payload))}"
    return f"{si}.{b64u_encode(sign(si.encode()))}"


def craft(
    w: World,
    *,
    claims: CreditClaims | None = None,
    header: Mapping[str, object] | None = None,
    payload: Mapping[str, object] | None = None,
    drop: tuple[str, ...] = (),
    extra_sd: tuple[str, ...] = (),
    names: tuple[str, ...] = ("level",),
    extra_disclosures: tuple[str, ...] = (),
    issuer_sign: Callable[[bytes], bytes] | None = None,
    kb_header: Mapping[str, object] | None = None,
    kb_payload: Mapping[str, object] | None = None,
    kb_drop: tuple[str, ...] = (),
    kb_signer: KeySigner | None = None,
    kb_sign: Callable[[bytes], bytes] | None = None,
) -> str:
    """Re-sign a real attestation after patching it; build a KB-JWT over the result."""
    att = w.issue(claims)
    parts = split_compact(att.sd_jwt)
    jws = decode_jws(parts.issuer_jwt, what="a")
    h = {**jws.header, **(header or {})}
    p = {**jws.payload, **(payload or {})}
    for name in drop:
        p.pop(name, None)
    if extra_sd:
        sd = p["_sd"]
        assert isinstance(sd, list)
        p["_sd"] = sorted([*sd, *extra_sd])
    jwt = _raw_sign(h, p, issuer_sign or w.issuer.sign)
    chosen = [d for d in parts.disclosures if parse_disclosure(d).name in names]
    presented = join_sd_jwt(jwt, [*chosen, *extra_disclosures])
    holder = kb_signer or w.holder
    kh = {"alg": holder.alg, "typ": "kb+jwt", **(kb_header or {})}
    kp: dict[str, object] = {
        "iat": int(NOW.timestamp()),
        "aud": AUDIENCE,
        "nonce": NONCE,
        "sd_hash": sd_hash(presented),
        **(kb_payload or {}),
    }
    for name in kb_drop:
        kp.pop(name, None)
    return presented + _raw_sign(kh, kp, kb_sign or holder.sign)


# --------------------------------------------------------------------------------------------
# the happy paths


def test_valid_presentation() -> None:
    w = make_world()
    result = verify(w, w.present(DisclosureRequest(level=True, band=True)))
    assert result.issuer == ISSUER
    assert result.city == "zhengzhou"
    assert result.kid == w.issuer.kid
    assert (result.scale_id, result.scale_version) == ("shangding", "2019.1")
    assert result.level == 4
    assert result.band == (120, 149)
    assert result.level_at_least == frozenset()
    assert dict(result.disclosed) == {"level": 4, "band": [120, 149]}
    assert result.status.uri == STATUS_URI
    assert result.expires_at - result.issued_at == timedelta(hours=24)
    with pytest.raises(TypeError):
        result.disclosed["level"] = 5  # type: ignore[index]


def test_valid_at_least_and_bytes_input() -> None:
    w = make_world()
    text = w.present(DisclosureRequest(level_at_least=2))
    result = verify(w, text.encode())
    assert result.level is None
    assert result.level_at_least == frozenset({2})
    assert dict(result.disclosed) == {"level_at_least_2": True}


@pytest.mark.parametrize(
    ("issuer_alg", "holder_alg"), [(EDDSA, EDDSA), (ES256, EDDSA), (EDDSA, ES256)]
)
def test_eddsa_when_allowed(issuer_alg: str, holder_alg: str) -> None:
    w = make_world(issuer_alg, holder_alg)
    text = w.present()
    assert verify(w, text, policy=VerifierPolicy(allowed_algorithms=BOTH_ALGS)).level == 4
    expect("alg_not_allowed", w, text)


def test_leeway_is_honoured() -> None:
    w = make_world()
    text = w.present(now=NOW)
    verify(w, text, now=NOW - timedelta(seconds=59))
    expect("not_yet_valid", w, text, now=NOW - timedelta(seconds=61))
    late = w.present(now=NOW + timedelta(hours=24, seconds=30))
    verify(w, late, now=NOW + timedelta(hours=24, seconds=30))


# --------------------------------------------------------------------------------------------
# structure and size


def test_size_limit_before_parsing() -> None:
    w = make_world()
    expect("too_large", w, "x" * 9000)
    expect("too_large", w, w.present(), policy=VerifierPolicy(max_presentation_bytes=500))
    expect("too_large", w, "a~" * 20 + "k", policy=VerifierPolicy(max_disclosures=16))


@pytest.mark.parametrize(
    "text", ["", "garbage", "a.b~k.b.s", "a.b.c~k.b.s", "e30~~k.b.s", "é~x", b"\xff~x"]
)
def test_malformed(text: str | bytes) -> None:
    expect("malformed", make_world(), text)


def test_key_binding_missing() -> None:
    w = make_world()
    att = w.issue()
    expect("key_binding_missing", w, att.sd_jwt)
    first = split_compact(att.sd_jwt)
    expect("key_binding_missing", w, join_sd_jwt(first.issuer_jwt, first.disclosures[:1]))


# --------------------------------------------------------------------------------------------
# headers: typ, key-supplying headers, crit, algorithms (attacks)


@pytest.mark.parametrize("typ", ["JWT", "example+sd-jwt", "vc+sd-jwt", None])
def test_issuer_typ_must_be_exact(typ: str | None) -> None:
    w = make_world()
    expect("wrong_type", w, craft(w, header={"typ": typ}))


def test_kb_typ_must_be_exact() -> None:
    w = make_world()
    expect("wrong_type", w, craft(w, kb_header={"typ": "JWT"}))
    expect("wrong_type", w, craft(w, kb_header={"typ": "dc+sd-jwt"}))


def test_vct_must_be_accepted() -> None:
    w = make_world()
    expect("wrong_type", w, craft(w, payload={"vct": "urn:other"}))


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_attack_header_supplied_keys(name: str) -> None:
    """An attacker points the verifier at their own key; the header alone decides nothing."""
    w = make_world()
    attacker = KeySigner.generate()
    value: object = attacker.public_jwk if name == "jwk" else "https://evil.example/k"
    if name == "x5c":
        value = ["MIIB"]
    expect(
        "forbidden_header",
        w,
        craft(w, header={name: value, "kid": attacker.kid}, issuer_sign=attacker.sign),
    )
    expect("forbidden_header", w, craft(w, kb_header={name: value}))


def test_unknown_crit_is_refused() -> None:
    w = make_world()
    expect("forbidden_header", w, craft(w, header={"crit": ["exp"]}))
    expect("forbidden_header", w, craft(w, kb_header={"crit": ["x"], "x": 1}))


def _bypassed_policy(algorithms: frozenset[str]) -> VerifierPolicy:
    """A policy whose allowlist names algorithms the constructor refuses (defence in depth)."""
    policy = VerifierPolicy()
    object.__setattr__(policy, "allowed_algorithms", algorithms)
    return policy


def test_attack_alg_none() -> None:
    w = make_world()
    expect("alg_not_allowed", w, craft(w, header={"alg": "none"}, issuer_sign=lambda _: b""))
    expect("alg_not_allowed", w, craft(w, kb_header={"alg": "none"}, kb_sign=lambda _: b""))
    with pytest.raises(ValueError, match="allowed_algorithms"):
        VerifierPolicy(allowed_algorithms=frozenset({ES256, "none"}))
    both = _bypassed_policy(frozenset({ES256, "none"}))
    expect(
        "alg_not_allowed",
        w,
        craft(w, header={"alg": "none"}, issuer_sign=lambda _: b""),
        policy=both,
    )


def test_attack_hs256_with_the_public_key_as_secret() -> None:
    """CVE-2015-9235 style: HMAC keyed with the issuer's public key bytes."""
    w = make_world()
    pem = w.issuer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def hs256(data: bytes) -> bytes:
        return hmac.new(pem, data, hashlib.sha256).digest()

    forged = craft(w, header={"alg": "HS256"}, issuer_sign=hs256)
    expect("alg_not_allowed", w, forged)
    # The policy refuses HS256; even an allowlist forced to name it cannot verify an HMAC.
    with pytest.raises(ValueError, match="allowed_algorithms"):
        VerifierPolicy(allowed_algorithms=frozenset({ES256, "HS256"}))
    lax = _bypassed_policy(frozenset({ES256, "HS256"}))
    expect("alg_not_allowed", w, forged, policy=lax)
    forged_kb = craft(w, kb_header={"alg": "HS256"}, kb_sign=hs256)
    expect("alg_not_allowed", w, forged_kb, policy=lax)


@pytest.mark.parametrize("alg", ["ES384", "RS256", "PS256", "ES256K"])
def test_attack_alg_outside_allowlist(alg: str) -> None:
    w = make_world()
    expect("alg_not_allowed", w, craft(w, header={"alg": alg}))


def test_alg_must_match_the_key() -> None:
    w = make_world()
    text = craft(w, header={"alg": EDDSA})
    expect("alg_not_allowed", w, text, policy=VerifierPolicy(allowed_algorithms=BOTH_ALGS))
    kb = craft(w, kb_header={"alg": EDDSA})
    expect("alg_not_allowed", w, kb, policy=VerifierPolicy(allowed_algorithms=BOTH_ALGS))


# --------------------------------------------------------------------------------------------
# keys and signatures


def test_unknown_key_and_untrusted_issuer() -> None:
    w = make_world()
    other = KeySigner.generate()
    expect("unknown_key", w, craft(w, header={"kid": other.kid}, issuer_sign=other.sign))
    expect("untrusted_issuer", w, craft(w, payload={"iss": "https://evil.example"}))
    expect("missing_claim", w, craft(w, drop=("iss",)))
    expect("malformed", w, craft(w, header={"kid": 5}))


def test_attack_tampered_payload() -> None:
    w = make_world()
    text = w.present()
    jwt, rest = text.split("~", 1)
    h, _, s = jwt.split(".")
    payload = decode_jws(jwt, what="a").payload
    payload["scale"] = {"id": "qianjiang", "version": "2018"}
    tampered = f"{h}.{b64u_encode(json_bytes(payload))}.{s}~{rest}"
    expect("bad_signature", w, tampered)


def test_attack_tampered_signature() -> None:
    w = make_world()
    text = w.present()
    jwt, rest = text.split("~", 1)
    h, p, s = jwt.split(".")
    sig = bytearray(b64u_decode(s))
    sig[5] ^= 1
    expect("bad_signature", w, f"{h}.{p}.{b64u_encode(bytes(sig))}~{rest}")
    expect("bad_signature", w, f"{h}.{p}.{b64u_encode(bytes(sig[:10]))}~{rest}")


# --------------------------------------------------------------------------------------------
# time and required claims


def test_expired_and_not_yet_valid() -> None:
    w = make_world()
    later = NOW + timedelta(hours=25)
    expect("expired", w, w.present(now=later), now=later)
    expect("not_yet_valid", w, craft(w, payload={"iat": int(NOW.timestamp()) + 3600}))
    expect("not_yet_valid", w, craft(w, payload={"nbf": int(NOW.timestamp()) + 3600}))
    verify(w, craft(w, payload={"nbf": int(NOW.timestamp())}))


@pytest.mark.parametrize("name", ["iat", "exp", "vct", "cnf", "status", "scale"])
def test_required_claims(name: str) -> None:
    w = make_world()
    expect("missing_claim", w, craft(w, drop=(name,)))


@pytest.mark.parametrize(
    "patch",
    [
        {"iat": "yesterday"},
        {"exp": True},
        {"exp": 10**20},
        {"vct": 3},
        {"cnf": {"jwk": {"kty": "EC"}}},
        {"cnf": {"jwk": {"kty": "EC", "crv": "P-256", "x": 1, "y": 2}}},
        {"cnf": "key"},
        {"scale": {"id": 1, "version": "2"}},
        {"_sd_alg": "sha-512"},
    ],
)
def test_claim_types(patch: dict[str, object]) -> None:
    w = make_world()
    expect("malformed", w, craft(w, payload=patch))


def test_explicit_sha256_sd_alg_is_accepted() -> None:
    # Issuers omit _sd_alg (RFC 9901: absent means sha-256); an explicit "sha-256" is fine too.
    w = make_world()
    assert verify(w, craft(w, payload={"_sd_alg": "sha-256"})).issuer == ISSUER


@pytest.mark.parametrize(
    "status",
    [
        {"status_list": {"idx": -1, "uri": STATUS_URI}},
        {"status_list": {"idx": "7", "uri": STATUS_URI}},
        {"status_list": {"idx": 7}},
        {"status_list": "x"},
    ],
)
def test_malformed_status_reference(status: object) -> None:
    w = make_world()
    expect("status_index_out_of_range", w, craft(w, payload={"status": status}))


# --------------------------------------------------------------------------------------------
# disclosures (attacks)


def test_attack_tampered_disclosure() -> None:
    w = make_world()
    text = w.present()
    jwt, disclosure, kb = text.split("~")
    forged = make_disclosure("level", 5, b"\x00" * 16).encoded
    expect("bad_disclosure", w, craft(w, names=(), extra_disclosures=(forged,)))
    flipped = disclosure[:-2] + ("A" if disclosure[-2] != "A" else "B") + disclosure[-1]
    expect("bad_disclosure", w, craft(w, names=(), extra_disclosures=(flipped,)))
    del jwt, kb


def test_attack_foreign_disclosure() -> None:
    """A level-5 disclosure from another resident's attestation, spliced into ours."""
    w = make_world()
    other = w.issue(CreditClaims(5))
    foreign = next(
        d for d in split_compact(other.sd_jwt).disclosures if b"level_at_least_5" in b64u_decode(d)
    )
    expect(
        "bad_disclosure",
        w,
        craft(w, claims=CreditClaims(3), names=(), extra_disclosures=(foreign,)),
    )


def test_duplicate_disclosure_and_digest() -> None:
    w = make_world()
    level = make_disclosure("level", 4, b"\x01" * 16)
    expect(
        "bad_disclosure",
        w,
        craft(
            w, names=(), extra_sd=(level.digest,), extra_disclosures=(level.encoded, level.encoded)
        ),
    )
    expect("bad_disclosure", w, craft(w, names=(), extra_sd=(level.digest, level.digest)))


def test_disclosure_may_not_override_a_signed_claim() -> None:
    w = make_world()
    iss = make_disclosure("iss", "https://evil.example", b"\x02" * 16)
    expect(
        "bad_disclosure",
        w,
        craft(w, names=(), extra_sd=(iss.digest,), extra_disclosures=(iss.encoded,)),
    )
    vct = make_disclosure("vct", "x", b"\x03" * 16)
    expect(
        "bad_disclosure",
        w,
        craft(w, names=(), extra_sd=(vct.digest,), extra_disclosures=(vct.encoded,)),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("level", 9), ("level", "4"), ("level_at_least_2", False), ("band", [3]), ("band", [5, 1])],
)
def test_disclosed_value_types(name: str, value: object) -> None:
    w = make_world()
    d = make_disclosure(name, value, b"\x04" * 16)  # type: ignore[arg-type]
    expect("malformed", w, craft(w, names=(), extra_sd=(d.digest,), extra_disclosures=(d.encoded,)))


def test_disclosed_booleans_must_agree_with_level() -> None:
    w = make_world()
    d = make_disclosure("level_at_least_5", True, b"\x05" * 16)
    expect(
        "malformed",
        w,
        craft(w, claims=CreditClaims(3), extra_sd=(d.digest,), extra_disclosures=(d.encoded,)),
    )


# --------------------------------------------------------------------------------------------
# key binding (attacks)


def test_attack_key_binding_by_another_key() -> None:
    w = make_world()
    expect("key_binding_invalid", w, craft(w, kb_signer=KeySigner.generate()))


def test_kb_sd_hash_must_cover_the_presented_disclosures() -> None:
    w = make_world()
    att = w.issue()
    a = w.present(DisclosureRequest(level=True), attestation=att)
    b = w.present(DisclosureRequest(band=True), attestation=att)
    spliced = a.rsplit("~", 1)[0] + "~" + b.rsplit("~", 1)[1]
    expect("key_binding_invalid", w, spliced)
    expect("key_binding_invalid", w, craft(w, kb_payload={"sd_hash": "x"}))
    expect("key_binding_invalid", w, craft(w, kb_drop=("sd_hash",)))


@pytest.mark.parametrize(
    "kb", ["x", "a.b", "a.b.c", "e30.e30.AA", "eyJ0eXAiOiJrYitqd3QiLCJhbGciOiJFUzI1NiJ9.%%.AA"]
)
def test_malformed_kb_jwt(kb: str) -> None:
    w = make_world()
    att = w.issue()
    code = "wrong_type" if kb == "e30.e30.AA" else "key_binding_invalid"
    expect(code, w, att.sd_jwt + kb)


def test_audience_and_nonce() -> None:
    w = make_world()
    text = w.present()
    expect("wrong_audience", w, text, audience="https://other.example")
    expect("wrong_audience", w, craft(w, kb_payload={"aud": [AUDIENCE]}))
    expect("wrong_audience", w, craft(w, kb_drop=("aud",)))
    expect("wrong_nonce", w, text, nonce="another")
    expect("key_binding_invalid", w, craft(w, kb_drop=("nonce",)))


def test_kb_freshness() -> None:
    w = make_world()
    text = w.present(now=NOW)
    verify(w, text, now=NOW + timedelta(minutes=5, seconds=59))
    expect("stale", w, text, now=NOW + timedelta(minutes=6, seconds=1))
    expect("not_yet_valid", w, craft(w, kb_payload={"iat": int(NOW.timestamp()) + 600}))
    expect("key_binding_invalid", w, craft(w, kb_drop=("iat",)))
    expect("key_binding_invalid", w, craft(w, kb_payload={"iat": "now"}))


# --------------------------------------------------------------------------------------------
# one-way mode and replay (attack)


def test_attack_replayed_one_way_presentation() -> None:
    w = make_world()
    cache = MemoryReplayCache()
    text = w.present(nonce=None)
    verify(w, text, nonce=None, replay=cache)
    expect("replayed", w, text, nonce=None, replay=cache, now=NOW + timedelta(seconds=5))
    # A second honest presentation from the same attestation is a different one.
    verify(w, w.present(nonce=None), nonce=None, replay=cache)


def test_replay_key_survives_ecdsa_malleability() -> None:
    w = make_world()
    cache = MemoryReplayCache()
    text = w.present(nonce=None)
    verify(w, text, nonce=None, replay=cache)
    head, kb = text.rsplit("~", 1)
    h, p, s = kb.split(".")
    raw = b64u_decode(s)
    r, sv = raw[:32], int.from_bytes(raw[32:], "big")
    mauled = f"{h}.{p}.{b64u_encode(r + (P256_ORDER - sv).to_bytes(32, 'big'))}"
    assert mauled != kb
    expect("replayed", w, f"{head}~{mauled}", nonce=None, replay=cache)


def test_one_way_window_and_rules() -> None:
    w = make_world()
    text = w.present(nonce=None)
    verify(w, text, nonce=None, now=NOW + timedelta(seconds=119))
    expect("stale", w, text, nonce=None, now=NOW + timedelta(seconds=121))
    expect("wrong_nonce", w, text)
    expect("key_binding_invalid", w, craft(w, kb_payload={"nonce": "short"}), nonce=None)
    with pytest.raises(ValueError, match="replay"):
        verify_presentation(
            text, keys=w.keys, audience=AUDIENCE, nonce=None, status=w.status, now=NOW
        )
    with pytest.raises(ValueError, match="timezone"):
        verify(w, text, now=datetime(2026, 1, 1))


def test_refused_presentation_is_not_burnt() -> None:
    w = make_world()
    cache = MemoryReplayCache()
    text = w.present(nonce=None)
    missing = w.status.lists.pop(STATUS_URI)
    expect("status_unavailable", w, text, nonce=None, replay=cache)
    w.status.lists[STATUS_URI] = missing
    verify(w, text, nonce=None, replay=cache)


# --------------------------------------------------------------------------------------------
# status


def test_status() -> None:
    w = make_world()
    w.status.lists[STATUS_URI] = status_list(100, {7: 1, 8: 2, 10: 3})
    expect("revoked", w, w.present(attestation=w.issue(idx=7)))
    expect("revoked", w, w.present(attestation=w.issue(idx=8)))
    verify(w, w.present(attestation=w.issue(idx=9)))
    expect("revoked", w, w.present(attestation=w.issue(idx=10)))
    expect("status_index_out_of_range", w, w.present(attestation=w.issue(idx=100)))
    w.status.lists.clear()
    expect("status_unavailable", w, w.present())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"allowed_algorithms": frozenset()},
        {"allowed_algorithms": frozenset({"RS256"})},
        {"leeway": timedelta(seconds=-1)},
        {"one_way_max_age": timedelta(0)},
        {"key_binding_max_age": timedelta(0)},
        {"max_presentation_bytes": 0},
    ],
)
def test_policy_refuses_unsafe_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        VerifierPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    policy = VerifierPolicy()
    with pytest.raises(AttributeError):
        policy.leeway = timedelta(0)  # type: ignore[misc]
    assert replace(policy, max_disclosures=3).max_disclosures == 3
