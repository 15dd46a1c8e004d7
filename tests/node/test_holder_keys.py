"""``parse_holder_keys`` (validation without importing keys) agrees with importing each key."""

from __future__ import annotations

import pytest

from node.errors import BadRequestError
from node.issuance import parse_holder_keys
from protocol.errors import ProtocolError
from protocol.jose import KeySigner, public_jwk, public_key_from_jwk


def _imported(raw: list[object]) -> list[dict[str, str]] | str:
    """What the node did before: import each key, export its minimal JWK, or the error text."""
    out = []
    for n, obj in enumerate(raw):
        if not isinstance(obj, dict):
            return f"holder_keys[{n}] is not a JSON object"
        try:
            out.append(public_jwk(public_key_from_jwk(obj)))
        except ProtocolError as err:
            return f"holder_keys[{n}]: {err.message}"
    return out


def _parsed(raw: list[object]) -> list[dict[str, str]] | str:
    try:
        return parse_holder_keys(raw, max_batch=64)
    except BadRequestError as err:
        return err.message


def test_valid_keys_come_back_minimal() -> None:
    p256, ed = KeySigner.generate().public_jwk, KeySigner.generate("EdDSA").public_jwk
    raw: list[object] = [{**p256, "kid": "k", "use": "sig"}, ed]
    assert _parsed(raw) == _imported(raw) == [p256, ed]


def _bad_keys() -> list[list[object]]:
    good = KeySigner.generate().public_jwk
    off_curve = {**good, "y": good["x"]}
    return [
        [good, {"kty": "EC"}],
        [good, {**good, "d": "AAAA"}],
        [off_curve],
        [good, "not an object", off_curve],
        [off_curve, "not an object"],
        [{**good, "x": good["x"] + "A"}],
        [{**good, "x": good["x"][:-1] + "*"}],
        [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}],
        [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}],
        [{**good, "crv": "P-384"}],
        [{**good, "y": 5}],
    ]


@pytest.mark.parametrize("raw", _bad_keys())
def test_refusals_match_importing_each_key(raw: list[object]) -> None:
    expected = _imported(raw)
    assert isinstance(expected, str)
    assert _parsed(raw) == expected


def test_spare_bits_do_not_make_one_key_two() -> None:
    good = KeySigner.generate().public_jwk
    last = good["x"][-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = {**good, "x": good["x"][:-1] + alphabet[alphabet.index(last) | 1]}
    if twin["x"] == good["x"]:
        twin["x"] = good["x"][:-1] + alphabet[alphabet.index(last) & ~1 | 2]
    assert _imported([twin]) == [good]
    assert _parsed([twin]) == [good]
    assert "repeats a key" in str(_parsed([good, twin]))
