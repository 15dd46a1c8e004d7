"""Batch issuance builds exactly the attestations the straightforward construction builds.

``issue_batch`` assembles payloads and Disclosures from per-batch templates, encodes in bulk
and validates holder keys arithmetically; these tests rebuild each attestation the plain way
(``build_disclosures`` + ``sign_jws`` over the payload dict) with the same deterministic salts
and signatures and compare byte for byte, and check every helper against the library call it
replaces.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from protocol.attestation import (
    ATTESTATION_TYP,
    VCT,
    CreditClaims,
    IssuedAttestation,
    StatusRef,
    _b64u_many,
    _salt_texts,
    build_disclosures,
    issue_attestation,
    issue_batch,
)
from protocol.errors import IssuanceError, MalformedError
from protocol.jose import (
    EDDSA,
    ES256,
    KeySigner,
    _es256_raw,
    b64u_decode,
    b64u_encode,
    check_public_jwk,
    check_public_jwks,
    jwk_thumbprint,
    public_key_from_jwk,
    verify_signature,
)
from protocol.sdjwt import SALT_BYTES, join_sd_jwt, random_salt, sign_jws
from tests.vectors.generate import DeterministicSigner, counter_salts, derive_key

NOW = datetime(2026, 3, 1, 9, 41, tzinfo=UTC)
ISSUER = "https://zz.huxin.cn"
_P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF


def _plain(
    signer: DeterministicSigner,
    claims: CreditClaims,
    jwk: Mapping[str, str],
    ref: StatusRef,
    salts: Callable[[], bytes],
) -> str:
    """The attestation built the straightforward way (what issuance did before templates)."""
    disclosures, digests = build_disclosures(claims, salts)
    members = ("kty", "crv", "x", "y") if jwk["kty"] == "EC" else ("kty", "crv", "x")
    iat = int(NOW.timestamp()) // 3600 * 3600
    payload = {
        "iss": ISSUER,
        "iat": iat,
        "exp": iat + 86400,
        "vct": VCT,
        "cnf": {"jwk": {name: jwk[name] for name in members}},
        "status": {"status_list": {"idx": ref.idx, "uri": ref.uri}},
        "scale": {"id": "shangding", "version": "2019.1"},
        "_sd": digests,
    }
    header = {"alg": signer.alg, "typ": ATTESTATION_TYP, "kid": signer.kid}
    return join_sd_jwt(sign_jws(signer, header, payload), [d.encoded for d in disclosures])


@pytest.mark.parametrize(
    "claims", [CreditClaims(level, band) for level in range(1, 6) for band in (None, (100, 119))]
)
@pytest.mark.parametrize("issuer_alg", [ES256, EDDSA])
def test_batch_equals_the_plain_construction(claims: CreditClaims, issuer_alg: str) -> None:
    signer = DeterministicSigner(derive_key(f"fast path issuer {issuer_alg}", issuer_alg))
    holders = [
        (DeterministicSigner(derive_key(f"fast path holder {i}", alg)).public_jwk, ref)
        for i, (alg, ref) in enumerate(
            [
                (ES256, StatusRef("https://zz.huxin.cn/status/1", 7)),
                (EDDSA, StatusRef("https://zz.huxin.cn/status/1", 8)),
                (ES256, StatusRef("https://zz.huxin.cn/状态/2", 0)),  # non-ASCII: JSON keeps it
                (ES256, StatusRef('https://zz.huxin.cn/"quoted"\\', 12_000_000)),
            ]
        )
    ]
    label = f"{claims}{issuer_alg}"
    batch = issue_batch(
        signer,
        issuer=ISSUER,
        scale_id="shangding",
        scale_version="2019.1",
        claims=claims,
        holders=holders,
        now=NOW,
        salts=counter_salts(label),
    )
    salts = counter_salts(label)  # the same salts, drawn in the same order
    for (jwk, ref), issued in zip(holders, batch, strict=True):
        assert issued.sd_jwt == _plain(signer, claims, jwk, ref, salts)
        assert issued.holder_kid == jwk_thumbprint(jwk)
        assert issued.status == ref
        assert issued.issued_at == datetime(2026, 3, 1, 9, tzinfo=UTC)
        assert issued.expires_at == issued.issued_at + timedelta(hours=24)
    single = issue_attestation(
        signer,
        issuer=ISSUER,
        scale_id="shangding",
        scale_version="2019.1",
        claims=claims,
        holder_jwk=holders[1][0],
        status=holders[1][1],
        now=NOW,
        salts=counter_salts("single"),
    )
    assert single.sd_jwt == _plain(signer, claims, *holders[1], counter_salts("single"))


def test_longer_injected_salts_take_the_general_path() -> None:
    signer = DeterministicSigner(derive_key("fast path issuer es256", ES256))
    jwk = DeterministicSigner(derive_key("fast path holder 0", ES256)).public_jwk
    ref = StatusRef("https://zz.huxin.cn/status/1", 7)

    def long_salts() -> Callable[[], bytes]:
        source = counter_salts("long")
        return lambda: source() + b"\x01\x02\x03"

    issued = issue_batch(
        signer,
        issuer=ISSUER,
        scale_id="shangding",
        scale_version="2019.1",
        claims=CreditClaims(3, (1, 2)),
        holders=[(jwk, ref)],
        now=NOW,
        salts=long_salts(),
    )
    assert issued[0].sd_jwt == _plain(signer, CreditClaims(3, (1, 2)), jwk, ref, long_salts())
    with pytest.raises(ValueError, match="128 bits"):
        issue_batch(
            signer,
            issuer=ISSUER,
            scale_id="shangding",
            scale_version="2019.1",
            claims=CreditClaims(3),
            holders=[(jwk, ref)],
            now=NOW,
            salts=lambda: b"short",
        )


def test_random_salts_are_fresh_128_bit_values() -> None:
    texts = _salt_texts(500, random_salt)
    assert len(set(texts)) == 500
    assert all(len(t) == 22 for t in texts)
    for text in texts:
        assert len(b64u_decode(text)) == SALT_BYTES
    # The last character carries 2 salt bits and 4 zero bits: only 4 values occur, all of them.
    assert {t[-1] for t in texts} <= {"A", "Q", "g", "w"}


@pytest.mark.parametrize("width", [24, 32, 1, 2, 3, 16])
def test_b64u_many_equals_one_by_one(width: int) -> None:
    chunks = [os.urandom(width) for _ in range(50)]
    assert _b64u_many(chunks, width) == [b64u_encode(c) for c in chunks]
    if width % 3 == 0:
        assert _b64u_many(b"".join(chunks), width) == [b64u_encode(c) for c in chunks]
    assert _b64u_many([], width) == []


def _outcome(fn: Callable[[], object]) -> str:
    try:
        fn()
    except MalformedError as err:
        return err.message
    return "ok"


def _jwks() -> list[dict[str, str]]:
    good = KeySigner.generate(ES256).public_jwk
    x, y = int.from_bytes(os.urandom(32), "big"), int.from_bytes(os.urandom(32), "big")
    good_key = public_key_from_jwk(good)
    assert isinstance(good_key, ec.EllipticCurvePublicKey)
    gy = good_key.public_numbers().y
    cases = [
        good,
        KeySigner.generate(EDDSA).public_jwk,
        {**good, "x": b64u_encode(x.to_bytes(32, "big"))},  # off the curve
        {**good, "y": b64u_encode((_P256_P - gy).to_bytes(32, "big"))},  # (x, -y): on it
        {**good, "y": b64u_encode((gy + _P256_P).to_bytes(33, "big")[1:])},  # y + p, truncated
        {**good, "x": b64u_encode(_P256_P.to_bytes(32, "big"))},  # x = p
        {**good, "x": b64u_encode(bytes(32)), "y": b64u_encode(bytes(32))},
        {**good, "y": b64u_encode(y.to_bytes(32, "big"))},
        {**good, "d": "AAAA"},
        {**good, "x": good["x"] + "="},
        {**good, "x": good["x"][:-1] + "+"},
        {**good, "x": good["x"][:-1]},
        {**good, "crv": "P-384"},
        {**good, "kty": "RSA"},
        {"kty": "EC", "crv": "P-256", "x": good["x"]},
        {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
    ]
    return [dict(c) for c in cases]


def test_check_public_jwk_equals_the_key_import() -> None:
    for jwk in _jwks():
        assert _outcome(lambda j=jwk: check_public_jwk(j)) == _outcome(  # type: ignore[misc]
            lambda j=jwk: public_key_from_jwk(j)  # type: ignore[misc]
        ), jwk
    for _ in range(200):  # random x for a valid y almost never lies on the curve: both refuse
        jwk = {**KeySigner.generate(ES256).public_jwk, "x": b64u_encode(os.urandom(32))}
        assert _outcome(lambda j=jwk: check_public_jwk(j)) == _outcome(  # type: ignore[misc]
            lambda j=jwk: public_key_from_jwk(j)  # type: ignore[misc]
        )


def test_check_public_jwks_refuses_the_first_bad_key_like_one_by_one() -> None:
    cases = _jwks()
    good = [KeySigner.generate(ES256).public_jwk for _ in range(5)]
    assert _outcome(lambda: check_public_jwks(good)) == "ok"
    for bad in cases:
        batch = [*good[:2], bad, *good[2:]]

        def one_by_one(b: list[dict[str, str]] = batch) -> None:
            for jwk in b:
                check_public_jwk(jwk)

        assert _outcome(lambda b=batch: check_public_jwks(b)) == _outcome(one_by_one)  # type: ignore[misc]


def test_batch_refuses_a_bad_holder_key_with_an_issuance_error() -> None:
    signer = KeySigner.generate(ES256)
    good = KeySigner.generate(ES256).public_jwk
    for bad in _jwks()[2:]:
        if _outcome(lambda j=bad: public_key_from_jwk(j)) == "ok":  # type: ignore[misc]
            continue
        with pytest.raises(IssuanceError):
            issue_batch(
                signer,
                issuer=ISSUER,
                scale_id="s",
                scale_version="1",
                claims=CreditClaims(2),
                holders=[(good, StatusRef("u", 1)), (bad, StatusRef("u", 2))],
                now=NOW,
            )
    assert (
        issue_batch(
            signer,
            issuer=ISSUER,
            scale_id="s",
            scale_version="1",
            claims=CreditClaims(2),
            holders=[],
            now=NOW,
        )
        == []
    )


def test_es256_raw_and_sign_many() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    for _ in range(300):
        der = key.sign(os.urandom(8), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        assert _es256_raw(der) == r.to_bytes(32, "big") + s.to_bytes(32, "big")
    for alg in (ES256, EDDSA):
        signer = KeySigner.generate(alg)
        items = [os.urandom(n) for n in range(20)]
        for data, signature in zip(items, signer.sign_many(items), strict=True):
            verify_signature(alg, signer.public_key, data, signature, frozenset({alg}))
        if alg == EDDSA:  # deterministic: exactly sign()
            assert signer.sign_many(items) == [signer.sign(d) for d in items]


class _OddLengthSigner:
    """A Signer whose signatures are not 64 bytes (a future algorithm): encoded one by one."""

    def __init__(self) -> None:
        self._inner = DeterministicSigner(derive_key("fast path odd signer", ES256))
        self.alg = self._inner.alg
        self.kid = self._inner.kid
        self.public_jwk = self._inner.public_jwk

    def sign(self, data: bytes) -> bytes:
        return self._inner.sign(data) + b"\x01"  # RFC 6979: the same bytes for the same data


def test_signatures_that_are_not_64_bytes_are_encoded_one_by_one() -> None:
    signer = _OddLengthSigner()
    holders = [
        (
            DeterministicSigner(derive_key(f"fast path holder {n}", ES256)).public_jwk,
            StatusRef("https://zz.huxin.cn/status/1", n),
        )
        for n in range(6)
    ]
    issued = issue_batch(
        signer,
        issuer=ISSUER,
        scale_id="shangding",
        scale_version="2019.1",
        claims=CreditClaims(2),
        holders=holders,
        now=NOW,
    )
    for attestation in issued:
        signing_input, _, signature = attestation.sd_jwt.split("~")[0].rpartition(".")
        assert signature == b64u_encode(signer.sign(signing_input.encode()))
        assert len(b64u_decode(signature)) == 65


def test_keys_checked_skips_only_the_key_check() -> None:
    signer = KeySigner.generate()
    good = KeySigner.generate().public_jwk
    bad = {**good, "y": good["x"]}  # not on the curve

    def batch(*jwks: Mapping[str, str], keys_checked: bool = False) -> list[IssuedAttestation]:
        return issue_batch(
            signer,
            issuer="https://zz.huxin.cn",
            scale_id="shangding",
            scale_version="2019-1",
            claims=CreditClaims(level=3),
            holders=[(jwk, StatusRef("https://s/1", n)) for n, jwk in enumerate(jwks)],
            now=datetime(2026, 1, 1, tzinfo=UTC),
            keys_checked=keys_checked,
        )

    with pytest.raises(IssuanceError, match="holder key"):
        batch(bad)
    assert len(batch(good, keys_checked=True)) == 1
    # Everything else is still checked: a repeated key is refused with keys_checked too.
    with pytest.raises(IssuanceError, match="its own holder key"):
        batch(good, good, keys_checked=True)
