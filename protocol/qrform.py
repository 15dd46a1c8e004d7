"""The compact QR form of a presentation: the same SD-JWT+KB, packed for a gate scanner.

What it does: turns a presentation ``<issuer-jwt>~<Disclosure>~...~<kb-jwt>`` (RFC 9901 compact
serialization, ~1.4 KB) into ``HX1:`` followed by Base45 text (RFC 9285) of about 850
characters, and back, **byte for byte**. The packing (docs/protocol.md section 7.1):

1. Each base64url segment (the two JWT headers, payloads and signatures, and every Disclosure)
   is decoded to its bytes.
2. The two signatures go, raw, to a *side buffer*; in the *skeleton* each is a two-byte marker
   ``0x02 L``. In the other segments every JSON string literal that is the canonical base64url
   of 16..255 bytes (22 or more characters: the ``kid``, ``cnf.jwk`` coordinates, digests, salts,
   ``sd_hash``, a wallet nonce) has its bytes moved to the side buffer as well, leaving
   ``"`` ``0x01 L`` ``"`` in place of the string's characters.
3. The skeleton (the segments joined by ``0x00``) is compressed with raw DEFLATE and a fixed
   preset dictionary (:data:`DICTIONARY`); the body is the compressed length (two bytes, big
   endian), the compressed skeleton and the side buffer.
4. The body is Base45-encoded: the QR alphabet, so the code uses alphanumeric mode and stays
   text (gate scanners that type what they read, as the EU Digital COVID Certificate's ``HC1:``
   codes showed, mangle binary).

Everything compressible is structure; the ~460 bytes of keys, digests and signatures are stored
once, raw, instead of as base64url inside base64url. Expanding rebuilds the exact compact
serialization, so verification -- signatures, ``sd_hash``, the replay key -- is unchanged and
the two forms of one presentation are the same presentation (one replay).

What it deliberately does not do: verify anything (the expanded text goes through
:func:`protocol.verifier.verify_presentation`, which calls :func:`expand_presentation` itself),
or accept a form it would not produce: the expansion is strict (Base45 alphabet and ranges, one
complete DEFLATE stream, every side byte used) and bounded (the output never exceeds the
caller's limit, checked while inflating).
"""

from __future__ import annotations

import binascii
import re
import zlib
from typing import Final

from protocol.errors import MalformedError, TooLargeError
from protocol.jose import b64u_decode, b64u_encode

#: What a compact presentation starts with; the digit is the packing's version.
COMPACT_PREFIX: Final = "HX1:"

#: The preset DEFLATE dictionary of version 1 -- part of the wire format, never to change
#: (a new dictionary is a new prefix). Most likely text last: DEFLATE reaches the end of the
#: dictionary with the shortest distances. It is the skeleton of a typical presentation (ES256
#: issuer and holder; ``\x01 `` marks a 32-byte value, ``\x01\x10`` a 16-byte one).
DICTIONARY: Final = b"".join(
    (
        b'{"alg":"EdDSA","typ":"kb+jwt"}{"kty":"OKP","crv":"Ed25519","x":"\x01 "}',
        b'"nbf":,"_sd_alg":"sha-256"',
        b"honest-cardjasmineosmanthusqianjiangqiqihar2018-10-illustrative",
        b'"level_at_least_5",true]\x00["\x01\x10","level_at_least_4",true]\x00',
        b'["\x01\x10","level_at_least_3",true]\x00["\x01\x10","level_at_least_2",true]\x00',
        b'["\x01\x10","band",[1\x00',
        b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"\x01 "}\x00',
        b'{"iss":"https://","iat":17,"exp":17,"vct":"urn:huxin:credit-level:1",',
        b'"cnf":{"jwk":{"kty":"EC","crv":"P-256","x":"\x01 ","y":"\x01 "}},',
        b'"status":{"status_list":{"idx":1,"uri":"https:///status/1"}},',
        b'"scale":{"id":"shangding","version":"2019-1"},',
        b'"_sd":["\x01 ","\x01 ","\x01 ","\x01 ","\x01 ","\x01 "]}\x00\x02@\x00',
        b'["\x01\x10","level",3]\x00{"alg":"ES256","typ":"kb+jwt"}\x00',
        b'{"iat":17,"aud":"https://","nonce":"","sd_hash":"\x01 "}\x00\x02@',
    )
)

