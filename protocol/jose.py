"""JOSE building blocks shared by every huxin token kind.

What it does: strict base64url (RFC 7515 section 2), compact JSON, JSON object parsing that
rejects duplicate member names, public JWK import/export for P-256 and Ed25519 (RFC 7517, RFC
8037), RFC 7638 thumbprints (our ``kid``), and the pluggable :class:`Signer` with the matching
:func:`verify_signature`. ES256 signatures are the raw 64-byte ``r || s`` form of RFC 7518
section 3.4; EdDSA signatures are raw Ed25519 (RFC 8037).

What it deliberately does not do: decide which algorithms are acceptable (the caller passes its
configured allowlist), fetch keys, or read the clock. Adding a national algorithm (SM2) means one
more entry in ``_ALGORITHMS`` and a signer class; nothing else changes.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from protocol.errors import AlgorithmNotAllowedError, BadSignatureError, MalformedError

ES256: Final = "ES256"
EDDSA: Final = "EdDSA"
#: Algorithms this implementation can sign and verify. A deployment allows a subset.
SUPPORTED_ALGORITHMS: Final = frozenset({ES256, EDDSA})
#: The default allowlist: ES256 only (DESIGN.md "Standards").
DEFAULT_ALLOWED_ALGORITHMS: Final = frozenset({ES256})

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
Jwk = dict[str, str]

_P256_COORD_LEN: Final = 32
_ED25519_LEN: Final = 32
_ES256_SIG_LEN: Final = 64
_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())
#: ES256 over a SHA-256 digest the caller computed (``hashlib`` is cheaper per call).
_ECDSA_SHA256_PREHASHED: Final = ec.ECDSA(Prehashed(hashes.SHA256()))
_P256: Final = ec.SECP256R1()
#: Padding that completes a base64 text of length ``n`` to a multiple of 4, by ``n % 4``.
_PADDING: Final = (b"", b"", b"==", b"=")
_B64U_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: ``bytes.translate`` table mapping the URL-safe alphabet onto the standard one.
_B64U_TO_STD: Final = bytes.maketrans(b"-_", b"+/")
#: Like :data:`_B64U_TO_STD`, and maps the standard-only ``+`` ``/`` and the padding ``=`` to
#: ``!``, which no base64 alphabet has: after it, ``a2b_base64(strict_mode=True)`` refuses
#: exactly the texts that are not unpadded base64url.
_B64U_TO_STRICT: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_STD_TO_B64U: Final = bytes.maketrans(b"+/", b"-_")


# --------------------------------------------------------------------------------------------
# base64url and JSON


def b64u_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url text."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_B64U).rstrip(b"=").decode()


def b64u_decode(text: str | bytes, *, what: str = "value") -> bytes:
    """Decode unpadded base64url strictly.

    Raises:
        MalformedError: padding, characters outside the URL-safe alphabet, or an impossible
            length (``len % 4 == 1``).
    """
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    rest = len(raw) & 3
    if rest == 1:
        raise MalformedError(f"{what} is not unpadded base64url")
    # One translate and a strict decode: any character outside the URL-safe alphabet (a
    # standard-only one or "=" included, see _B64U_TO_STRICT) fails the strict decoder, and
    # the only padding it sees is the one added here.
    try:
        return binascii.a2b_base64(
            raw.translate(_B64U_TO_STRICT) + _PADDING[rest], strict_mode=True
        )
    except binascii.Error as err:
        raise MalformedError(f"{what} is not unpadded base64url") from err


#: One encoder for every serialisation: ``json.dumps`` with keyword arguments builds one per call.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_bytes(obj: object) -> bytes:
    """Serialise ``obj`` as compact UTF-8 JSON (no spaces, non-ASCII kept as is)."""
    return _ENCODER.encode(obj).encode()


def json_text(obj: object) -> str:
    """``json_bytes(obj)`` before UTF-8 encoding; pieces of it concatenate like the whole."""
    return _ENCODER.encode(obj)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedError(f"duplicate JSON member {key!r}")
            seen.add(key)
    return out


def _no_constants(name: str) -> object:
    raise MalformedError(f"JSON constant {name} is not allowed")


#: One decoder for every parse: ``json.loads`` with keyword arguments builds a new one per call.
_DECODER: Final = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


#: The decoder's C scanner (``scan_once(text, index) -> (value, end)``, stdlib ``json``).
_SCAN: Final[Callable[[str, int], tuple[object, int]]] = _DECODER.scan_once  # type: ignore[attr-defined]
_CONTAINER_STARTS: Final = ("{", "[")


def parse_json(data: bytes | str, *, what: str = "JSON") -> object:
    """Parse any JSON value, refusing duplicate member names and NaN/Infinity.

    Raises:
        MalformedError: not UTF-8, not JSON, or a member name repeats.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        # Fast path: a compact object or array that ends where the text ends is scanned
        # directly (the C scanner and hooks ``decode`` uses, without its two whitespace
        # regexes). Anything else -- whitespace, trailing data, a scalar, an error -- goes
        # through ``decode``, so every result and every error is the full decoder's.
        if text[:1] in _CONTAINER_STARTS:
            try:
                value, end = _SCAN(text, 0)
            except StopIteration:
                end = -1
            if end == len(text):
                return value
        return _DECODER.decode(text)
    except MalformedError as err:
        raise MalformedError(f"{what}: {err.message}") from err
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise MalformedError(f"{what} is not valid JSON") from err


