"""The Status List itself: packing, the JSON form, bounded decoding, and round-trip properties.

The draft's own examples and appendix test vectors run from ``tests/vectors/status_lists.json``
(``test_status_list_vectors.py``); the two worked examples of draft-ietf-oauth-status-list-14
section 4 are repeated here as plain literals so a broken vector file cannot hide a bug.
"""

from __future__ import annotations

import random
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import MalformedError, ProtocolError, StatusIndexError, TooLargeError
from protocol.jose import b64u_encode
from protocol.status_list import (
    ALLOWED_BITS,
    INVALID,
    SUSPENDED,
    VALID,
    StatusList,
    decode_status_list,
)

# draft-ietf-oauth-status-list-14, section 4: 16 entries of 1 bit are bytes b9 a3 and encode to
# "eNrbuRgAAhcBXQ"; 12 entries of 2 bits are c9 44 f9 and encode to "eNo76fITAAPfAgc".
DRAFT_1BIT = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
DRAFT_2BIT = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]


def test_draft_example_1bit_packs_and_encodes_exactly() -> None:
    sl = StatusList.build(16, DRAFT_1BIT)
    assert sl.packed == bytes([0xB9, 0xA3])
    assert sl.encode() == {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}
    decoded = decode_status_list({"bits": 1, "lst": "eNrbuRgAAhcBXQ"})
    assert [decoded.status(i) for i in range(16)] == DRAFT_1BIT


def test_draft_example_2bit_packs_and_encodes_exactly() -> None:
    sl = StatusList.build(12, DRAFT_2BIT, bits=2)
    assert sl.packed == bytes([0xC9, 0x44, 0xF9])
    assert sl.encode() == {"bits": 2, "lst": "eNo76fITAAPfAgc"}
    decoded = decode_status_list({"bits": 2, "lst": "eNo76fITAAPfAgc"})
    assert [decoded.status(i) for i in range(12)] == DRAFT_2BIT


def test_status_type_values() -> None:
    assert (VALID, INVALID, SUSPENDED) == (0, 1, 2)


@pytest.mark.parametrize("bits", ALLOWED_BITS)
def test_sparse_and_dense_builds_agree(bits: int) -> None:
    rng = random.Random(bits)
    size = 5003
    dense = [rng.randrange(1 << bits) if rng.random() < 0.1 else 0 for _ in range(size)]
    sparse = {i: v for i, v in enumerate(dense) if v}
    a = StatusList.build(size, dense, bits=bits)
    b = StatusList.build(size, sparse, bits=bits)
    c = StatusList.build(size, bytes(dense), bits=bits)
    assert a == b == c
    assert dict(a.nonzero()) == sparse
    assert [a.status(i) for i in range(size)] == dense


def test_size_not_a_multiple_of_entries_per_byte() -> None:
    sl = StatusList.build(3, [1, 0, 1], bits=2)
    assert sl.packed == bytes([0b00010001])
    assert len(sl) == 3
    with pytest.raises(StatusIndexError):
        sl.status(3)
    decoded = decode_status_list(sl.encode())
    assert decoded.size == 4  # the draft's size is implied by whole bytes
    assert [decoded.status(i) for i in range(4)] == [1, 0, 1, 0]


def test_empty_list_builds_but_does_not_decode() -> None:
    sl = StatusList.build(0, {})
    assert sl.packed == b""
    with pytest.raises(MalformedError):
        decode_status_list(sl.encode())


@pytest.mark.parametrize("idx", [-1, 16, True, "3", 2.0])
def test_status_index_out_of_range_or_wrong_type(idx: object) -> None:
    sl = StatusList.build(16, DRAFT_1BIT)
    with pytest.raises(StatusIndexError) as caught:
        sl.status(idx)  # type: ignore[arg-type]
    assert caught.value.code == "status_index_out_of_range"


def test_build_refuses_issuer_bugs() -> None:
    with pytest.raises(ValueError, match="bits"):
        StatusList.build(8, {}, bits=3)
    with pytest.raises(ValueError, match="size"):
        StatusList.build(-1, {})
    with pytest.raises(ValueError, match="outside"):
        StatusList.build(8, {8: 1})
    with pytest.raises(ValueError, match="fit"):
        StatusList.build(8, {0: 2})
    with pytest.raises(ValueError, match="fit"):
        StatusList.build(8, {0: True})
    with pytest.raises(ValueError, match="fit"):
        StatusList.build(4, [0, 1, 4, 0], bits=2)
    with pytest.raises(ValueError, match="statuses"):
        StatusList.build(4, [0, 1, 256, 0], bits=8)
    with pytest.raises(ValueError, match="3 statuses"):
        StatusList.build(4, [0, 1, 0])


def test_constructor_checks_packed_bytes() -> None:
    with pytest.raises(ValueError, match="need 2 bytes"):
        StatusList(1, 16, b"\x00")
    with pytest.raises(ValueError, match="beyond the last entry"):
        StatusList(1, 3, b"\x08")
    with pytest.raises(MalformedError):
        StatusList(5, 8, b"\x00" * 5)


def test_updated_leaves_the_original_alone() -> None:
    sl = StatusList.build(100, {1: INVALID}, bits=2)
    changed = sl.updated({1: VALID, 99: SUSPENDED})
    assert sl.status(1) == INVALID
    assert changed.status(1) == VALID
    assert changed.status(99) == SUSPENDED
    with pytest.raises(ValueError, match="outside"):
        sl.updated({100: 1})


