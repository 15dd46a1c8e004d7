"""The verifier's fast paths give exactly the results and errors of the general code they skip.

Each fast path (Disclosure processing for the usual shape, the direct JSON scan, the strict
base64url decoder, the DER conversion of ES256 signatures, verification over a precomputed
digest, the frozen-dataclass constructor) is checked against the code it replaces, on generated
inputs that include every way to leave the fast path.
"""

from __future__ import annotations

import binascii
import hashlib
import os
from datetime import UTC, datetime
from functools import partial

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.attestation import StatusRef
from protocol.errors import MalformedError, ProtocolError, TooLargeError
from protocol.jose import (
    _DECODER,
    EDDSA,
    ES256,
    KeySigner,
    _decode_jwk,
    _es256_der,
    b64u_decode,
    b64u_encode,
    json_bytes,
    parse_json,
    public_jwk,
    public_key_from_jwk,
    verify_signature,
    verify_signature_sha256,
)
from protocol.sdjwt import (
    digest,
    disclosed_claims,
    process_disclosures,
    split_jws,
    split_presentation,
    split_segments,
)
from protocol.verifier import VerifiedPresentation, _frozen

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "level", "_sd"])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "_sd", "..."]), inner, max_size=2),
    ),
    max_leaves=6,
)
_names = st.sampled_from(["level", "band", "iss", "cnf", "_sd", "...", "_sd_alg", "x"])


@st.composite
def _case(draw: st.DrawFn) -> tuple[dict[str, object], list[str]]:
    """A payload and Disclosures: mostly well-formed, with every kind of irregularity."""
    disclosures = []
    for _ in range(draw(st.integers(0, 4))):
        salt = b64u_encode(os.urandom(16))
        if draw(st.booleans()):
            item: list[object] = [salt, draw(_names), draw(st.one_of(_scalars, _values))]
        else:
            item = draw(
                st.sampled_from([[salt, 1], [salt], [1, "level", 4], [salt, 7, 1], [salt, "a"]])
            )
        disclosures.append(b64u_encode(json_bytes(item)))
    if draw(st.booleans()) and disclosures:
        disclosures.append(draw(st.sampled_from(disclosures)))  # presented twice
    if draw(st.integers(0, 9)) == 0:
        disclosures.append(draw(st.sampled_from(["!!", "e30", "WzFd", "A"])))  # junk
    digests: list[object] = [
        digest(d) for d in disclosures if draw(st.integers(0, 5)) > 0 and d[:1] != "!"
    ]
    digests += [b64u_encode(os.urandom(32)) for _ in range(draw(st.integers(0, 2)))]
    if draw(st.integers(0, 9)) == 0 and digests:
        digests.append(digests[0])
    if draw(st.integers(0, 9)) == 0:
        digests.append(3)
    payload: dict[str, object] = {"iss": "x", "cnf": {"jwk": {"kty": "EC"}}}
    if draw(st.integers(0, 4)) == 0:
        payload["nested"] = draw(_values)
    if draw(st.integers(0, 4)) == 0 and digests:
        payload["inner"] = {"_sd": [digests.pop()]}
    if draw(st.integers(0, 5)) == 0:
        payload["_sd_alg"] = draw(st.one_of(_scalars, _values))
    sd_choice = draw(st.integers(0, 9))
    if sd_choice > 1:
        payload["_sd"] = draw(st.permutations(digests))
    elif sd_choice == 1:
        payload["_sd"] = draw(st.sampled_from(["x", {"a": 1}, None]))
    return payload, disclosures


def _outcome(fn: object) -> object:
    assert callable(fn)
    try:
        return ("ok", fn())
    except ProtocolError as err:
        return ("error", type(err), err.message)


