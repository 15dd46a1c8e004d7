"""The compact QR form (``HX1:``): lossless, small, strict and bounded when expanded."""

from __future__ import annotations

import contextlib
import hashlib
import json
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import MalformedError, ProtocolError, TooLargeError
from protocol.jose import EDDSA, ES256
from protocol.presentation import DisclosureRequest
from protocol.qrform import (
    COMPACT_PREFIX,
    DICTIONARY,
    b45decode,
    b45encode,
    compact_presentation,
    expand_presentation,
    is_compact,
)
from protocol.replay import MemoryReplayCache
from protocol.verifier import VerifiedPresentation, VerifierPolicy, verify_presentation
from tests.protocol.sdjwt_support import AUDIENCE, NONCE, NOW, World, make_world

VECTORS = Path(__file__).parents[1] / "vectors" / "presentations.json"
LIMIT = VerifierPolicy().max_presentation_bytes


def _verify(
    w: World,
    text: str | bytes,
    *,
    nonce: str | None = NONCE,
    now: datetime = NOW,
    replay: MemoryReplayCache | None = None,
) -> VerifiedPresentation:
    return verify_presentation(
        text, keys=w.keys, audience=AUDIENCE, nonce=nonce, status=w.status, now=now, replay=replay
    )


def _body(
    skeleton: bytes, side: bytes = b"", *, zdict: bytes = DICTIONARY, tail: bytes = b""
) -> str:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    packed = packer.compress(skeleton) + packer.flush() + tail
    return COMPACT_PREFIX + b45encode(len(packed).to_bytes(2, "big") + packed + side)


# -- Base45 (RFC 9285) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [  # RFC 9285 sections 4.3 and 4.4
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"", ""),
        (b"\xff\xff", "FGW"),
    ],
)
def test_base45_rfc_examples(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


@pytest.mark.parametrize("text", ["GGW", ":::", "A", "AAAA", "abc", "AB\u00e9", "Q:"])
def test_base45_refuses_what_rfc_9285_says_must_fail(text: str) -> None:
    with pytest.raises(MalformedError):
        b45decode(text)


@given(st.binary(max_size=300))
def test_base45_round_trip(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


# -- lossless and small -----------------------------------------------------------------------


def test_every_vector_presentation_round_trips_byte_for_byte() -> None:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
    packed = 0
    for case in cases:
        text = case["presentation"]
        try:
            compact = compact_presentation(text)
        except MalformedError:
            continue  # the vectors include deliberately broken presentations
        assert expand_presentation(compact, max_bytes=LIMIT) == text, case["tcId"]
        packed += 1
    assert packed >= 40


@pytest.mark.parametrize(("issuer_alg", "holder_alg"), [(ES256, ES256), (EDDSA, EDDSA)])
@pytest.mark.parametrize("nonce", [NONCE, None])
def test_a_level_only_presentation_fits_900_bytes(
    issuer_alg: str, holder_alg: str, nonce: str | None
) -> None:
    # Issue 3: a presentation disclosing only the level in at most 900 bytes. The compact form
    # is ASCII, so characters are bytes; the RFC 9901 form of the same presentation is ~1,400.
    w = make_world(issuer_alg, holder_alg)
    full = w.present(DisclosureRequest(level=True), nonce=nonce)
    compact = compact_presentation(full)
    assert len(full) > 1300
    assert len(compact.encode("ascii")) <= 900
    assert expand_presentation(compact, max_bytes=LIMIT) == full


def test_the_qr_alphabet_only() -> None:
    w = make_world()
    compact = compact_presentation(w.present(DisclosureRequest(level=True, band=True)))
    alphabet = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert set(compact) <= alphabet
    assert is_compact(compact)
    assert is_compact(compact.encode("ascii"))
    assert not is_compact(w.present())


# -- verification through the compact form ------------------------------------------------------


def test_the_verifier_accepts_the_compact_form_with_the_same_result() -> None:
    w = make_world()
    full = w.present(DisclosureRequest(level=True, band=True))
    assert _verify(w, compact_presentation(full)) == _verify(w, full)
    assert _verify(w, compact_presentation(full).encode("ascii")) == _verify(w, full)


def test_both_forms_of_one_one_way_presentation_are_one_replay() -> None:
    w = make_world()
    cache = MemoryReplayCache()
    full = w.present(nonce=None)
    _verify(w, compact_presentation(full), nonce=None, replay=cache)
    later = NOW + timedelta(seconds=5)
    with pytest.raises(ProtocolError) as info:
        _verify(w, full, nonce=None, replay=cache, now=later)
    assert info.value.code == "replayed"


def test_a_tampered_compact_form_fails_verification_not_parsing() -> None:
    w = make_world()
    compact = compact_presentation(w.present())
    body = bytearray(b45decode(compact[len(COMPACT_PREFIX) :]))
    body[-5] ^= 0x01  # a bit of the key binding signature, in the side buffer
    with pytest.raises(ProtocolError) as info:
        _verify(w, COMPACT_PREFIX + b45encode(bytes(body)))
    assert info.value.code == "key_binding_invalid"


# -- strict and bounded ---------------------------------------------------------------------------


#: The skeleton of ``e30.e30.<1 byte>~e30.e30.<1 byte>`` (``e30`` is ``{}``).
SIX = b"\x00".join([b"{}", b"{}", b"\x02\x01", b"{}", b"{}", b"\x02\x01"])


def test_a_minimal_well_formed_body_expands() -> None:
    text = _body(SIX, b"\x07\x08")
    assert expand_presentation(text, max_bytes=LIMIT) == "e30.e30.Bw~e30.e30.CA"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("HX2:" + b45encode(b"\x00\x00"), "does not start"),
        (COMPACT_PREFIX + "abc", "outside Base45"),
        (COMPACT_PREFIX + "A", "1 modulo 3"),
        (COMPACT_PREFIX + b45encode(b"\x00"), "no body"),
        (COMPACT_PREFIX + b45encode(b"\x00\x09abc"), "cut short"),
        (COMPACT_PREFIX + b45encode(b"\x00\x03\xff\xff\xff"), "not a DEFLATE stream"),
        (_body(SIX, b"\x07\x08", tail=b"!"), "truncated or followed"),
        (_body(SIX, b"\x07"), "no bytes behind it"),
        (_body(SIX, b"\x07\x08\x09"), "left over"),
        (_body(b"{}\x00{}\x00\x02\x01\x00{}\x00\x02\x01", b"\x07\x08"), "fewer than six"),
        (_body(SIX.replace(b"\x02\x01", b"\x02\x01x", 1), b"\x07\x08"), "binary marker"),
        (_body(b"{\x02}" + SIX[2:], b"\x07\x08"), "binary marker"),
        (_body(b"{}\x01" + SIX[2:], b"\x07\x08"), "without a valid length"),
        (_body(b'"\x01\x0f"' + SIX[2:], bytes(17)), "without a valid length"),
    ],
)
def test_malformed_compact_forms_are_refused(text: str, why: str) -> None:
    with pytest.raises(MalformedError, match=why):
        expand_presentation(text, max_bytes=LIMIT)


