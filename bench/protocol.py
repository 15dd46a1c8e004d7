"""Benchmarks of SD-JWT credit attestations: issuance, full verification, presentation size.

Measures, on one pinned core with medians over repeats; every figure and its bound are sampled
round-robin (one sample of each per repeat) so that load from other jobs on the shared machine
falls on both sides of a ratio alike:

* issuance (``issue_attestation``, ES256) against the raw ``cryptography`` ES256 sign rate;
* full presentation verification (``verify_presentation``: size and structure, issuer
  signature, Disclosures, Key Binding signature and claims, status lookup in a verified
  :class:`~protocol.status_list.StatusListCache`) against bare ``cryptography`` verification of
  the same two signatures, in nonce mode and in one-way mode with a replay cache;
* the same token issued and verified by the reference ``sd-jwt`` package (0.10.4, on jwcrypto),
  as a second bound: ratio = our rate / the reference rate;
* the size of a presentation disclosing only the level, against the 900-byte target of issue 3.

What it deliberately does not measure: key generation, the wallet's presentation step under
load, or anything over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from bench.harness import Bound, Row, Settings, Stats, benchmark, measure_rate
from protocol.attestation import VCT, CreditClaims, StatusRef, issue_attestation
from protocol.jose import ES256, KeySigner, b64u_decode
from protocol.keys import StaticKeyResolver
from protocol.presentation import DisclosureRequest, present
from protocol.replay import MemoryReplayCache
from protocol.sdjwt import split_compact
from protocol.status_list import StatusList, StatusListCache, sign_status_list_token
from protocol.verifier import verify_presentation

ISSUER = "https://zz.huxin.cn"
STATUS_URI = "https://zz.huxin.cn/status/1"
AUDIENCE = "https://shop.example"
NONCE = "n-0S6_WzA2Mj"
NOW = datetime(2026, 1, 1, 8, tzinfo=UTC)
CLAIMS = CreditClaims(4, (120, 149))
TARGET_BYTES = 900


class _Fixture:
    """One issuer, one holder, a verified status list cache, and the tokens to measure."""

    def __init__(self) -> None:
        self.issuer = KeySigner.generate(ES256)
        self.holder = KeySigner.generate(ES256)
        self.keys = StaticKeyResolver.of({ISSUER: self.issuer.public_key}, city="zhengzhou")
        self.cache = StatusListCache(self.keys, frozenset({ES256}))
        token = sign_status_list_token(
            self.issuer,
            issuer=ISSUER,
            uri=STATUS_URI,
            status_list=StatusList.build(100_000, {13: 1}),
            now=NOW,
            lifetime=timedelta(days=1),
            ttl=timedelta(hours=1),
        )
        self.cache.put(STATUS_URI, token, NOW)

    def issue(self) -> str:
        return issue_attestation(
            self.issuer,
            issuer=ISSUER,
            scale_id="shangding",
            scale_version="2019.1",
            claims=CLAIMS,
            holder_jwk=self.holder.public_jwk,
            status=StatusRef(STATUS_URI, 7),
            now=NOW,
        ).sd_jwt

    def present(self, request: DisclosureRequest, nonce: str | None = NONCE) -> str:
        return present(
            self.issue(), self.holder, request=request, audience=AUDIENCE, nonce=nonce, now=NOW
        )


def _reference(
    fx: _Fixture, presentation: str
) -> tuple[Callable[[], object], Callable[[], object]]:
    """Issuance and verification by the reference package, on the equivalent token."""
    issuer_key = JWK.from_pyca(fx.issuer.private_key)
    holder_key = JWK.from_pyca(fx.holder.private_key)
    claims: dict[object, object] = {
        "iss": ISSUER,
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=24)).timestamp()),
        "vct": VCT,
        "status": {"status_list": {"idx": 7, "uri": STATUS_URI}},
        "scale": {"id": "shangding", "version": "2019.1"},
        SDObj("level"): 4,
        **{SDObj(f"level_at_least_{k}"): True for k in range(2, 5)},
        SDObj("band"): [120, 149],
    }
    header = {"typ": "dc+sd-jwt", "kid": fx.issuer.kid}

    def ref_issue() -> object:
        return SDJWTIssuer(
            claims, issuer_key, holder_key, sign_alg=ES256, extra_header_parameters=header
        )

    public = JWK.from_json(json.dumps(fx.issuer.public_jwk))

    def ref_verify() -> object:
        verifier = SDJWTVerifier(
            presentation, lambda _i, _h: public, expected_aud=AUDIENCE, expected_nonce=NONCE
        )
        return verifier.get_verified_payload()

    ref_verify()  # the reference package accepts our presentation: the same input for both
    ref_issue()
    return ref_issue, ref_verify


def _interleaved(fns: dict[str, Callable[[], object]], settings: Settings) -> dict[str, Stats]:
    """Rates of several functions, sampled round-robin so load changes hit all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, settings.repeats)):
        for name, fn in fns.items():
            samples[name].append(measure_rate(fn, repeats=1, budget=settings.budget).median)
    return {name: Stats.of(values) for name, values in samples.items()}