_SEGMENT_SEP: Final = 0x00
_VALUE_MARK: Final = 0x01
_BINARY_MARK: Final = 0x02
_STD_TO_B64U: Final = bytes.maketrans(b"+/", b"-_")
_SEGMENT_SEP_BYTE: Final = b"\x00"
_VALUE_MARK_BYTE: Final = b"\x01"
_BINARY_MARK_BYTE: Final = b"\x02"
#: Values of fewer bytes stay text; so a value's length byte is never a marker or separator.
MIN_PACKED: Final = 16
#: Base64url string literals packed as bytes: 22..340 characters (16..255 bytes).
_PACKABLE = re.compile(rb'"([A-Za-z0-9_-]{22,340})"')

_B45: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
#: ``bytes.translate`` table: a Base45 character's byte to its digit, any other byte to 0xFF.
_NOT_B45: Final = 0xFF
_B45_DIGITS: Final = bytes(_B45.find(chr(b)) if chr(b) in _B45 else _NOT_B45 for b in range(256))


def b45encode(data: bytes) -> str:
    """Base45 (RFC 9285 section 4) of ``data``."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += (_B45[c], _B45[d], _B45[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (_B45[c], _B45[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """The bytes of Base45 ``text`` (RFC 9285 section 4.2), strictly.

    No Python code runs per character: the digits come from one ``bytes.translate``, and each
    group's value ``c + 45 d + 2025 e`` is computed for all groups at once on big integers
    whose 24-bit lanes hold one group each (no lane can carry into the next: 91,124 < 2**24).

    Raises:
        MalformedError: a character outside the alphabet, a length of 1 modulo 3, or a group
            whose value does not fit its bytes (RFC 9285 section 6: such input MUST fail).
    """
    if len(text) % 3 == 1:
        raise MalformedError("compact presentation: Base45 length is 1 modulo 3")
    digits = text.encode("ascii", "replace").translate(_B45_DIGITS)
    if _NOT_B45 in digits:
        raise MalformedError("compact presentation: a character outside Base45")
    full = len(digits) - len(digits) % 3
    groups = full // 3
    value = 0
    for weight, first in ((1, 0), (45, 1), (2025, 2)):
        lanes = bytearray(3 * groups)
        lanes[2::3] = digits[first:full:3]
        value += weight * int.from_bytes(lanes, "big")
    packed = value.to_bytes(3 * groups, "big")
    if packed[0::3].count(0) != groups:
        raise MalformedError("compact presentation: a Base45 group above 65535")
    out = bytearray(2 * groups)
    out[0::2] = packed[1::3]
    out[1::2] = packed[2::3]
    if full < len(digits):
        last = digits[full] + digits[full + 1] * 45
        if last > 0xFF:
            raise MalformedError("compact presentation: a final Base45 pair above 255")
        out.append(last)
    return bytes(out)


def _canonical(text: str | bytes) -> bytes | None:
    # The bytes of canonical base64url only (bytes that re-encode to exactly this text), so
    # the expansion, which re-encodes, rebuilds the very characters that were signed.
    try:
        data = b64u_decode(text)
    except MalformedError:
        return None
    canonical = b64u_encode(data)
    return data if canonical == (text if isinstance(text, str) else text.decode("ascii")) else None


def _pack_text(data: bytes, side: bytearray) -> bytes:
    if any(b <= _BINARY_MARK for b in data):
        raise MalformedError("not a presentation: a decoded segment holds control bytes")

    def pack(match: re.Match[bytes]) -> bytes:
        raw = _canonical(match.group(1))
        if raw is None or not MIN_PACKED <= len(raw) <= 255:  # not canonical: kept as text
            return match.group(0)
        side.extend(raw)
        return b'"' + bytes((_VALUE_MARK, len(raw))) + b'"'

    return _PACKABLE.sub(pack, data)


def compact_presentation(presentation: str) -> str:
    """The compact QR form (``HX1:...``) of a presentation; see the module docstring.

    Raises:
        MalformedError: not ``<jwt>~...~<jwt>`` with canonical base64url segments, or a decoded
            header, payload or Disclosure holding a byte below 0x03 (no JSON text does).
    """
    parts = presentation.split("~")
    if len(parts) < 2 or not presentation.isascii():
        raise MalformedError("not a presentation: expected <issuer-jwt>~...~<kb-jwt>")
    issuer, kb = parts[0].split("."), parts[-1].split(".")
    if len(issuer) != 3 or len(kb) != 3:
        raise MalformedError("not a presentation: the first and last parts must be JWTs")
    segments = [*issuer, *parts[1:-1], *kb]
    signatures = {2, len(segments) - 1}
    side = bytearray()
    skeleton = []
    for n, segment in enumerate(segments):
        data = _canonical(segment)
        if data is None:
            raise MalformedError("not a presentation: a segment is not canonical base64url")
        if n in signatures:
            if not 1 <= len(data) <= 255:
                raise MalformedError("not a presentation: a signature of 0 or over 255 bytes")
            side.extend(data)
            skeleton.append(bytes((_BINARY_MARK, len(data))))
        else:
            skeleton.append(_pack_text(data, side))
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    packed = packer.compress(bytes((_SEGMENT_SEP,)).join(skeleton)) + packer.flush()
    if len(packed) > 0xFFFF:
        raise MalformedError("not a presentation: far too large for a QR code")
    body = len(packed).to_bytes(2, "big") + packed + bytes(side)
    return COMPACT_PREFIX + b45encode(body)


def is_compact(presentation: str | bytes) -> bool:
    """Whether ``presentation`` is in the compact QR form (starts with ``HX1:``)."""
    if isinstance(presentation, bytes):
        return presentation.startswith(COMPACT_PREFIX.encode("ascii"))
    return presentation.startswith(COMPACT_PREFIX)


def _inflate(packed: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(-15, zdict=DICTIONARY)
    try:
        skeleton = inflater.decompress(packed, max_bytes + 1)
    except zlib.error as err:
        raise MalformedError("compact presentation: the skeleton is not a DEFLATE stream") from err
    if len(skeleton) > max_bytes or inflater.unconsumed_tail:
        raise TooLargeError(f"compact presentation expands beyond {max_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MalformedError("compact presentation: the DEFLATE stream is truncated or followed")
    return skeleton


def _b64u(data: bytes) -> bytes:
    """Unpadded base64url, as bytes (``jose.b64u_encode`` without the str round trip)."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_B64U).rstrip(b"=")