def test_encoding_uses_best_compression_and_zlib_format() -> None:
    sl = StatusList.build(100_000, dict.fromkeys(range(0, 100000, 997), 1))
    raw = zlib.decompress(sl.compressed())
    assert raw == sl.packed
    assert sl.compressed() == zlib.compress(sl.packed, 9)
    assert sl.compressed()[:2] == b"\x78\xda"  # zlib header, level 9


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        ({"bits": 1}, "malformed"),
        ({"lst": "eNrbuRgAAhcBXQ"}, "malformed"),
        ({"bits": 0, "lst": "eNrbuRgAAhcBXQ"}, "malformed"),
        ({"bits": 1, "lst": "eNrbuRgAAhcBXQ="}, "malformed"),
        ({"bits": 1, "lst": "eNrbuRgAAhcBX"}, "malformed"),  # truncated stream
        ({"bits": 1, "lst": b64u_encode(zlib.compress(b"\xb9\xa3") + b"junk")}, "malformed"),
        ({"bits": 1, "lst": b64u_encode(b"\x1f\x8b" + b"\x00" * 8)}, "malformed"),
    ],
)
def test_decode_refuses(obj: dict[str, object], code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_status_list(obj)
    assert caught.value.code == code


def _bomb(megabytes: int) -> str:
    """``megabytes`` MiB of zeros as a zlib stream, built without allocating them at once."""
    deflater = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [deflater.compress(chunk) for _ in range(megabytes)]
    parts.append(deflater.flush())
    return b64u_encode(b"".join(parts))


def test_zlib_bomb_is_refused_without_inflating_it() -> None:
    lst = _bomb(64)  # 64 MiB of zeros in about 85 KiB
    assert len(lst) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError):
            decode_status_list({"bits": 1, "lst": lst})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The default limit is 2**25 entries = 4 MiB at 1 bit: at most a few times that is ever
    # allocated (zlib's output blocks and the final bytes), never the 64 MiB of the bomb.
    assert peak < 16 << 20


@pytest.mark.parametrize("max_size", [0, -8])
def test_max_size_must_be_positive(max_size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        decode_status_list({"bits": 1, "lst": "eNrbuRgAAhcBXQ"}, max_size=max_size)


def test_max_size_is_in_entries_and_inclusive() -> None:
    sl = StatusList.build(64, {63: 1}, bits=2)
    assert decode_status_list(sl.encode(), max_size=64) == sl
    with pytest.raises(TooLargeError):
        decode_status_list(sl.encode(), max_size=63)


def test_twelve_million_entries_round_trip() -> None:
    rng = random.Random(12)
    size = 12_000_000
    revoked = dict.fromkeys(rng.sample(range(size), size // 1000), INVALID)
    sl = StatusList.build(size, revoked)
    assert len(sl.packed) == size // 8
    decoded = decode_status_list(sl.encode())
    assert decoded.packed == sl.packed
    assert dict(decoded.nonzero()) == revoked


# --------------------------------------------------------------------------------------------
# Properties


@st.composite
def dense_lists(draw: st.DrawFn) -> tuple[int, list[int]]:
    bits = draw(st.sampled_from(ALLOWED_BITS))
    values = draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=1, max_size=300))
    return bits, values


@settings(max_examples=60, deadline=None)
@given(dense_lists())
def test_round_trip(case: tuple[int, list[int]]) -> None:
    bits, values = case
    sl = StatusList.build(len(values), values, bits=bits)
    decoded = decode_status_list(sl.encode())
    assert decoded.bits == bits
    assert decoded.size >= len(values)
    assert decoded.size - len(values) < 8 // bits
    assert [decoded.status(i) for i in range(len(values))] == values
    assert all(decoded.status(i) == 0 for i in range(len(values), decoded.size))
    assert StatusList.build(len(values), dict(sl.nonzero()), bits=bits) == sl


@settings(max_examples=60, deadline=None)
@given(dense_lists(), st.data())
def test_updated_matches_rebuild(case: tuple[int, list[int]], data: st.DataObject) -> None:
    bits, values = case
    sl = StatusList.build(len(values), values, bits=bits)
    changes = data.draw(
        st.dictionaries(
            st.integers(0, len(values) - 1), st.integers(0, (1 << bits) - 1), max_size=20
        )
    )
    expected = list(values)
    for idx, value in changes.items():
        expected[idx] = value
    assert sl.updated(changes) == StatusList.build(len(values), expected, bits=bits)


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(st.integers(-2, 20), st.text(max_size=3), st.booleans(), st.none()),
    st.one_of(st.text(max_size=60), st.binary(max_size=60).map(b64u_encode)),
)
def test_decode_only_raises_protocol_errors(bits: object, lst: str) -> None:
    try:
        sl = decode_status_list({"bits": bits, "lst": lst})
    except (MalformedError, TooLargeError):
        return
    assert sl.bits in ALLOWED_BITS
    assert sl.size > 0


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.sampled_from(ALLOWED_BITS))
def test_decode_of_any_zlib_payload_matches_its_bytes(raw: bytes, bits: int) -> None:
    sl = decode_status_list({"bits": bits, "lst": b64u_encode(zlib.compress(raw))})
    assert sl.packed == raw
    assert sl.size == len(raw) * 8 // bits