@settings(max_examples=300, deadline=None)
@given(_case())
def test_disclosed_claims_equals_the_general_processing(
    case: tuple[dict[str, object], list[str]],
) -> None:
    payload, disclosures = case

    def general() -> object:
        return process_disclosures(payload, disclosures).disclosed

    assert _outcome(lambda: disclosed_claims(payload, disclosures)) == _outcome(general)


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1}',
        ' {"a":1}',
        '{"a":1} ',
        '{"a":1}x',
        '{"a":1}{"b":2}',
        '{"a":1,"a":2}',
        '{"a":NaN}',
        '{"a":',
        "[1,2]",
        "[1,2] ",
        "[1]]",
        "[]",
        "{}",
        "1",
        '"s"',
        "",
        "{" * 5000,
        '{"a":{"b":[1,{"c":2,"c":3}]}}',
    ],
)
def test_parse_json_equals_the_full_decoder(text: str) -> None:
    def full() -> object:
        # What parse_json did before its fast path.
        return _DECODER.decode(text)

    try:
        expected: object = ("ok", full())
    except ProtocolError as err:
        expected = ("error", f"JSON: {err.message}")
    except (ValueError, RecursionError):
        expected = ("error", "JSON is not valid JSON")
    try:
        got: object = ("ok", parse_json(text))
    except ProtocolError as err:
        got = ("error", err.message)
    assert got == expected


@pytest.mark.parametrize(
    "raw",
    [
        bytes(64),
        b"\x80" * 64,
        b"\x7f" + bytes(31) + b"\x00" * 31 + b"\x01",
        bytes(31) + b"\x80" + bytes(32),
        *(os.urandom(64) for _ in range(200)),
    ],
)
def test_es256_der_equals_encode_dss_signature(raw: bytes) -> None:
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    assert _es256_der(raw) == encode_dss_signature(r, s)


def test_frozen_constructor_equals_the_dataclass_one() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fields: dict[str, object] = {
        "issuer": "i",
        "city": "c",
        "kid": "k",
        "scale_id": "s",
        "scale_version": "v",
        "vct": "t",
        "issued_at": now,
        "expires_at": now,
        "status": StatusRef("u", 1),
        "level": 3,
        "level_at_least": frozenset({2}),
        "band": (1, 2),
        "disclosed": {"level": 3},
    }
    fast = _frozen(VerifiedPresentation, dict(fields))
    slow = VerifiedPresentation(**fields)  # type: ignore[arg-type]
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert hash(fast.status) == hash(slow.status)
    assert _frozen(StatusRef, {"uri": "u", "idx": 1}) == StatusRef("u", 1)
    with pytest.raises(AttributeError):
        fast.level = 5  # type: ignore[misc]


