"""QR codes for presentations: make them (segno), read them back from images (zxing-cpp).

What it does: puts text in a QR code at error correction level L -- the smallest symbol for a
code a phone screen shows and a gate scanner reads; a screen neither smudges nor tears, so the
extra redundancy of M or Q would only make each module smaller (segno still raises the level
when it costs no extra version). Text in the QR alphanumeric alphabet -- the compact form of a
presentation (``HX1:``, :mod:`protocol.qrform`, ~830 characters: version 16, 81 modules) -- is
encoded in alphanumeric mode (5.5 bits a character); other text in byte mode (an RFC 9901
presentation of ~1.4 KB needs version 27, 125 modules). Writes PNG (segno needs no Pillow for
that) or block characters for a terminal. Reads a QR code from a PNG or JPEG image with
zxing-cpp through Pillow, and tells images from presentation text by their magic bytes.

What it deliberately does not do: verify, interpret or compact the text it carries (the wallet
compacts, ``protocol.verifier`` expands and verifies), or read files (callers pass bytes).
"""

from __future__ import annotations

import io
from typing import Final, TextIO

from node.errors import NodeError

#: Error correction level: L (7%) keeps the symbol smallest; see the module docstring.
ERROR_LEVEL: Final = "l"
#: Pixels per module in a PNG and the quiet zone in modules (the standard asks for 4).
PNG_SCALE: Final = 5
QUIET_ZONE: Final = 4
#: Largest text put into a QR code (version 40-L holds 2,953 bytes in byte mode, 4,296 characters
#: in alphanumeric mode).
MAX_QR_BYTES: Final = 2953
MAX_QR_ALPHANUMERIC: Final = 4296
#: The QR alphanumeric alphabet (ISO/IEC 18004 table 5), which is also Base45's.
ALPHANUMERIC: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
#: Largest image accepted for decoding, in bytes and in pixels.
MAX_IMAGE_BYTES: Final = 16 * 1024 * 1024
MAX_IMAGE_PIXELS: Final = 40_000_000

PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC: Final = b"\xff\xd8\xff"


class QrError(NodeError):
    """A QR code cannot be made from the text, or no QR code can be read from the image."""

    code = "bad_qr"
    http_status = 400


def is_image(data: bytes) -> bool:
    """Whether ``data`` starts like a PNG or JPEG file (not like presentation text)."""
    return data.startswith(PNG_MAGIC) or data.startswith(JPEG_MAGIC)


def _symbol(text: str) -> object:
    import segno  # imported lazily: only QR commands pay for it

    if text and ALPHANUMERIC.issuperset(text):
        if len(text) > MAX_QR_ALPHANUMERIC:
            raise QrError(f"{len(text)} characters do not fit a QR code (at most 4296)")
        return segno.make(
            text, error=ERROR_LEVEL, mode="alphanumeric", micro=False, boost_error=True
        )
    data = text.encode("utf-8")
    if len(data) > MAX_QR_BYTES:
        raise QrError(f"{len(data)} bytes do not fit a QR code (at most {MAX_QR_BYTES})")
    # Bytes, not text: segno then uses byte mode without guessing an encoding.
    return segno.make(data, error=ERROR_LEVEL, boost_error=True, micro=False)


def qr_version(text: str) -> int:
    """The QR version (1..40) ``text`` needs at :data:`ERROR_LEVEL`.

    Raises:
        QrError: the text is too long for any QR code.
    """
    version = getattr(_symbol(text), "version")  # noqa: B009 - segno is untyped
    return int(version)


def encode_png(text: str, *, scale: int = PNG_SCALE) -> bytes:
    """A PNG image of the QR code of ``text``.

    Raises:
        QrError: the text is too long for any QR code.
    """
    out = io.BytesIO()
    _symbol(text).save(out, kind="png", scale=scale, border=QUIET_ZONE)  # type: ignore[attr-defined]
    return out.getvalue()


def write_terminal(text: str, out: TextIO) -> None:
    """Print the QR code of ``text`` with Unicode half-block characters (two rows per line).

    Raises:
        QrError: the text is too long for any QR code.
    """
    _symbol(text).terminal(out=out, compact=True, border=QUIET_ZONE)  # type: ignore[attr-defined]


def decode_image(data: bytes) -> str:
    """The text of the (single) QR code in a PNG or JPEG image.

    Raises:
        QrError: not a PNG/JPEG image, too large, unreadable, or no QR code found.
    """
    if not is_image(data):
        raise QrError("not a PNG or JPEG image")
    if len(data) > MAX_IMAGE_BYTES:
        raise QrError(f"image is larger than {MAX_IMAGE_BYTES} bytes")
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise QrError(f"image has more than {MAX_IMAGE_PIXELS} pixels")
            image.load()
            results = zxingcpp.read_barcodes(
                image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
            )
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise QrError(f"cannot read the image: {err}") from err
    texts = [r.text for r in results if r.valid and r.text]
    if not texts:
        raise QrError("no QR code found in the image")
    if len(set(texts)) > 1:
        raise QrError("the image holds more than one QR code; show one at a time")
    return str(texts[0])