def parse_json_object(data: bytes | str, *, what: str = "JSON") -> dict[str, object]:
    """Parse a JSON object, refusing duplicate member names, NaN/Infinity and non-objects.

    Raises:
        MalformedError: not UTF-8, not JSON, not an object, or a member name repeats.
    """
    value = parse_json(data, what=what)
    if not isinstance(value, dict):
        raise MalformedError(f"{what} is not a JSON object")
    return value


# --------------------------------------------------------------------------------------------
# JWKs and thumbprints


def public_jwk(key: PublicKey) -> Jwk:
    """Export a public key as a minimal JWK (only the required members)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise AlgorithmNotAllowedError(f"unsupported curve {key.curve.name}")
        nums = key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64u_encode(nums.x.to_bytes(_P256_COORD_LEN, "big")),
            "y": b64u_encode(nums.y.to_bytes(_P256_COORD_LEN, "big")),
        }
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64u_encode(raw)}


def _member(jwk: Mapping[str, object], name: str) -> str:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise MalformedError(f"JWK member {name!r} is missing or not a string")
    return value


def _decode_jwk(jwk: Mapping[str, object]) -> tuple[bytes, bytes | None]:
    """The shape checks every public JWK passes: its ``x`` and, for P-256, ``y`` bytes.

    Raises:
        MalformedError: a private member ``d``, unsupported ``kty``/``crv``, missing members,
            bad base64url or wrong coordinate lengths.
    """
    if "d" in jwk:
        raise MalformedError("JWK carries private key material")
    kty = _member(jwk, "kty")
    crv = _member(jwk, "crv")
    if kty == "EC" and crv == "P-256":
        x = b64u_decode(_member(jwk, "x"), what="JWK x")
        y = b64u_decode(_member(jwk, "y"), what="JWK y")
        if len(x) != _P256_COORD_LEN or len(y) != _P256_COORD_LEN:
            raise MalformedError("P-256 JWK coordinates must be 32 bytes")
        return x, y
    if kty == "OKP" and crv == "Ed25519":
        x = b64u_decode(_member(jwk, "x"), what="JWK x")
        if len(x) != _ED25519_LEN:
            raise MalformedError("Ed25519 JWK x must be 32 bytes")
        return x, None
    raise MalformedError(f"unsupported JWK kty={kty!r} crv={crv!r}")


def public_key_from_jwk(jwk: Mapping[str, object]) -> PublicKey:
    """Import a public JWK (EC P-256 or OKP Ed25519).

    Raises:
        MalformedError: wrong shape, unsupported ``kty``/``crv``, a private member ``d``, wrong
            coordinate lengths, or a point not on the curve.
    """
    point = _p256_point(jwk)
    if point is None:
        x, y = _decode_jwk(jwk)
        if y is None:
            return ed25519.Ed25519PublicKey.from_public_bytes(x)
        point = b"\x04" + x + y
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_P256, point)
    except ValueError as err:
        raise MalformedError("JWK point is not on P-256") from err


def _p256_point(jwk: Mapping[str, object]) -> bytes | None:
    """The uncompressed point ``04 || x || y`` of a usual P-256 JWK, in one base64 pass.

    ``None`` for anything else (other key types, odd lengths, a private member, characters
    outside the alphabet): :func:`_decode_jwk` then decides, with its messages. 43 characters
    are 32 bytes and 2 spare bits, so ``x + "A" + y + "A"`` decodes to x's 32 bytes, a spare
    byte, y's 32 bytes and a spare byte -- the bytes ``b64u_decode`` gives for each (as in
    :func:`check_public_jwk`).
    """
    tx, ty = jwk.get("x"), jwk.get("y")
    if (
        type(tx) is str
        and type(ty) is str
        and len(tx) == len(ty) == _P256_COORD_B64_LEN
        and jwk.get("kty") == "EC"
        and jwk.get("crv") == "P-256"
        and "d" not in jwk
    ):
        raw = f"{tx}A{ty}A".encode("ascii", "replace").translate(_B64U_TO_STRICT)
        try:
            both = binascii.a2b_base64(raw, strict_mode=True)
        except binascii.Error:
            return None
        return b"\x04" + both[:32] + both[33:65]
    return None


# P-256 (SEC 2 secp256r1): y^2 = x^3 - 3x + b over GF(p).
_P256_P: Final = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_P256_B: Final = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


_P256_COORD_B64_LEN: Final = 43


def _on_p256(x: bytes, y: bytes) -> bool:
    """True if the 32-byte big-endian coordinates are a point of P-256 (affine, so finite)."""
    p = _P256_P
    xi = int.from_bytes(x, "big")
    yi = int.from_bytes(y, "big")
    # x * x reduced first: two reductions of 512-bit numbers cost less than one of 768 bits.
    return xi < p and yi < p and (yi * yi - (xi * xi % p - 3) * xi - _P256_B) % p == 0


def check_public_jwk(jwk: Mapping[str, object]) -> None:
    """Validate a public JWK exactly as :func:`public_key_from_jwk` does, without importing it.

    For P-256 the point check is done in integer arithmetic: both coordinates below the field
    prime and ``y^2 = x^3 - 3x + b (mod p)``. That is what the import checks (the curve has
    cofactor 1, and the point at infinity has no uncompressed encoding), at a fraction of the
    cost of building a key object; issuers validate every holder key of a batch this way.

    Raises:
        MalformedError: as :func:`public_key_from_jwk`, with the same messages.
    """
    point = _p256_point(jwk)  # the usual case in one base64 pass
    if point is not None:
        if not _on_p256(point[1:33], point[33:]):
            raise MalformedError("JWK point is not on P-256")
        return
    x, y = _decode_jwk(jwk)
    if y is not None and not _on_p256(x, y):
        raise MalformedError("JWK point is not on P-256")


def check_public_jwks(jwks: Sequence[Mapping[str, object]]) -> None:
    """:func:`check_public_jwk` for each JWK in order; one base64 pass for usual P-256 keys.

    Raises:
        MalformedError: for the first JWK that :func:`check_public_jwk` refuses, with its
            message.
    """
    coords = []
    for jwk in jwks:
        tx, ty = jwk.get("x"), jwk.get("y")
        if not (
            type(tx) is str
            and type(ty) is str
            and len(tx) == len(ty) == _P256_COORD_B64_LEN
            and jwk.get("kty") == "EC"
            and jwk.get("crv") == "P-256"
            and "d" not in jwk
        ):
            break
        coords.append(tx)
        coords.append(ty)
    else:
        if not coords:
            return
        # Each coordinate plus a spare "A" is 44 characters = 33 bytes: its 32 bytes first.
        raw = ("A".join(coords) + "A").encode("ascii", "replace")
        if not raw.translate(None, _B64U_CHARS):
            data = binascii.a2b_base64(raw.translate(_B64U_TO_STD))
            for offset in range(0, 66 * len(jwks), 66):
                if not _on_p256(data[offset : offset + 32], data[offset + 33 : offset + 65]):
                    raise MalformedError("JWK point is not on P-256")
            return
    for jwk in jwks:
        check_public_jwk(jwk)


_THUMBPRINT_MEMBERS: Final = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
#: ``json.dumps(..., separators=(",", ":"))`` without building an encoder per call.
_THUMBPRINT_ENCODER: Final = json.JSONEncoder(separators=(",", ":"))


def jwk_thumbprint(jwk: Mapping[str, object]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK, base64url: huxin's ``kid``.

    Raises:
        MalformedError: unsupported ``kty`` or a required member is missing.
    """
    members = _THUMBPRINT_MEMBERS.get(_member(jwk, "kty"))
    if members is None:
        raise MalformedError(f"no thumbprint rule for kty={jwk.get('kty')!r}")
    canonical = {name: _member(jwk, name) for name in members}
    digest = hashlib.sha256(_THUMBPRINT_ENCODER.encode(canonical).encode()).digest()
    return b64u_encode(digest)