def test_a_deflate_bomb_is_stopped_at_the_limit() -> None:
    bomb = _body(b"{" + b" " * 5_000_000 + b"}" + SIX[2:], b"\x07\x08")
    assert len(bomb) < 20_000
    with pytest.raises(TooLargeError):
        expand_presentation(bomb, max_bytes=LIMIT)


def test_the_rebuilt_presentation_is_bounded_too() -> None:
    # A small skeleton whose side bytes make a presentation above the limit.
    skeleton = b"\x00".join([b'"\x01\xff"'] * 30 + [b"\x02\x01"] * 2 + [b"{}"] * 4)
    text = _body(skeleton, bytes(range(256))[1:] * 30 + b"\x01\x02")
    with pytest.raises(TooLargeError):
        expand_presentation(text, max_bytes=LIMIT)


@pytest.mark.parametrize(
    "presentation",
    [
        "e30.e30.Bw",  # no ~
        "e30.e30~e30.e30.Bw",  # issuer JWT with two parts
        "e30.e30.Bw=~e30.e30.CA",  # padding
        "e30.e30.Bx~e30.e30.CA",  # non-canonical trailing bits
        "e30.AAE.Bw~e30.e30.CA",  # a payload holding 0x00 0x01
        "e30.e30.~e30.e30.CA",  # an empty signature
        "e30.e30.Bw~e30.e30.CA\u00e9",
    ],
)
def test_compacting_refuses_what_it_could_not_rebuild(presentation: str) -> None:
    with pytest.raises(MalformedError):
        compact_presentation(presentation)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=400))
def test_arbitrary_compact_text_raises_only_documented_errors(tail: str) -> None:
    # Any other exception, a ProtocolError of another code included, fails the test.
    with contextlib.suppress(MalformedError, TooLargeError):
        expand_presentation(COMPACT_PREFIX + tail, max_bytes=LIMIT)


def test_the_specified_dictionary_is_the_one_in_use() -> None:
    # docs/protocol.md section 7.1 spells the dictionary out for other implementations.
    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = doc[doc.index("### 7.1 The compact QR form") :]
    block = section[section.index("```text\n") + len("```text\n") :]
    block = block[: block.index("```")]
    spelled = "".join(block.splitlines()).encode("ascii").decode("unicode_escape")
    assert spelled.encode("latin-1") == DICTIONARY
    digest = hashlib.sha256(DICTIONARY).hexdigest()
    assert f"{len(DICTIONARY)} bytes long" in section
    assert digest in section
