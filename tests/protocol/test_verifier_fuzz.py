"""Property tests: any corruption of a valid presentation is refused with a ProtocolError (never
another exception), and any selection of claims verifies to exactly that selection."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.attestation import CreditClaims
from protocol.errors import ProtocolError
from protocol.presentation import DisclosureRequest
from protocol.verifier import VerifiedPresentation, verify_presentation
from tests.protocol.sdjwt_support import AUDIENCE, NONCE, NOW, World, make_world

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~=+/ \x00é"


@cache
def fixture() -> tuple[World, str, VerifiedPresentation]:
    w = make_world()
    text = w.present(DisclosureRequest(level=True, band=True))
    return w, text, _verify(w, text)


def _verify(w: World, text: str | bytes) -> VerifiedPresentation:
    return verify_presentation(
        text, keys=w.keys, audience=AUDIENCE, nonce=NONCE, status=w.status, now=NOW
    )


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), char=st.sampled_from(ALPHABET))
def test_one_changed_character_is_refused_or_harmless(position: int, char: str) -> None:
    w, text, original = fixture()
    i = position % len(text)
    mutated = text[:i] + char + text[i + 1 :]
    try:
        result = _verify(w, mutated)
    except ProtocolError:
        return
    # Only a change that decodes to the same bytes (unused low bits of the last base64url
    # character of a signature) can pass, and then nothing it proves may differ.
    assert result == original


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0), extra=st.text(alphabet=ALPHABET, max_size=40))
def test_truncated_or_extended_input_is_refused(cut: int, extra: str) -> None:
    w, text, _ = fixture()
    mutated = text[: cut % len(text)] + extra
    try:
        _verify(w, mutated)
    except ProtocolError:
        return
    raise AssertionError("a truncated presentation verified")


@settings(max_examples=40, deadline=None)
@given(
    level=st.integers(min_value=1, max_value=5),
    show_level=st.booleans(),
    at_least=st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
    show_band=st.booleans(),
)
def test_any_selection_verifies_to_exactly_that_selection(
    level: int, show_level: bool, at_least: int | None, show_band: bool
) -> None:
    w, _, _ = fixture()
    if at_least is not None and at_least > level:
        at_least = level
    request = DisclosureRequest(level=show_level, level_at_least=at_least, band=show_band)
    att = w.issue(CreditClaims(level, (10 * level, 10 * level + 9)))
    result = _verify(w, w.present(request, attestation=att))
    assert set(result.disclosed) == set(request.claim_names())
    assert result.level == (level if show_level else None)
    # "at least 1" holds for every attestation and is never disclosed.
    shown = frozenset() if at_least is None or at_least == 1 else frozenset({at_least})
    assert result.level_at_least == shown
    assert result.band == ((10 * level, 10 * level + 9) if show_band else None)