_B64U_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _b64u_decode_reference(text: str | bytes) -> bytes | None:
    """Strict unpadded base64url as specified (RFC 7515 section 2); ``None`` when refused."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if len(raw) % 4 == 1 or raw.translate(None, _B64U_ALPHABET):
        return None
    return binascii.a2b_base64(raw.translate(bytes.maketrans(b"-_", b"+/")) + b"==")


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="AQgw09az-_+/=!. \n\x00\u00e9", max_size=13),
        st.binary(max_size=13),
        st.binary(max_size=40).map(lambda b: b64u_encode(b)),
    )
)
def test_b64u_decode_equals_the_reference(text: str | bytes) -> None:
    expected = _b64u_decode_reference(text)
    if expected is None:
        with pytest.raises(ProtocolError, match=r"^value is not unpadded base64url$"):
            b64u_decode(text)
    else:
        assert b64u_decode(text) == expected


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_verify_signature_sha256_equals_verify_signature(alg: str) -> None:
    signer, other = KeySigner.generate(alg), KeySigner.generate(alg)
    data = b"header.payload"
    good = signer.sign(data)
    bad = bytes([good[0] ^ 1]) + good[1:]
    wrong_key = KeySigner.generate(EDDSA if alg == ES256 else ES256).public_key
    cases = [
        (alg, signer.public_key, good, frozenset({alg})),
        (alg, signer.public_key, bad, frozenset({alg})),
        (alg, signer.public_key, good[:-1], frozenset({alg})),
        (alg, other.public_key, good, frozenset({alg})),
        (alg, wrong_key, good, frozenset({ES256, EDDSA})),
        (alg, signer.public_key, good, frozenset({EDDSA if alg == ES256 else ES256})),
        ("HS256", signer.public_key, good, frozenset({alg})),
    ]
    digest = hashlib.sha256(data).digest()
    outcomes = []
    for case_alg, key, signature, allowed in cases:
        expected = _outcome(partial(verify_signature, case_alg, key, data, signature, allowed))
        got = _outcome(
            partial(verify_signature_sha256, case_alg, key, data, digest, signature, allowed)
        )
        assert got == expected
        outcomes.append(got)
    assert outcomes[0] == ("ok", None)
    assert all(outcome != ("ok", None) for outcome in outcomes[1:])


def _import_reference(jwk: dict[str, object]) -> object:
    """What public_key_from_jwk did before its one-pass P-256 path: the outcome as bytes."""
    x, y = _decode_jwk(jwk)
    if y is None:
        return ed25519.Ed25519PublicKey.from_public_bytes(x).public_bytes_raw()
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError as err:
        raise MalformedError("JWK point is not on P-256") from err
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _import_fast(jwk: dict[str, object]) -> object:
    key = public_key_from_jwk(jwk)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes_raw()
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


_VALID_P256 = KeySigner.generate(ES256).public_jwk


@st.composite
def _jwk(draw: st.DrawFn) -> dict[str, object]:
    """A P-256 or Ed25519 JWK, mostly valid, with every way to leave the one-pass path."""
    jwk: dict[str, object] = dict(
        draw(st.sampled_from([_VALID_P256, KeySigner.generate(EDDSA).public_jwk]))
    )
    for name in draw(st.lists(st.sampled_from(["x", "y", "kty", "crv", "d"]), max_size=2)):
        value = jwk.get(name, "")
        edit = draw(st.integers(0, 5))
        if edit == 0:
            jwk.pop(name, None)
        elif edit == 1:
            jwk[name] = 7
        elif isinstance(value, str) and value:
            at = draw(st.integers(0, len(value) - 1))
            char = draw(st.sampled_from("A_-+/=!é \n"))
            jwk[name] = value[:at] + char + value[at + (edit == 2) :]
        else:
            jwk[name] = draw(st.sampled_from(["EC", "P-256", "OKP", "Ed25519", "AAAA"]))
    return jwk


@settings(max_examples=500, deadline=None)
@given(_jwk())
def test_public_key_from_jwk_equals_the_general_import(jwk: dict[str, object]) -> None:
    assert _outcome(partial(_import_fast, jwk)) == _outcome(partial(_import_reference, jwk))


def test_public_key_from_jwk_one_pass_path_keeps_the_key() -> None:
    key = public_key_from_jwk(_VALID_P256)
    assert public_jwk(key) == _VALID_P256


def _split_segments_reference(text: str, max_disclosures: int) -> list[str]:
    """What split_segments did with str.split before its find/rfind form."""
    segments = text.split("~")
    count = len(segments)
    if count < 2:
        raise MalformedError("not an SD-JWT: no '~' separator")
    if count - 2 > max_disclosures:
        raise TooLargeError(f"more than {max_disclosures} disclosures")
    if not segments[0] or (count > 2 and not all(segments[1:-1])):
        raise MalformedError("empty segment in SD-JWT")
    return segments


def _split_jws_reference(token: str) -> tuple[str, str, str]:
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedError("x is not a compact JWS")
    return parts[0], parts[1], parts[2]


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="a.~", max_size=12), st.integers(0, 3))
def test_splitting_equals_str_split(text: str, max_disclosures: int) -> None:
    expected = _outcome(partial(_split_segments_reference, text, max_disclosures))
    assert _outcome(partial(split_segments, text, max_disclosures)) == expected
    split = _outcome(partial(split_presentation, text, max_disclosures))
    try:
        segments = _split_segments_reference(text, max_disclosures)
    except ProtocolError:
        assert split == expected
    else:
        assert split == ("ok", (segments[0], segments[1:-1], segments[-1]))
    assert _outcome(partial(split_jws, text, what="x")) == _outcome(
        partial(_split_jws_reference, text)
    )
