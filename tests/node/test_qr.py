"""QR codes for presentations: segno makes them, zxing-cpp reads them back from the image."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from node.qr import (
    ERROR_LEVEL,
    MAX_QR_ALPHANUMERIC,
    MAX_QR_BYTES,
    QrError,
    decode_image,
    encode_png,
    is_image,
    qr_version,
    write_terminal,
)
from protocol.attestation import CreditClaims, StatusRef, issue_attestation
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present
from protocol.qrform import compact_presentation
from tests.certs.sim import NOW


def _presentation(level: int = 4, band: tuple[int, int] | None = (130, 139)) -> str:
    issuer, holder = KeySigner.generate(), KeySigner.generate()
    issued = issue_attestation(
        issuer,
        issuer="https://zhengzhou.huxin.example",
        scale_id="shangding",
        scale_version="2019-1",
        claims=CreditClaims(level=level, band=band),
        holder_jwk=holder.public_jwk,
        status=StatusRef("https://zhengzhou.huxin.example/status/1", 123_456),
        now=NOW,
    )
    return present(
        issued.sd_jwt,
        holder,
        request=DisclosureRequest(level_at_least=level),
        audience="urn:huxin:incentive:hangzhou/campus-fitness",
        nonce=None,
        now=NOW,
    )


def test_round_trip_with_an_independent_reader() -> None:
    text = _presentation()
    png = encode_png(text)
    assert is_image(png)
    # Decode with zxing-cpp directly (not through node.qr), as a gate scanner would.
    with Image.open(io.BytesIO(png)) as image:
        found = zxingcpp.read_barcodes(image)
    assert [r.text for r in found] == [text]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert decode_image(png) == text


def test_a_level_only_presentation_fits_a_screen_sized_code() -> None:
    # An RFC 9901 level-only presentation is ~1.4 KB (docs/protocol.md section 7): byte mode,
    # version <= 30 at level L. Its compact form (what the wallet puts in a QR code) is ~830
    # characters in alphanumeric mode: version <= 17 (85 modules), about 0.7 mm a module on a
    # 6 cm phone screen.
    text = _presentation()
    compact = compact_presentation(text)
    assert len(text) < 1700
    assert ERROR_LEVEL == "l"
    assert qr_version(text) <= 30
    assert qr_version(compact) <= 17
    with Image.open(io.BytesIO(encode_png(compact))) as image:
        assert image.size[0] <= (17 * 4 + 17 + 8) * 5
    assert decode_image(encode_png(compact)) == compact


def test_the_compact_form_uses_alphanumeric_mode() -> None:
    compact = compact_presentation(_presentation())
    with Image.open(io.BytesIO(encode_png(compact))) as image:
        found = zxingcpp.read_barcodes(image)
    assert [r.text for r in found] == [compact]
    # Alphanumeric mode takes 5.5 bits a character, byte mode 8: the same length in lower case
    # (outside the alphanumeric alphabet) needs a larger symbol.
    assert qr_version(compact) < qr_version(compact.lower())
    with pytest.raises(QrError, match="do not fit"):
        encode_png("A" * (MAX_QR_ALPHANUMERIC + 1))


def test_jpeg_photo_of_the_code_is_read() -> None:
    text = _presentation(level=2, band=None)
    with Image.open(io.BytesIO(encode_png(text))) as image:
        out = io.BytesIO()
        image.convert("RGB").resize((image.size[0] * 2, image.size[1] * 2)).save(
            out, format="JPEG", quality=85
        )
    assert out.getvalue().startswith(b"\xff\xd8\xff")
    assert decode_image(out.getvalue()) == text


def test_terminal_rendering_uses_block_characters() -> None:
    out = io.StringIO()
    write_terminal("hello", out)
    drawn = out.getvalue()
    assert set(drawn) <= set(" █▀▄\n") | {"\x1b", "[", "0", "m", ";", "3", "4", "7"}
    assert "█" in drawn or "▀" in drawn


def test_errors() -> None:
    assert not is_image(b"eyJhbGciOi~")
    with pytest.raises(QrError, match="not a PNG or JPEG"):
        decode_image(b"eyJhbGciOi~")
    blank = io.BytesIO()
    Image.new("L", (64, 64), 255).save(blank, format="PNG")
    with pytest.raises(QrError, match="no QR code"):
        decode_image(blank.getvalue())
    with pytest.raises(QrError, match="cannot read the image"):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(QrError, match="do not fit"):
        encode_png("x" * (MAX_QR_BYTES + 1))
