"""Privacy invariants 2 and 3 (DESIGN.md) and the presentation size budget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from protocol.attestation import CreditClaims, StatusRef, issue_batch
from protocol.jose import KeySigner, b64u_decode, parse_json
from protocol.presentation import DisclosureRequest, present
from protocol.sdjwt import decode_jws, parse_disclosure, split_compact
from protocol.verifier import verify_presentation
from tests.protocol.sdjwt_support import AUDIENCE, ISSUER, NONCE, NOW, STATUS_URI, make_world

#: Values every attestation of this issuer in the same hour carries: the herd, not a handle.
HERD = {ISSUER, STATUS_URI, "shangding", "2019.1", "urn:huxin:credit-level:1", "sha-256", "EC"}


def leaves(value: object) -> set[str]:
    """Every scalar in a JSON value, as text (numbers too), dict keys excluded."""
    if isinstance(value, dict):
        return set().union(*(leaves(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(leaves(v) for v in value)) if value else set()
    return {repr(value)}


def observable(presentation: str) -> set[str]:
    """Everything a merchant sees: payloads, headers, disclosures, signatures."""
    parts = split_compact(presentation)
    out: set[str] = set()
    for jwt in (parts.issuer_jwt, parts.kb_jwt or ""):
        jws = decode_jws(jwt, what="t")
        out |= leaves(jws.header) | leaves(jws.payload) | {jwt.rsplit(".", 1)[1]}
    for d in parts.disclosures:
        out |= leaves(parse_json(b64u_decode(d))) | {parse_disclosure(d).digest}
    return out


@pytest.mark.parametrize(
    "request_",
    [
        DisclosureRequest(level=True),
        DisclosureRequest(level_at_least=3),
        DisclosureRequest(band=True),
        DisclosureRequest(),
    ],
)
def test_invariant_2_only_the_selection_is_disclosed(request_: DisclosureRequest) -> None:
    w = make_world()
    text = w.present(request_)
    result = verify_presentation(
        text, keys=w.keys, audience=AUDIENCE, nonce=NONCE, status=w.status, now=NOW
    )
    assert set(result.disclosed) == set(request_.claim_names())
    hidden = {"level", "band", *(f"level_at_least_{k}" for k in range(1, 6))} - set(
        request_.claim_names()
    )
    assert not hidden & {parse_disclosure(d).name for d in split_compact(text).disclosures}
    assert all(
        name not in decode_jws(split_compact(text).issuer_jwt, what="a").payload for name in hidden
    )


def test_invariant_3_batch_presentations_share_nothing_joinable() -> None:
    w = make_world()
    holders = [KeySigner.generate() for _ in range(2)]
    batch = issue_batch(
        w.issuer,
        issuer=ISSUER,
        scale_id="shangding",
        scale_version="2019.1",
        claims=CreditClaims(4, (120, 149)),
        holders=[
            (h.public_jwk, StatusRef(STATUS_URI, 1000 + 37 * i)) for i, h in enumerate(holders)
        ],
        now=NOW + timedelta(minutes=17, seconds=23),
    )
    request = DisclosureRequest(level=True, level_at_least=4, band=True)
    a, b = (
        present(att.sd_jwt, h, request=request, audience=AUDIENCE, nonce=None, now=NOW)
        for att, h in zip(batch, holders, strict=True)
    )
    shared = observable(a) & observable(b)
    iat = int(NOW.timestamp())  # rounded to the hour: shared with everyone issued that hour
    herd = {repr(v) for v in HERD} | {repr(iat), repr(iat + 86400), repr(AUDIENCE)}
    herd |= {repr(v) for v in ("ES256", "dc+sd-jwt", "kb+jwt", "P-256", w.issuer.kid, True)}
    disclosed_values = {repr(4), repr(120), repr(149), repr("level"), repr("band")}
    disclosed_values.add(repr("level_at_least_4"))
    assert shared <= herd | disclosed_values, shared - herd - disclosed_values


def test_level_only_presentation_size() -> None:
    """The budget: a level-only presentation, every level the same size, under 1,600 bytes.

    The 900-byte target of issue 3 is below what the contract's claims allow: two ES256
    signatures (172 characters), the issuer ``kid`` (43), ``cnf.jwk`` (~140 before base64url),
    six 43-character digests and ``sd_hash`` come to ~1,050 bytes before any URI; see
    docs/protocol.md "Size". This test pins what we measured so it cannot silently grow.
    """
    w = make_world()
    sizes = {
        len(w.present(DisclosureRequest(level=True), attestation=w.issue(CreditClaims(level))))
        for level in range(1, 6)
    }
    assert max(sizes) - min(sizes) <= 4  # base64url of the salt and KB signature only
    assert max(sizes) <= 1600, sizes