def key_thumbprint(key: PublicKey) -> str:
    """RFC 7638 thumbprint of a public key object."""
    return jwk_thumbprint(public_jwk(key))


def algorithm_for_key(key: PublicKey | PrivateKey) -> str:
    """The JWS ``alg`` a key signs with: ES256 for P-256, EdDSA for Ed25519."""
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise AlgorithmNotAllowedError(f"unsupported curve {key.curve.name}")
        return ES256
    return EDDSA


# --------------------------------------------------------------------------------------------
# Signing and verification


class Signer(Protocol):
    """Something that signs JWS signing input: a key in memory, an HSM, a remote KMS.

    ``alg`` is the JWS algorithm, ``kid`` the RFC 7638 thumbprint of ``public_jwk``.
    """

    @property
    def alg(self) -> str: ...

    @property
    def kid(self) -> str: ...

    @property
    def public_jwk(self) -> Jwk: ...

    def sign(self, data: bytes) -> bytes:
        """Return the JWS signature over ``data`` (raw ``r || s`` for ES256)."""
        ...


@dataclass(frozen=True, eq=False)
class KeySigner:
    """A :class:`Signer` backed by a private key held in memory."""

    private_key: PrivateKey

    @property
    def alg(self) -> str:
        return algorithm_for_key(self.private_key)

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    @property
    def public_jwk(self) -> Jwk:
        return public_jwk(self.public_key)

    @functools.cached_property
    def kid(self) -> str:
        return jwk_thumbprint(self.public_jwk)

    def sign(self, data: bytes) -> bytes:
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return _es256_raw(key.sign(data, _ECDSA_SHA256))
        return key.sign(data)

    def sign_many(self, items: Sequence[bytes]) -> list[bytes]:
        """``[self.sign(data) for data in items]`` in one tight loop (batch issuance)."""
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            ecdsa, algorithm = key.sign, _ECDSA_SHA256
            return [_es256_raw(ecdsa(data, algorithm)) for data in items]
        eddsa = key.sign
        return [eddsa(data) for data in items]

    @classmethod
    def generate(cls, alg: str = ES256) -> KeySigner:
        """A fresh key for ``alg`` (ES256 or EdDSA)."""
        if alg == ES256:
            return cls(ec.generate_private_key(ec.SECP256R1()))
        if alg == EDDSA:
            return cls(ed25519.Ed25519PrivateKey.generate())
        raise AlgorithmNotAllowedError(f"cannot generate a key for alg {alg!r}")