def _rebuild(skeleton: bytes, side: bytes) -> list[str]:
    """The base64url segments of a presentation from its skeleton and side buffer.

    Raises:
        MalformedError: a marker out of place or without its bytes, side bytes left over.
    """
    segments: list[str] = []
    at = 0
    for packed in skeleton.split(_SEGMENT_SEP_BYTE):
        if packed[:1] == _BINARY_MARK_BYTE:
            if len(packed) != 2:
                raise MalformedError("compact presentation: a binary marker inside text")
            end = at + packed[1]
            if end > len(side):
                raise MalformedError("compact presentation: a marker has no bytes behind it")
            segments.append(_b64u(side[at:end]).decode("ascii"))
            at = end
            continue
        if _BINARY_MARK_BYTE in packed:
            raise MalformedError("compact presentation: a binary marker inside text")
        text, *values = packed.split(_VALUE_MARK_BYTE)
        pieces = [text]
        for piece in values:  # each starts with its value's length, then the text after it
            if not piece or piece[0] < MIN_PACKED:
                raise MalformedError("compact presentation: a value marker without a valid length")
            end = at + piece[0]
            if end > len(side):
                raise MalformedError("compact presentation: a marker has no bytes behind it")
            pieces += (_b64u(side[at:end]), piece[1:])
            at = end
        segments.append(_b64u(b"".join(pieces)).decode("ascii"))
    if at != len(side):
        raise MalformedError("compact presentation: side bytes left over")
    return segments


def expand_presentation(text: str, *, max_bytes: int) -> str:
    """The presentation (RFC 9901 compact serialization) a compact QR form stands for.

    Args:
        text: ``HX1:`` and Base45, as :func:`compact_presentation` makes it.
        max_bytes: the largest presentation the caller accepts; the expansion stops there.

    Raises:
        MalformedError: not the compact form: wrong prefix, bad Base45, a broken or trailing
            DEFLATE stream, fewer than six segments, a marker without its bytes, side bytes
            left over.
        TooLargeError: the skeleton or the rebuilt presentation exceeds ``max_bytes``.
    """
    if not is_compact(text):
        raise MalformedError(f"compact presentation: does not start with {COMPACT_PREFIX}")
    body = b45decode(text[len(COMPACT_PREFIX) :])
    if len(body) < 2:
        raise MalformedError("compact presentation: no body")
    size = int.from_bytes(body[:2], "big")
    if size > len(body) - 2:
        raise MalformedError("compact presentation: the skeleton is cut short")
    encoded = _rebuild(_inflate(body[2 : 2 + size], max_bytes), body[2 + size :])
    if len(encoded) < 6:
        raise MalformedError("compact presentation: fewer than six segments")
    issuer = ".".join(encoded[:3])
    kb = ".".join(encoded[-3:])
    presentation = "~".join((issuer, *encoded[3:-3], kb))
    if len(presentation) > max_bytes:
        raise TooLargeError(f"compact presentation expands beyond {max_bytes} bytes")
    return presentation
