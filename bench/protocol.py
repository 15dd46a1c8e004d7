"""Benchmarks of SD-JWT credit attestations: issuance, full verification, presentation size.

Measures, on one pinned core with medians over repeats:

* issuance (``issue_attestation``, ES256) against the raw ``cryptography`` ES256 sign rate;
* full presentation verification (``verify_presentation``: size and structure, issuer
  signature, Disclosures, Key Binding signature and claims, status lookup in a verified
  :class:`~protocol.status_list.StatusListCache`) against half the raw ES256 verify rate (two
  signatures per presentation), in nonce mode and in one-way mode with a replay cache;
* the same token issued and verified by the reference ``sd-jwt`` package (0.10.4, on jwcrypto),
  as a second bound: ratio = our rate / the reference rate;
* the size of a presentation disclosing only the level, against the 900-byte target of issue 3.

What it deliberately does not measure: key generation, the wallet's presentation step under
load, or anything over HTTP.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from bench.harness import (
    Bound,
    Row,
    Settings,
    Stats,
    benchmark,
    measure_rate,
    raw_es256_sign_rate,
    raw_es256_verify_rate,
)
from protocol.attestation import VCT, CreditClaims, StatusRef, issue_attestation
from protocol.jose import ES256, KeySigner
from protocol.keys import StaticKeyResolver
from protocol.presentation import DisclosureRequest, present
from protocol.replay import MemoryReplayCache
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


def _reference_rates(fx: _Fixture, presentation: str, settings: Settings) -> tuple[Stats, Stats]:
    """Issuance and verification rates of the reference package on the equivalent token."""
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
        **{SDObj(f"level_at_least_{k}"): True for k in range(1, 5)},
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

    ref_verify()  # the reference package accepts our presentation: same work on both sides
    SDJWTHolder(ref_issue().sd_jwt_issuance)  # type: ignore[attr-defined]
    issue = measure_rate(ref_issue, repeats=settings.repeats, budget=settings.budget)
    verify = measure_rate(ref_verify, repeats=settings.repeats, budget=settings.budget)
    return issue, verify


@benchmark("sdjwt", description="SD-JWT attestations: issuance, full verification, size")
def sdjwt(settings: Settings) -> list[Row]:
    """Issuance and verification rates against raw ES256 and the reference package."""
    fx = _Fixture()
    level_only = fx.present(DisclosureRequest(level=True))
    both = fx.present(DisclosureRequest(level=True, band=True))

    def verify_nonce() -> object:
        return verify_presentation(
            level_only, keys=fx.keys, audience=AUDIENCE, nonce=NONCE, status=fx.cache, now=NOW
        )

    verify_nonce()
    one_way = fx.present(DisclosureRequest(level=True), nonce=None)

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

    verify_one_way()
    sign_bound = raw_es256_sign_rate(settings)
    two_verify = raw_es256_verify_rate(settings).scaled(0.5, "raw ES256 verify / 2")
    issue_stats = measure_rate(fx.issue, repeats=settings.repeats, budget=settings.budget)
    verify_stats = measure_rate(verify_nonce, repeats=settings.repeats, budget=settings.budget)
    one_way_stats = measure_rate(verify_one_way, repeats=settings.repeats, budget=settings.budget)
    ref_issue, ref_verify = _reference_rates(fx, both, settings)
    ours_both = measure_rate(
        lambda: verify_presentation(
            both, keys=fx.keys, audience=AUDIENCE, nonce=NONCE, status=fx.cache, now=NOW
        ),
        repeats=settings.repeats,
        budget=settings.budget,
    )
    size = Stats.of([float(len(level_only))])
    return [
        Row("sdjwt", "issue_attestation ES256", "ops/s", issue_stats, bound=sign_bound),
        Row(
            "sdjwt",
            "issue_attestation vs reference sd-jwt",
            "ops/s",
            issue_stats,
            bound=Bound("sd-jwt 0.10.4 issue", ref_issue, "ops/s"),
        ),
        Row("sdjwt", "verify_presentation (nonce)", "ops/s", verify_stats, bound=two_verify),
        Row("sdjwt", "verify_presentation (one-way)", "ops/s", one_way_stats, bound=two_verify),
        Row(
            "sdjwt",
            "verify level+band vs reference sd-jwt",
            "ops/s",
            ours_both,
            bound=Bound("sd-jwt 0.10.4 verify", ref_verify, "ops/s"),
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
