"""The Status List byte array and its JSON form (draft-ietf-oauth-status-list-14, section 4).

What it does: :class:`StatusList`, an immutable view over the packed status bytes -- 1, 2, 4 or
8 bits per entry, entry ``i`` in byte ``i * bits // 8`` starting at the least significant bit
(section 4.1). :meth:`StatusList.build` packs a sparse mapping or a dense sequence without a
per-entry Python loop, so a 12,000,000-entry list builds in milliseconds.
:meth:`StatusList.encode` and :func:`decode_status_list` convert to and from
``{"bits": n, "lst": base64url(zlib(packed))}`` (section 4.2). Decoding is bounded: the
compressed input and the decompressed output are both capped *before* they are allocated, so a
zlib bomb raises :class:`~protocol.errors.TooLargeError` instead of exhausting memory.

What it deliberately does not do: sign or verify (see :mod:`protocol.status_list`, which
re-exports everything public here), fetch, allocate indices, or give Status Types any meaning
beyond their numeric values.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from protocol.errors import MalformedError, StatusIndexError, TooLargeError
from protocol.jose import b64u_decode, b64u_encode

#: Status Type values (draft section 7.1). ``0x03`` and ``0x0C``-``0x0F`` are application
#: specific; huxin does not use them, and ``protocol.status_list.check_status`` rejects every
#: non-VALID value.
VALID: Final = 0
INVALID: Final = 1
SUSPENDED: Final = 2

#: The only permitted sizes of one entry, in bits (draft section 4.1 step 1).
ALLOWED_BITS: Final = (1, 2, 4, 8)
#: Largest list :func:`decode_status_list` accepts by default, in entries: 2**25 (33,554,432),
#: i.e. 4 MiB decompressed at 1 bit, 32 MiB at 8 bits. A city's 12,000,000 residents fit.
DEFAULT_MAX_STATUS_LIST_SIZE: Final = 1 << 25
# A sane DEFLATE encoder never expands data by more than fixed-Huffman literals do (9 bits a
# byte) plus block headers; a longer ``lst`` is refused before it is even base64url-decoded.
# (The real bound is the cap on the decompressed output; this one only spares the decoding.)
_DEFLATE_SLACK_FIXED: Final = 1024
_NONZERO_BYTE: Final = re.compile(b"[^\x00]")


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in ALLOWED_BITS:
        shown = bits if isinstance(bits, int) else type(bits).__name__  # no repr of deep values
        raise MalformedError(f"status list bits must be one of 1, 2, 4, 8, not {shown!r}")
    return bits


def _packed_length(size: int, bits: int) -> int:
    return (size * bits + 7) // 8


def _shift_tables(bits: int) -> tuple[bytes, ...]:
    """For each slot ``k`` of a byte, a translate table mapping a status to ``status << k*bits``.

    Values that do not fit in ``bits`` map to 0; callers validate before translating.
    """
    limit = 1 << bits
    return tuple(
        bytes(((v << (k * bits)) & 0xFF) if v < limit else 0 for v in range(256))
        for k in range(8 // bits)
    )


_SHIFT_TABLES: Final = {bits: _shift_tables(bits) for bits in ALLOWED_BITS}
# bytes.translate(None, delete=...) removes every allowed value; what remains is out of range.
_ALLOWED_VALUES: Final = {bits: bytes(range(1 << bits)) for bits in ALLOWED_BITS}


def _pack_dense(values: bytes, bits: int) -> bytes:
    """Pack one status per byte into ``bits`` per entry, LSB first, with C-speed operations.

    Entry ``j*per + k`` lands in byte ``j`` at bit ``k*bits``: slice every ``per``-th value
    (``values[k::per]``), shift it into place with a translate table, and OR the ``per``
    slices together as big integers (OR never carries, so it is a bytewise OR).
    """
    per = 8 // bits
    if per == 1:
        return bytes(values)
    padded = values + bytes(-len(values) % per)
    length = len(padded) // per
    tables = _SHIFT_TABLES[bits]
    acc = 0
    for k in range(per):
        acc |= int.from_bytes(padded[k::per].translate(tables[k]), "little")
    return acc.to_bytes(length, "little")


@dataclass(frozen=True)
class StatusList:
    """An immutable Status List: ``size`` entries of ``bits`` bits over packed bytes.

    Construct with :meth:`build`, :func:`decode_status_list` or directly from packed bytes.

    Attributes:
        bits: bits per entry: 1, 2, 4 or 8.
        size: number of entries; indices ``0 .. size - 1`` are valid.
        packed: the packed byte array of draft section 4.1 (``ceil(size * bits / 8)`` bytes,
            unused high bits of the last byte zero).
    """

    bits: int
    size: int
    packed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_bits(self.bits)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"status list size must be a non-negative int, not {self.size!r}")
        if not isinstance(self.packed, bytes):
            raise TypeError("packed must be bytes")
        if len(self.packed) != _packed_length(self.size, self.bits):
            raise ValueError(
                f"{self.size} entries of {self.bits} bits need "
                f"{_packed_length(self.size, self.bits)} bytes, not {len(self.packed)}"
            )
        used = (self.size * self.bits) % 8
        if used and self.packed[-1] >> used:
            raise ValueError("bits beyond the last entry must be zero")

    # ----------------------------------------------------------------------------------------
    # Construction

    @classmethod
    def build(
        cls,
        size: int,
        statuses: Mapping[int, int] | Iterable[int],
        bits: int = 1,
    ) -> StatusList:
        """Build a list of ``size`` entries.

        Args:
            size: number of entries (the list's capacity; unused entries are VALID).
            statuses: either a sparse mapping ``{index: status}`` (absent indices are VALID;
                the fast path for revocation lists, cost proportional to the mapping) or a
                dense sequence of exactly ``size`` statuses (``bytes`` with one status per
                byte is packed without any per-entry Python work).
            bits: bits per entry: 1, 2, 4 or 8.

        Raises:
            ValueError: ``bits`` is not allowed, ``size`` is negative, an index is outside
                ``0 .. size - 1``, a status does not fit in ``bits``, or a dense sequence has
                the wrong length. These are the issuer's own bugs, not token errors.
        """
        try:
            _check_bits(bits)
        except MalformedError as err:
            raise ValueError(err.message) from None
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"status list size must be a non-negative int, not {size!r}")
        if isinstance(statuses, Mapping):
            packed = bytearray(_packed_length(size, bits))
            _apply(packed, size, bits, statuses)
            return cls(bits, size, bytes(packed))
        return cls(bits, size, _pack_dense(_dense_bytes(statuses, size, bits), bits))

    def updated(self, changes: Mapping[int, int]) -> StatusList:
        """A copy with ``changes`` (``{index: status}``) applied; this list is unchanged.

        Raises:
            ValueError: an index is out of range or a status does not fit in ``bits``.
        """
        packed = bytearray(self.packed)
        _apply(packed, self.size, self.bits, changes)
        return StatusList(self.bits, self.size, bytes(packed))

    # ----------------------------------------------------------------------------------------
    # Reading

    def status(self, idx: int) -> int:
        """The status of entry ``idx`` (draft section 4.1 step 2).

        Raises:
            StatusIndexError: ``idx`` is not an int or is outside ``0 .. size - 1``.
        """
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < self.size:
            raise StatusIndexError(f"status index {idx!r} is outside a list of {self.size}")
        bit = idx * self.bits
        return (self.packed[bit >> 3] >> (bit & 7)) & ((1 << self.bits) - 1)

    def nonzero(self) -> Iterator[tuple[int, int]]:
        """Every ``(index, status)`` whose status is not VALID, in index order.

        Cost is proportional to the number of non-zero bytes (a C-speed scan skips the rest).
        """
        per = 8 // self.bits
        mask = (1 << self.bits) - 1
        for match in _NONZERO_BYTE.finditer(self.packed):
            pos = match.start()
            byte = self.packed[pos]
            for k in range(per):
                value = (byte >> (k * self.bits)) & mask
                if value:
                    yield pos * per + k, value

    def __len__(self) -> int:
        return self.size

    # ----------------------------------------------------------------------------------------
    # Encoding

    def compressed(self) -> bytes:
        """The packed bytes as a zlib stream (RFC 1950) at the highest compression level."""
        return zlib.compress(self.packed, 9)

    def encode(self) -> dict[str, object]:
        """The JSON Status List of draft section 4.2: ``{"bits": n, "lst": "..."}``."""
        return {"bits": self.bits, "lst": b64u_encode(self.compressed())}


def _apply(packed: bytearray, size: int, bits: int, changes: Mapping[int, int]) -> None:
    limit = 1 << bits
    mask = limit - 1
    for idx, value in changes.items():
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < size:
            raise ValueError(f"status index {idx!r} is outside a list of {size}")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
            raise ValueError(f"status {value!r} does not fit in {bits} bits")
        bit = idx * bits
        shift = bit & 7
        packed[bit >> 3] = (packed[bit >> 3] & ~(mask << shift) & 0xFF) | (value << shift)


def _dense_bytes(statuses: Iterable[int], size: int, bits: int) -> bytes:
    if isinstance(statuses, bytes | bytearray | memoryview):
        values = bytes(statuses)
    else:
        try:
            values = bytes(statuses)
        except (TypeError, ValueError) as err:
            raise ValueError(f"statuses must be ints in 0..{(1 << bits) - 1}") from err
    if len(values) != size:
        raise ValueError(f"{len(values)} statuses given for a list of {size}")
    if values.translate(None, _ALLOWED_VALUES[bits]):
        raise ValueError(f"a status does not fit in {bits} bits")
    return values


def decode_status_list(
    obj: Mapping[str, object], *, max_size: int = DEFAULT_MAX_STATUS_LIST_SIZE
) -> StatusList:
    """Decode the JSON Status List ``{"bits": n, "lst": "..."}`` (draft sections 4.2, 8.3).

    The list's size is implied by the decompressed length: ``len * 8 // bits`` entries. Other
    members (such as ``aggregation_uri``) are ignored.

    Args:
        obj: the ``status_list`` object.
        max_size: the largest list accepted, in entries. The decompressed output is capped at
            ``max_size * bits // 8`` bytes before it is produced.

    Raises:
        MalformedError: ``bits`` missing or not 1, 2, 4 or 8; ``lst`` missing, not a string or
            not unpadded base64url; not a zlib stream, truncated, failing its checksum, or
            followed by trailing bytes; an empty list.
        TooLargeError: the compressed or decompressed list exceeds ``max_size``.
        ValueError: ``max_size`` is not positive (a configuration error).
    """
    if max_size < 1:
        raise ValueError("max_size must be positive")  # 0 would mean "unlimited" to zlib
    if not isinstance(obj, Mapping):
        raise MalformedError("status_list is not an object")
    if "bits" not in obj or "lst" not in obj:
        raise MalformedError("status_list needs both bits and lst")
    bits = _check_bits(obj["bits"])
    lst = obj["lst"]
    if not isinstance(lst, str):
        raise MalformedError("status_list lst is not a string")
    max_bytes = max_size * bits // 8  # whole bytes: the decoded size is always whole bytes
    # Refuse before decoding: a stream longer than this cannot inflate to <= max_bytes.
    max_compressed = max_bytes + max_bytes // 8 + _DEFLATE_SLACK_FIXED
    if len(lst) * 3 // 4 > max_compressed:
        raise TooLargeError(f"status list lst is longer than a list of {max_size} entries")
    compressed = b64u_decode(lst, what="status_list lst")
    inflater = zlib.decompressobj()  # wbits=15: the zlib format only, not raw or gzip
    try:
        packed = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as err:
        raise MalformedError(f"status list lst is not a valid zlib stream: {err}") from err
    if len(packed) > max_bytes:
        raise TooLargeError(f"status list decompresses beyond {max_size} entries")
    if not inflater.eof:
        raise MalformedError("status list zlib stream is truncated")
    if inflater.unused_data:
        raise MalformedError("status list zlib stream has trailing bytes")
    if not packed:
        raise MalformedError("status list is empty")
    return StatusList(bits, len(packed) * 8 // bits, packed)
