"""Generate ``tests/vectors/status_lists.json``: Token Status List vectors in Wycheproof shape.

Run ``python tests/vectors/generate_status_lists.py`` to rewrite the file, ``--check`` to only
compare. The output is a pure function of this script: keys come from fixed seeds, ES256
signatures use RFC 6979 deterministic nonces, random lists use a seeded PRNG, and zlib output is
stable for a given zlib build. ``tests/protocol/test_status_list_vectors.py`` checks the
committed file equals what this script produces, then runs every case.

Two kinds of case, both with ``tcId``, ``comment``, ``result`` (``valid``/``invalid``) and
``error`` (the expected code, or null):

* ``status_list`` -- input ``status_list`` (the JSON Status List, possibly malformed) and
  ``max_size`` (entries, null = the default); valid cases give ``bits``, ``size`` and
  ``statuses`` (every non-zero entry, index as a decimal string). The four test vectors and the
  two worked examples of draft-ietf-oauth-status-list-14 are included with their ``origin``.
* ``status_list_token`` -- input ``token``, ``uri``, ``issuer`` (expected ``iss`` or null),
  ``now`` (Unix seconds), ``allowed_algorithms``, ``leeway`` (seconds) and
  ``max_token_bytes`` (null = the default); the verifier's keys are the file's ``keys``.
  Valid cases add ``iss``, ``iat``, ``exp``, ``ttl``, ``bits``, ``size`` and ``statuses``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import hmac
import json
import random
import sys
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from protocol.jose import EDDSA, ES256, KeySigner, b64u_encode, json_bytes
from protocol.status_list import StatusList

OUTPUT = Path(__file__).with_name("status_lists.json")

ISSUER = "https://zz.huxin.cn"
URI = "https://zz.huxin.cn/status/1"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
IAT = NOW - 600
LIFETIME = 86_400
TTL = 3_600
LEEWAY = 60

DRAFT = "draft-ietf-oauth-status-list-14"
DRAFT_APPENDIX = f"{DRAFT}, appendix 'Test vectors for Status List encoding'"

# The draft's test vectors: 2**20 entries, all VALID except those listed, and the draft's
# JSON encoding of each (examples/status_list_encoding{1_long,2_long,4,8}_json in
# https://github.com/oauth-wg/draft-ietf-oauth-status-list).
_DRAFT_SIZE = 1 << 20
_DRAFT_1BIT = dict.fromkeys(
    (0, 1993, 25460, 159495, 495669, 554353, 645645, 723232, 854545, 934534, 1000345), 1
)
_DRAFT_1BIT_LST = (
    "eNrt3AENwCAMAEGogklACtKQPg9LugC9k_ACvreiogEAAKkeCQAAAAAAAAAAAAAAAAAAAIBylgQAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAXG9IAAAAAAAAAPwsJAAAAAAAAAAAAAAAvhsSAAAAAAAAAAAA"
    "7KpLAAAAAAAAAAAAAAAAAAAAAJsLCQAAAAAAAAAAADjelAAAAAAAAAAAKjDMAQAAAACAZC8L2AEb"
)
_DRAFT_2BIT = {
    0: 1, 1993: 2, 25460: 1, 159495: 3, 495669: 1, 554353: 1,
    645645: 2, 723232: 1, 854545: 1, 934534: 2, 1000345: 3,
}  # fmt: skip
_DRAFT_2BIT_LST = (
    "eNrt2zENACEQAEEuoaBABP5VIO01fCjIHTMStt9ovGVIAAAAAABAbiEBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAEB5WwIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAID0ugQAAAAAAAAAAAAAAAAAQG12SgAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AOCSIQEAAAAAAAAAAAAAAAAAAAAAAAD8ExIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAwJEuAQAAAAAA"
    "AAAAAAAAAAAAAAAAAMB9SwIAAAAAAAAAAAAAAAAAAACoYUoAAAAAAAAAAAAAAEBqH81gAQw"
)
_DRAFT_4BIT = {
    0: 1, 1993: 2, 35460: 3, 459495: 4, 595669: 5, 754353: 6, 845645: 7, 923232: 8,
    924445: 9, 934534: 10, 1004534: 11, 1000345: 12, 1030203: 13, 1030204: 14, 1030205: 15,
}  # fmt: skip
_DRAFT_4BIT_LST = (
    "eNrt0EENgDAQADAIHwImkIIEJEwCUpCEBBQRHOy35Li1EjoOQGabAgAAAAAAAAAAAAAAAAAAACC1SQEAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABA"
    "DrsCAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AADoxaEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAIIoCgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACArpwK"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGhqVkAzlwIAAAAAiGVRAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAABx3AoAgLpVAQAAAAAAAAAAAAAAwM89rwMAAAAAAAAAAAjsA9xMBMA"
)
# 8 bits: status[_DRAFT_8BIT_INDEX[v]] = v for v = 0 .. 255.
_DRAFT_8BIT_INDEX = (
    233478, 52451, 576778, 513575, 468106, 292632, 214947, 182323, 884834, 66653, 62489,
    196493, 458517, 487925, 55649, 416992, 879796, 462297, 942059, 583408, 13628, 334829,
    886286, 713557, 582738, 326064, 451545, 705889, 214350, 194502, 796765, 202828, 752834,
    721327, 554740, 91122, 963483, 261779, 793844, 165255, 614839, 758403, 403258, 145867,
    96100, 477937, 606890, 167335, 488197, 211815, 797182, 582952, 950870, 765108, 341110,
    776325, 745056, 439368, 559893, 149741, 358903, 513405, 342679, 969429, 795775, 566121,
    460566, 680070, 117310, 480348, 67319, 661552, 841303, 561493, 138807, 442463, 659927,
    445910, 1046963, 829700, 962282, 299623, 555493, 292826, 517215, 551009, 898490, 837603,
    759161, 459948, 290102, 1034977, 190650, 98810, 229950, 320531, 335506, 885333, 133227,
    806915, 800313, 981571, 527253, 24077, 240232, 559572, 713399, 233941, 615514, 911768,
    331680, 951527, 6805, 552366, 374660, 223159, 625884, 417146, 320527, 784154, 338792,
    1199, 679804, 1024680, 40845, 234603, 761225, 644903, 502167, 121477, 505144, 165165,
    179628, 1019195, 145149, 263738, 269256, 996739, 346296, 555864, 887384, 444173, 421844,
    653716, 836747, 783119, 918762, 946835, 253764, 519895, 471224, 134272, 709016, 44112,
    482585, 461829, 15080, 148883, 123467, 480125, 141348, 65877, 692958, 148598, 499131,
    584009, 1017987, 449287, 277478, 991262, 509602, 991896, 853666, 399318, 197815, 203278,
    903979, 743015, 888308, 862143, 979421, 113605, 206397, 127113, 844358, 711569, 229153,
    521470, 401793, 398896, 940810, 293983, 884749, 384802, 584151, 970201, 523882, 158093,
    929312, 205329, 106091, 30949, 195586, 495723, 348779, 852312, 1018463, 1009481, 448260,
    841042, 122967, 345269, 794764, 4520, 818773, 556171, 954221, 598210, 887110, 1020623,
    324632, 398244, 622241, 456551, 122648, 127837, 657676, 119884, 105156, 999897, 330160,
    119285, 168005, 389703, 143699, 142524, 493258, 846778, 251420, 516351, 83344, 171931,
    879178, 663475, 546865, 428362, 658891, 500560, 557034, 830023, 274471, 629139, 958869,
    663071, 152133, 19535,
)  # fmt: skip
_DRAFT_8BIT_LST = (
    "eNrt0WOQM2kYhtGsbdu2bdu2bdu2bdu2bdu2jVnU1my-SWYm6U5enFPVf7ue97orFYAo7CQBAACQuuckAABStqUE"
    "AAAAAAAAtN6wEgAE71QJAAAAAIrwhwQAAAAAAdtAAgAAAAAAACLwkAQAAAAAAAAAAACUaFcJAACAeJwkAQAAAAAA"
    "AABQvL4kAAAAWmJwCQAAAAAAAAjAwBIAAAB06ywJoDKQBARpfgkAAAAAAAAAAAAAAAAAAACo50sJAAAAAAAAAOiR"
    "cSQAAAAAgAJNKgEAAG23mgQAAAAAAECw3pUAQvegBAAAAAAAAADduE4CAAAAyjSvBAAQiw8koHjvSABAb-wlARCO"
    "NyVoxtMSZOd0CQAAAOjWDRKQmLckAAAAAACysLYEQGcnSAAAAAAQooUlAABI15kSAIH5RAIgLB9LABC4_SUgGZNI"
    "AABAmM6RoLbTJIASzCIBAEAhfpcAAAAAAABquk8CAAAAAAAAaJl9SvvzBOICAFWmkIBgfSgBAAAANOgrCQAAAAAA"
    "AADStK8EAAC03gASAAAAAAAAAADFWFUCAAAAMjOaBEADHpYAQjCIBADduFwCAAAAAGitMSSI3BUSAECOHpAA6IHr"
    "JQAAAAAAsjeVBAAAKRpVAorWvwQAAAAAAAAAkKRtJAAAAAAAgCbcLAF0bXUJAAAAoF02kYDg7CYBAAAAAEB6NpQA"
    "AAAAAAAAAAAAAEr1uQQAAF06VgIAAAAAAAAAqDaeBAAQqgMkAAAAAABogQMlAAAAAAAa87MEAAAQiwslAAAAAAAA"
    "AAAAAAAAMrOyBAAAiekv-hcsY0Sgne6QAAAAAAAgaUtJAAAAAAAAAAAAAAAAAAAAAAAAAADwt-07vjVkAAAAgDy8"
    "KgFAUEaSAAAAAJL3vgQAWdhcAgAAoBHDSUDo1pQAAACI2o4SAABZm14CALoyuwQAAPznGQkgZwdLAAAQukclAAAA"
    "AAAAAAAAgKbMKgEAAAAAAAAAAAAAAAAAAECftpYAAAAAAAAAAAAACnaXBAAAAADk7iMJAAAAAAAAAABqe00CAnGb"
    "BBG4TAIAgFDdKgFAXCaWAAAAAAAAAAAAAAAAAKAJQwR72XbGAQAAAKAhh0sAAAAAAABQgO8kAAAAAAAAAAAAACAa"
    "M0kAAAC5W0QCAIJ3mAQAxGwxCQAA6nhSAsjZBRIAANEbWQIAAAAAaJE3JACAwA0qAUBIVpKAlphbAiAPp0iQnKEk"
    "AAAAAAAgBP1KAAAAdOl4CQAAAAAAAPjLZBIAAG10RtrPm8_CAEBMTpYAAAAAAIjQYBL8z5QSAAAAAEDYPpUAACAs"
    "j0gAAADQkHMlAAjHDxIA0Lg9JQAAgHDsLQEAAABAQS6WAAAAgLjNFs2l_RgLAIAEfCEBlGZZCQAAaIHjJACgtlsk"
    "AAAozb0SAAAAVFtfAgAAAAAAAAAAAAAAAAAAAAAAAKDDtxIAAAAAVZaTAKB5W0kAANCAsSUgJ0tL0GqHSNBbL0gA"
    "ZflRAgCARG0kQXNmlgCABiwkAQAAAEB25pIAAAAAAAAAAAAAoFh9SwAAAAAAADWNmOSrpjFsEoaRgDKcF9Q1dxsE"
    "AAAAAAAAAAAAAAAAgPZ6SQIAAAAAAAAAgChMLgEAAAAAAAAAqZlQAsK2qQQAAAAAAAD06XUJAAAAqG9bCQAAgLD9"
    "IgEAAAAAAAAAAAAAAAAAAEBNe0gAAAAAAAAAAEBPHSEBAAAAlOZtCYA4fS8B0GFRCQAo0gISAOTgNwmC840EAAAA"
    "AAAAAAAAAAAAAAAAUJydJfjXPBIAAAAAAAAAAAAAAABk6WwJAAAAAAAAAAAAAAAAqG8UCQAAgPpOlAAAIA83SQAA"
    "NWwc9HUjGAgAAAAAAACAusaSAAAAAAAAAAAAAAAAAAAAAAAAAAAAqHKVBACQjxklAAAAAAAAAKBHxpQAAAAAACBM"
    "E0lAdlaUAACyt7sEAAAA0Nl0EgAAAAAAAAAAAABA-8wgAQAAAAAAAKU4SgKgUtlBAgAAAAAAAAAAgMCMLwEE51kJ"
    "ICdzSgCJGl2CsE0tAQAA0L11JQAAAAAAAAjUOhIAAAAAAAAAAAAAAGTqeQkAAAAAAAAAAAAAKM8SEjTrJwkAAAAA"
    "AACocqQEULgVJAAAACjDUxJUKgtKAAAAqbpRAgCA0n0mAQAAAABAGzwmAUCTLpUAAAAAAAAAAEjZNRIAAAAAAAAA"
    "AAAAAAAAAAAA8I-vJaAlhpQAAAAAAHrvzjJ-OqCuuVlLAojP8BJAr70sQZVDJYAgXS0BAAAAAAAAAAAAtMnyEgAA"
    "AAAAFONKCQAAAAAAAADorc0kAAAAAAAAgDqOlgAAAAAAAAAAAADIwv0SAAAAAAAAAAAAAADBuV0CIFVDSwAAAABA"
    "AI6RAAAAAGIwrQSEZAsJAABouRclAAAAAKDDrxIAAAA0bkkJgFiMKwEAAAAAAHQyhwRk7h4JAAAAAAAAAAAgatdK"
    "AACUYj0JAAAAAAAAAAAAQnORBLTFJRIAAAAAkIaDJAAAAJryngQAAAAAAAAAAAA98oQEAAAAAAAAAEC2zpcgWY9L"
    "QKL2kwAgGK9IAAAAAPHaRQIAAAAAAAAAAADIxyoSAAAAAAAAAAAAAADQFotLAECz_gQ1PX-B"
)


class DeterministicSigner(KeySigner):
    """A :class:`KeySigner` whose ES256 signatures use RFC 6979 nonces, for stable vectors."""

    def sign(self, data: bytes) -> bytes:
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            der = key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
            r, s = decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return key.sign(data)


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"huxin status list vectors: {label}".encode()).digest()


def es256_signer(label: str) -> DeterministicSigner:
    """A P-256 signer whose private scalar is derived from ``label``."""
    scalar = int.from_bytes(_seed(label), "big") % (2**256 - 2**224 - 1) + 1
    return DeterministicSigner(ec.derive_private_key(scalar, ec.SECP256R1()))


def eddsa_signer(label: str) -> DeterministicSigner:
    """An Ed25519 signer whose seed is derived from ``label``."""
    return DeterministicSigner(ed25519.Ed25519PrivateKey.from_private_bytes(_seed(label)))


def _jws(
    header: Mapping[str, object], payload: Mapping[str, object] | bytes, signer: KeySigner
) -> str:
    body = payload if isinstance(payload, bytes) else json_bytes(payload)
    signing_input = b64u_encode(json_bytes(header)) + "." + b64u_encode(body)
    return signing_input + "." + b64u_encode(signer.sign(signing_input.encode("ascii")))


def _statuses(status_list: StatusList) -> dict[str, int]:
    return {str(idx): value for idx, value in status_list.nonzero()}


class _Cases:
    def __init__(self) -> None:
        self.cases: list[dict[str, object]] = []

    def add(self, comment: str, kind: str, error: str | None, **fields: object) -> None:
        case: dict[str, object] = {"tcId": len(self.cases) + 1, "comment": comment, "kind": kind}
        case.update(fields)
        case["result"] = "valid" if error is None else "invalid"
        case["error"] = error
        self.cases.append(case)


def _z(data: bytes, bits: int = 1) -> dict[str, object]:
    """A status_list object whose lst is ``data`` in base64url (data is not recompressed)."""
    return {"bits": bits, "lst": b64u_encode(data)}


def _list_cases(out: _Cases) -> None:
    def valid(
        comment: str, obj: Mapping[str, object], expected: StatusList, **extra: object
    ) -> None:
        out.add(
            comment,
            "status_list",
            None,
            status_list=dict(obj),
            max_size=extra.pop("max_size", None),
            bits=expected.bits,
            size=expected.size,
            statuses=_statuses(expected),
            **extra,
        )

    def invalid(comment: str, obj: object, error: str, max_size: int | None = None) -> None:
        out.add(comment, "status_list", error, status_list=obj, max_size=max_size)

    # The draft's worked examples (section 4) and its appendix test vectors.
    example = f"{DRAFT}, section 4 (Status List) examples"
    valid(
        "draft example: 16 entries of 1 bit, bytes b9 a3",
        {"bits": 1, "lst": "eNrbuRgAAhcBXQ"},
        StatusList.build(16, [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]),
        origin=example,
    )
    valid(
        "draft example: 12 entries of 2 bits, bytes c9 44 f9",
        {"bits": 2, "lst": "eNo76fITAAPfAgc"},
        StatusList.build(12, [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3], bits=2),
        origin=example,
    )
    draft_8bit = dict(zip(_DRAFT_8BIT_INDEX, range(256), strict=True))
    for bits, statuses, lst in (
        (1, _DRAFT_1BIT, _DRAFT_1BIT_LST),
        (2, _DRAFT_2BIT, _DRAFT_2BIT_LST),
        (4, _DRAFT_4BIT, _DRAFT_4BIT_LST),
        (8, draft_8bit, _DRAFT_8BIT_LST),
    ):
        valid(
            f"draft test vector: 2^20 entries of {bits} bit(s)",
            {"bits": bits, "lst": lst},
            StatusList.build(_DRAFT_SIZE, statuses, bits=bits),
            origin=f"{DRAFT_APPENDIX}, {bits} bit Status List",
        )

    # Our own lists: every width, random statuses, dense and sparse.
    rng = random.Random(20260101)
    for bits in (1, 2, 4, 8):
        size = 8 * 125 + 8 // bits * 3
        dense = bytes(rng.randrange(1 << bits) for _ in range(size))
        sl = StatusList.build(size, dense, bits=bits)
        valid(f"random dense list, {size} entries of {bits} bit(s)", sl.encode(), sl)
        top = (1 << bits) - 1
        sparse_map = {rng.randrange(100_000): top for _ in range(50)}
        sparse = StatusList.build(100_000, sparse_map, bits=bits)
        valid(f"sparse list, 100000 entries of {bits} bit(s)", sparse.encode(), sparse)
    one = StatusList.build(8, {3: 1})
    valid("a single byte: entry 3 revoked", one.encode(), one)
    valid(
        "unknown members besides bits and lst are ignored",
        {**one.encode(), "aggregation_uri": "https://zz.huxin.cn/status"},
        one,
    )
    exactly = StatusList.build(1 << 20, {(1 << 20) - 1: 1})
    valid("exactly max_size 2^20 entries at 1 bit", exactly.encode(), exactly, max_size=1 << 20)

    lst = b64u_encode(one.compressed())
    packed = one.packed
    for bad_bits in (0, 3, 16, -1):
        invalid(f"bits {bad_bits} is not 1, 2, 4 or 8", {"bits": bad_bits, "lst": lst}, "malformed")
    invalid('bits is the string "1"', {"bits": "1", "lst": lst}, "malformed")
    invalid("bits is the boolean true", {"bits": True, "lst": lst}, "malformed")
    invalid("bits is 1.0, not an integer", {"bits": 1.0, "lst": lst}, "malformed")
    invalid("bits missing", {"lst": lst}, "malformed")
    invalid("lst missing", {"bits": 1}, "malformed")
    invalid("lst is not a string", {"bits": 1, "lst": 12345}, "malformed")
    invalid("status_list is not an object", [1, lst], "malformed")
    padded = b64u_encode(zlib.compress(b"\x01\x02", 9)) + "=="
    invalid("lst is padded base64url", {"bits": 1, "lst": padded}, "malformed")
    invalid(
        "lst uses the standard base64 alphabet", {"bits": 1, "lst": "eNr+uRgAAhcBXQ"}, "malformed"
    )
    invalid("lst has an impossible base64url length", {"bits": 1, "lst": "eNrbu"}, "malformed")
    invalid("empty lst", {"bits": 1, "lst": ""}, "malformed")
    z = zlib.compress(packed, 9)
    invalid("lst is raw DEFLATE without the zlib wrapper", _z(z[2:-4]), "malformed")
    invalid("lst is gzip, not zlib", _z(gzip.compress(packed, 9, mtime=0)), "malformed")
    z = zlib.compress(b"\x00\x10" * 64, 9)
    invalid("zlib stream truncated (no Adler-32 trailer)", _z(z[:-4]), "malformed")
    invalid("zlib stream cut in the middle", _z(z[: len(z) // 2]), "malformed")
    invalid("zlib Adler-32 checksum wrong", _z(z[:-1] + bytes([z[-1] ^ 1])), "malformed")
    invalid("trailing bytes after the zlib stream", _z(z + b"\x00"), "malformed")
    invalid("two concatenated zlib streams", _z(z + z), "malformed")
    invalid("empty list (zlib of zero bytes)", _z(zlib.compress(b"", 9)), "malformed")
    # 8 MiB of zeros in 8 KiB: twice the default limit (2**25 entries = 4 MiB at 1 bit).
    bomb = zlib.compress(bytes(8 << 20), 9)
    invalid("zlib bomb: 8 MiB of zeros, above the default 2^25 entries", _z(bomb), "too_large")
    invalid(
        "zlib bomb at 8 bits: 8 MiB of zeros, above a max_size of 2^20 entries",
        _z(bomb, bits=8),
        "too_large",
        max_size=1 << 20,
    )
    just_over = zlib.compress(bytes(1 << 17) + b"\x00", 9)
    invalid(
        "one byte more than a max_size of 2^20 entries at 1 bit",
        _z(just_over),
        "too_large",
        max_size=1 << 20,
    )
    stored = zlib.compress(random.Random(7).randbytes(1 << 16), 0)
    invalid(
        "lst longer than any stream inflating to max_size (2^16 entries) could be",
        _z(stored),
        "too_large",
        max_size=1 << 16,
    )


def _token_cases(out: _Cases, es256: KeySigner, eddsa: KeySigner, stranger: KeySigner) -> None:
    sl = StatusList.build(10_000, {7: 1, 42: 2, 9_999: 1}, bits=2)
    lst = sl.encode()

    def claims(**changes: object) -> dict[str, object]:
        base: dict[str, object] = {
            "sub": URI,
            "iss": ISSUER,
            "iat": IAT,
            "exp": IAT + LIFETIME,
            "ttl": TTL,
            "status_list": lst,
        }
        for name, value in changes.items():
            if value is None:
                base.pop(name, None)
            else:
                base[name] = value
        return base

    def header(signer: KeySigner, **changes: object) -> dict[str, object]:
        base: dict[str, object] = {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt"}
        for name, value in changes.items():
            if value is None:
                base.pop(name, None)
            else:
                base[name] = value
        return base

    def case(
        comment: str,
        token: str,
        error: str | None,
        *,
        now: int = NOW,
        algs: Sequence[str] = (ES256,),
        uri: str = URI,
        issuer: str | None = None,
        max_token_bytes: int | None = None,
        expect: StatusList = sl,
        iss: str = ISSUER,
        iat: int = IAT,
    ) -> None:
        fields: dict[str, object] = {
            "token": token,
            "uri": uri,
            "issuer": issuer,
            "now": now,
            "allowed_algorithms": sorted(algs),
            "leeway": LEEWAY,
            "max_token_bytes": max_token_bytes,
        }
        if error is None:
            fields.update(
                iss=iss,
                iat=iat,
                exp=iat + LIFETIME,
                ttl=TTL,
                bits=expect.bits,
                size=expect.size,
                statuses=_statuses(expect),
            )
        out.add(comment, "status_list_token", error, **fields)

    def es(hdr: Mapping[str, object] | None = None, **changes: object) -> str:
        """A token signed by the trusted ES256 key, header overrides in ``hdr``."""
        return _jws(header(es256, **(hdr or {})), claims(**changes), es256)

    both = (ES256, EDDSA)
    good = es()
    case("valid ES256 status list token", good, None)
    case("valid, issuer pinned to the referenced token's iss", good, None, issuer=ISSUER)
    ed_good = _jws(header(eddsa), claims(), eddsa)
    case("valid EdDSA token, both algorithms allowed", ed_good, None, algs=both)
    app_typ = es({"typ": "application/statuslist+jwt"})
    case("valid with typ application/statuslist+jwt", app_typ, None)
    late = IAT + LIFETIME + 30
    case("valid: exp passed 30 s ago, inside the 60 s leeway", good, None, now=late)
    case("valid: iat 30 s in the future, inside the leeway", good, None, now=IAT - 30)

    head, _, sig = good.rpartition(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    case("signature altered", f"{head}.{flipped}", "bad_signature")
    all_valid = StatusList.build(10_000, {}, bits=2).encode()
    swapped = good.split(".")
    swapped[1] = b64u_encode(json_bytes(claims(status_list=all_valid)))
    case("payload swapped for an all-VALID list", ".".join(swapped), "bad_signature")
    foreign = _jws(header(stranger), claims(), stranger)
    case("signed by a key the resolver does not have", foreign, "unknown_key")
    forged = _jws(header(es256), claims(), stranger)
    case("kid of the trusted key, signed by another key", forged, "bad_signature")
    case("iss is not a trusted issuer", es(iss="https://evil.example"), "untrusted_issuer")
    case("typ JWT", es({"typ": "JWT"}), "wrong_type")
    case("typ missing", es({"typ": None}), "wrong_type")
    case("typ of an SD-JWT", es({"typ": "dc+sd-jwt"}), "wrong_type")
    payload_b64 = b64u_encode(json_bytes(claims()))
    none_token = b64u_encode(json_bytes(header(es256, alg="none"))) + "." + payload_b64 + "."
    case("alg none with an empty signature", none_token, "alg_not_allowed")
    hs_input = b64u_encode(json_bytes(header(es256, alg="HS256"))) + "." + payload_b64
    hs_sig = hmac.new(json_bytes(es256.public_jwk), hs_input.encode(), hashlib.sha256).digest()
    hs_token = hs_input + "." + b64u_encode(hs_sig)
    case("HS256 keyed with the issuer's public JWK", hs_token, "alg_not_allowed")
    case("EdDSA token but only ES256 allowed", ed_good, "alg_not_allowed")
    ed_as_es = _jws(header(eddsa, alg=ES256), claims(), eddsa)
    case("alg ES256 with the Ed25519 key's kid", ed_as_es, "alg_not_allowed", algs=both)
    supplied: tuple[tuple[str, object], ...] = (
        ("jwk", es256.public_jwk),
        ("jku", "https://evil.example/jwks.json"),
        ("x5u", "https://evil.example/cert.pem"),
        ("x5c", ["MIIB"]),
    )
    for name, value in supplied:
        case(f"header {name} tries to supply a key", es({name: value}), "forbidden_header")
    case("crit header", es({"crit": ["exp"]}), "forbidden_header")
    case("kid missing", es({"kid": None}), "malformed")
    case("expired: exp passed 60 s ago", good, "expired", now=IAT + LIFETIME + LEEWAY)
    case("not yet valid: iat 61 s in the future", good, "not_yet_valid", now=IAT - LEEWAY - 1)
    case("nbf in the future", es(nbf=NOW + 3600), "not_yet_valid")
    case("sub is another list", good, "wrong_subject", uri="https://zz.huxin.cn/status/2")
    other_city = _jws(header(eddsa), claims(iss="https://hz.huxin.cn"), eddsa)
    case(
        "iss is not the referenced token's issuer",
        other_city,
        "wrong_subject",
        algs=both,
        issuer=ISSUER,
    )
    for name in ("sub", "iss", "iat", "exp", "status_list"):
        case(f"{name} missing", es(**{name: None}), "missing_claim")
    case("exp before iat", es(exp=IAT - 1), "malformed")
    case("iat is a string", es(iat=str(IAT)), "malformed")
    case("ttl is negative", es(ttl=-1), "malformed")
    case("ttl is zero", es(ttl=0), "malformed")
    case("sub is not a string", es(sub=[URI]), "malformed")
    case("status_list bits 3", es(status_list={"bits": 3, "lst": lst["lst"]}), "malformed")
    bomb = _z(zlib.compress(bytes(8 << 20), 9))
    case("signed zlib bomb: 8 MiB of zeros", es(status_list=bomb), "too_large")
    duplicate = json_bytes(claims())[:-1] + b',"sub":"' + URI.encode() + b'"}'
    case("duplicate sub member in the payload", _jws(header(es256), duplicate, es256), "malformed")
    case("payload is not JSON", _jws(header(es256), b"not json", es256), "malformed")
    case("two segments", ".".join(good.split(".")[:2]), "malformed")
    case("four segments", good + ".AAAA", "malformed")
    case("signature segment is not base64url", good[:-2] + "!!", "malformed")
    case("token larger than max_token_bytes", good, "too_large", max_token_bytes=len(good) - 1)


def generate() -> dict[str, object]:
    """Build the whole vector document."""
    es256 = es256_signer("issuer ES256")
    eddsa = eddsa_signer("issuer EdDSA")
    stranger = es256_signer("not trusted")
    out = _Cases()
    _list_cases(out)
    _token_cases(out, es256, eddsa, stranger)
    return {
        "description": "Token Status List vectors for huxin (status lists and Status List Tokens)",
        "spec": DRAFT,
        "generator": "tests/vectors/generate_status_lists.py",
        "notes": (
            "Cases with an 'origin' are copied from the draft; all others are generated. "
            "statuses lists every non-VALID entry as {index: status}. Errors are the codes of "
            "protocol/errors.py (docs/protocol.md)."
        ),
        "keys": [
            {"issuer": ISSUER, "kid": s.kid, "alg": s.alg, "jwk": s.public_jwk}
            for s in (es256, eddsa)
        ],
        "numberOfTests": len(out.cases),
        "cases": out.cases,
    }


def render() -> str:
    """The exact text of ``status_lists.json``."""
    return json.dumps(generate(), indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``status_lists.json``; exit 1 if it differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text
        print(f"{OUTPUT}: {'up to date' if same else 'differs from the generator'}")
        return 0 if same else 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