def _es256_raw(der: bytes) -> bytes:
    """The raw 64-byte ``r || s`` of a P-256 DER ``ECDSA-Sig-Value`` made by OpenSSL.

    Byte-for-byte what ``decode_dss_signature`` plus two ``to_bytes(32)`` give, by slicing:
    every length is one byte (below 128), an INTEGER has at most one leading zero byte and at
    most 33 bytes. Anything else is handed to ``decode_dss_signature``.
    """
    rlen = der[3]
    r = der[4 : 4 + rlen]
    slen = der[5 + rlen]
    s = der[6 + rlen :]
    if der[0] != 0x30 or der[1] != len(der) - 2 or rlen > 33 or len(s) != slen or slen > 33:
        ri, si = decode_dss_signature(der)  # pragma: no cover - OpenSSL emits minimal DER
        return ri.to_bytes(_P256_COORD_LEN, "big") + si.to_bytes(_P256_COORD_LEN, "big")
    return r[-32:].rjust(32, b"\0") + s[-32:].rjust(32, b"\0")


def _es256_der(signature: bytes) -> bytes:
    """The DER ``ECDSA-Sig-Value`` of a raw 64-byte ``r || s`` signature.

    Byte-for-byte what ``encode_dss_signature(r, s)`` returns, without converting through
    integers: each half loses its leading zero bytes and gains one zero byte when its high bit
    is set (DER INTEGERs are signed); all lengths are below 128, so every length is one byte.
    """
    r = signature[:32].lstrip(b"\0")
    s = signature[32:].lstrip(b"\0")
    if not r or r[0] & 0x80:
        r = b"\0" + r
    if not s or s[0] & 0x80:
        s = b"\0" + s
    return b"\x30" + bytes((len(r) + len(s) + 4, 2, len(r))) + r + bytes((2, len(s))) + s


