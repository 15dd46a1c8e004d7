"""Holder side: minimal presentations, the KB-JWT, one-way mode, refusals."""

from __future__ import annotations

from datetime import datetime

import pytest

from protocol.attestation import CreditClaims
from protocol.errors import PresentationRequestError
from protocol.jose import EDDSA, KeySigner
from protocol.presentation import KB_TYP, DisclosureRequest, present
from protocol.sdjwt import decode_jws, parse_disclosure, sd_hash, split_compact
from tests.protocol.sdjwt_support import AUDIENCE, NONCE, NOW, make_world


def names(presentation: str) -> list[str]:
    return [parse_disclosure(d).name for d in split_compact(presentation).disclosures]


def test_only_requested_disclosures_are_presented() -> None:
    w = make_world()
    att = w.issue(CreditClaims(4, (120, 149)))
    assert names(w.present(DisclosureRequest(level=True), attestation=att)) == ["level"]
    assert names(w.present(DisclosureRequest(level_at_least=3), attestation=att)) == [
        "level_at_least_3"
    ]
    assert names(w.present(DisclosureRequest(band=True), attestation=att)) == ["band"]
    assert names(w.present(DisclosureRequest(), attestation=att)) == []
    assert names(
        w.present(DisclosureRequest(level=True, level_at_least=2, band=True), attestation=att)
    ) == ["level", "level_at_least_2", "band"]


def test_kb_jwt_shape() -> None:
    w = make_world(holder_alg=EDDSA)
    text = w.present(DisclosureRequest(level=True))
    parts = split_compact(text)
    assert parts.kb_jwt is not None
    kb = decode_jws(parts.kb_jwt, what="kb")
    assert kb.header == {"alg": EDDSA, "typ": KB_TYP}
    assert kb.payload == {
        "iat": int(NOW.timestamp()),
        "aud": AUDIENCE,
        "nonce": NONCE,
        "sd_hash": sd_hash(parts.presented_sd_jwt),
    }


def test_one_way_mode_uses_a_fresh_random_nonce() -> None:
    w = make_world()
    att = w.issue()
    a, b = (w.present(nonce=None, attestation=att) for _ in range(2))
    assert a != b
    nonces = set()
    for text in (a, b):
        kb_jwt = split_compact(text).kb_jwt
        assert kb_jwt is not None
        nonce = decode_jws(kb_jwt, what="kb").payload["nonce"]
        assert isinstance(nonce, str)
        assert len(nonce) == 22
        nonces.add(nonce)
    assert len(nonces) == 2


def test_cannot_present_what_is_not_there() -> None:
    w = make_world()
    att = w.issue(CreditClaims(3))
    for request in (DisclosureRequest(level_at_least=4), DisclosureRequest(band=True)):
        with pytest.raises(PresentationRequestError) as info:
            w.present(request, attestation=att)
        assert info.value.code == "cannot_present"
    for k in (0, 6):
        with pytest.raises(PresentationRequestError):
            w.present(DisclosureRequest(level_at_least=k), attestation=att)


def test_refusals() -> None:
    w = make_world()
    att = w.issue()
    with pytest.raises(PresentationRequestError, match="cnf"):
        present(
            att.sd_jwt,
            KeySigner.generate(),
            request=DisclosureRequest(level=True),
            audience=AUDIENCE,
            nonce=NONCE,
            now=NOW,
        )
    bound = w.present(attestation=att)
    for bad, now, aud in [
        (bound, NOW, AUDIENCE),
        ("garbage", NOW, AUDIENCE),
        (att.sd_jwt, datetime(2026, 1, 1), AUDIENCE),
        (att.sd_jwt, NOW, ""),
        ("e30.e30.AA~", NOW, AUDIENCE),
    ]:
        with pytest.raises(PresentationRequestError):
            present(bad, w.holder, request=DisclosureRequest(), audience=aud, nonce=NONCE, now=now)