def _raw_two_verify(fx: _Fixture, presentation: str) -> Callable[[], object]:
    """The two signature checks of ``presentation`` done by bare ``cryptography`` calls."""
    parts = split_compact(presentation)
    assert parts.kb_jwt is not None
    checks = []
    for token, key in (
        (parts.issuer_jwt, fx.issuer.public_key),
        (parts.kb_jwt, fx.holder.public_key),
    ):
        head, _, sig = token.rpartition(".")
        raw = b64u_decode(sig)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        checks.append((key, der, head.encode("ascii")))
    algorithm = ec.ECDSA(hashes.SHA256())
    (k1, s1, d1), (k2, s2, d2) = checks

    def both() -> object:
        k1.verify(s1, d1, algorithm)
        k2.verify(s2, d2, algorithm)
        return None

    return both


def _raw_sign(fx: _Fixture) -> Callable[[], object]:
    """One bare ES256 signature over an issuer-JWT-sized signing input."""
    key = fx.issuer.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    data = split_compact(fx.issue()).issuer_jwt.rpartition(".")[0].encode("ascii")
    algorithm = ec.ECDSA(hashes.SHA256())
    return lambda: key.sign(data, algorithm)


@benchmark("sdjwt", description="SD-JWT attestations: issuance, full verification, size")
def sdjwt(settings: Settings) -> list[Row]:
    """Issuance and verification rates against raw ES256 and the reference package."""
    fx = _Fixture()
    level_only = fx.present(DisclosureRequest(level=True))
    both = fx.present(DisclosureRequest(level=True, band=True))
    one_way = fx.present(DisclosureRequest(level=True), nonce=None)

    def verify_nonce() -> object:
        return verify_presentation(
            level_only, keys=fx.keys, audience=AUDIENCE, nonce=NONCE, status=fx.cache, now=NOW
        )

    def verify_one_way() -> object:
        # A fresh (empty) replay cache per call: the steady-state cost is one lookup+insert.
        return verify_presentation(
            one_way,
            keys=fx.keys,
            audience=AUDIENCE,
            nonce=None,
            status=fx.cache,
            now=NOW,
            replay=MemoryReplayCache(),
        )

    def verify_both() -> object:
        return verify_presentation(
            both, keys=fx.keys, audience=AUDIENCE, nonce=NONCE, status=fx.cache, now=NOW
        )

    ref_issue, ref_verify = _reference(fx, both)
    rates = _interleaved(
        {
            "raw_sign": _raw_sign(fx),
            "issue": fx.issue,
            "ref_issue": ref_issue,
            "raw_two": _raw_two_verify(fx, level_only),
            "nonce": verify_nonce,
            "one_way": verify_one_way,
            "both": verify_both,
            "ref_verify": ref_verify,
        },
        settings,
    )
    raw_two = Bound("raw ES256 verify x2 (same signatures)", rates["raw_two"], "ops/s")
    size = Stats.of([float(len(level_only))])
    return [
        Row(
            "sdjwt",
            "issue_attestation ES256",
            "ops/s",
            rates["issue"],
            bound=Bound("raw ES256 sign", rates["raw_sign"], "ops/s"),
        ),
        Row(
            "sdjwt",
            "issue_attestation vs reference sd-jwt",
            "ops/s",
            rates["issue"],
            bound=Bound("sd-jwt 0.10.4 issue", rates["ref_issue"], "ops/s"),
        ),
        Row("sdjwt", "verify_presentation (nonce, level)", "ops/s", rates["nonce"], bound=raw_two),
        Row(
            "sdjwt",
            "verify_presentation (one-way, level)",
            "ops/s",
            rates["one_way"],
            bound=raw_two,
        ),
        Row(
            "sdjwt",
            "verify_presentation (level+band) vs reference sd-jwt",
            "ops/s",
            rates["both"],
            bound=Bound("sd-jwt 0.10.4 verify, same input", rates["ref_verify"], "ops/s"),
        ),
        Row(
            "sdjwt",
            "level-only presentation size",
            "bytes",
            size,
            higher_is_better=False,
            bound=Bound("issue 3 target", Stats.of([float(TARGET_BYTES)]), "bytes"),
            note="see docs/protocol.md section 7",
        ),
    ]