def verify_signature(
    alg: str,
    key: PublicKey,
    data: bytes,
    signature: bytes,
    allowed: frozenset[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> None:
    """Verify a JWS signature; return only if it is valid.

    ``alg`` comes from the token header but is checked against ``allowed`` (from configuration)
    and against the key's own type, so a header can never pick the verification algorithm.

    Raises:
        AlgorithmNotAllowedError: ``alg`` is not allowed or does not match the key type.
        BadSignatureError: the signature is invalid (including wrong length).
    """
    if alg not in allowed or alg not in SUPPORTED_ALGORITHMS:
        raise AlgorithmNotAllowedError(f"algorithm {alg!r} is not allowed")
    if alg == ES256:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise AlgorithmNotAllowedError("ES256 token for a non-EC key")
        if len(signature) != _ES256_SIG_LEN:
            raise BadSignatureError("ES256 signature must be 64 bytes")
        try:
            key.verify(_es256_der(signature), data, _ECDSA_SHA256)
        except InvalidSignature as err:
            raise BadSignatureError("signature does not verify") from err
        return
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise AlgorithmNotAllowedError("EdDSA token for a non-Ed25519 key")
    try:
        key.verify(signature, data)
    except InvalidSignature as err:
        raise BadSignatureError("signature does not verify") from err


def verify_signature_sha256(
    alg: str,
    key: PublicKey,
    data: bytes,
    data_sha256: bytes,
    signature: bytes,
    allowed: frozenset[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> None:
    """:func:`verify_signature` for a caller that already holds ``sha256(data)``.

    ES256 verifies the digest (the hash it would compute itself); EdDSA, which hashes
    differently, verifies ``data``. Same checks, same errors, same result as
    :func:`verify_signature` as long as ``data_sha256`` is ``hashlib.sha256(data).digest()``.
    The verifier hashes each signing input once and reuses the state for ``sd_hash`` and the
    replay key.

    Raises:
        AlgorithmNotAllowedError: as :func:`verify_signature`.
        BadSignatureError: as :func:`verify_signature`.
    """
    if alg != ES256 or alg not in allowed or not isinstance(key, ec.EllipticCurvePublicKey):
        verify_signature(alg, key, data, signature, allowed)
        return
    if len(signature) != _ES256_SIG_LEN:
        raise BadSignatureError("ES256 signature must be 64 bytes")
    try:
        key.verify(_es256_der(signature), data_sha256, _ECDSA_SHA256_PREHASHED)
    except InvalidSignature as err:
        raise BadSignatureError("signature does not verify") from err
