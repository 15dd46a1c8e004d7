"""Regression tests for the parser bugs the fuzzers found, each named after its case.

Every one of these raised an exception outside the package's documented error root (or broke
an invariant) before its fix; see ``bench/RESULTS.md`` ("Fuzzing") for the run that found them.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certs.bundle import TrustBundle
from certs.errors import BadFileError, CertsError, WrongKeyTypeError
from certs.keys import certificate_pem, load_certificate, load_private_key, parse_key_jwk
from mapping.errors import ScaleDefinitionError, ScaleFileError
from mapping.scale import builtin_scale, parse_scale, parse_scale_json
from protocol.errors import MalformedError, WrongAudienceError, WrongNonceError
from protocol.incentive import parse_catalogue
from protocol.jose import b64u_encode, json_bytes
from protocol.presentation import DisclosureRequest, present
from protocol.sdjwt import decode_jws, sign_jws, split_compact
from protocol.status_list import StatusListCache, decode_status_list, verify_status_list_token
from protocol.verifier import verify_presentation
from tests.certs.sim import NOW as CERTS_NOW
from tests.fuzz.targets import certs_world, presentation_world, status_world
from tests.protocol.sdjwt_support import AUDIENCE, BOTH_ALGS, ISSUER, NONCE, NOW, STATUS_URI

LAST_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z, the last datetime Python has


def _deep(depth: int = 3000) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


# -- mapping --------------------------------------------------------------------------------


def test_scale_json_nested_too_deeply_is_a_scale_file_error() -> None:
    with pytest.raises(ScaleFileError, match="nesting too deep"):
        parse_scale_json("[" * 100_000 + "]" * 100_000)


def test_scale_json_integer_over_4300_digits_is_a_scale_file_error() -> None:
    with pytest.raises(ScaleFileError, match="4,300 digits"):
        parse_scale_json('{"min": ' + "1" * 5000 + "}")


def test_scale_field_holding_a_deeply_nested_value_is_a_definition_error() -> None:
    doc = builtin_scale("shangding").to_dict()
    with pytest.raises(ScaleDefinitionError, match="'min' must be an integer"):
        parse_scale({**doc, "min": _deep()})
    with pytest.raises(ScaleDefinitionError, match="must be an object"):
        parse_scale({**doc, "bands": [_deep()]})


# -- protocol -------------------------------------------------------------------------------


def test_status_list_bits_deeply_nested_is_malformed() -> None:
    with pytest.raises(MalformedError, match="not 'list'"):
        decode_status_list({"bits": _deep(), "lst": "eJwDAAAAAAE"})


def _holder_signed(presentation: str, **claims: object) -> str:
    """The presentation with its KB-JWT claims changed and signed again by the holder."""
    world = presentation_world().world
    parts = split_compact(presentation)
    assert parts.kb_jwt is not None
    kb = decode_jws(parts.kb_jwt, what="KB-JWT")
    # json.dumps escapes a lone surrogate as \ud800, the way a hostile wallet would send it.
    header = b64u_encode(json.dumps(kb.header).encode())
    payload = b64u_encode(json.dumps({**kb.payload, **claims}).encode())
    signature = world.holder.sign(f"{header}.{payload}".encode())
    return f"{parts.presented_sd_jwt}{header}.{payload}.{b64u_encode(signature)}"


def test_kb_jwt_aud_with_a_lone_surrogate_is_wrong_audience() -> None:
    world = presentation_world().world
    forged = _holder_signed(world.present(), aud="\ud800")
    with pytest.raises(WrongAudienceError):
        verify_presentation(
            forged, keys=world.keys, audience=AUDIENCE, nonce=NONCE, status=world.status, now=NOW
        )


def test_kb_jwt_nonce_with_a_lone_surrogate_is_wrong_nonce() -> None:
    world = presentation_world().world
    forged = _holder_signed(world.present(), nonce="\udfff")
    with pytest.raises(WrongNonceError):
        verify_presentation(
            forged, keys=world.keys, audience=AUDIENCE, nonce=NONCE, status=world.status, now=NOW
        )


def test_attestation_exp_at_year_9999_verifies_without_overflow() -> None:
    pw = presentation_world()
    world = pw.world
    parts = split_compact(pw.attestation.sd_jwt)
    jws = decode_jws(parts.issuer_jwt, what="attestation")
    issuer_jwt = sign_jws(world.issuer, jws.header, {**jws.payload, "exp": LAST_NUMERIC_DATE})
    sd_jwt = "~".join((issuer_jwt, *parts.disclosures, ""))
    presentation = present(
        sd_jwt,
        world.holder,
        request=DisclosureRequest(level=True),
        audience=AUDIENCE,
        nonce=NONCE,
        now=NOW,
    )
    verified = verify_presentation(
        presentation,
        keys=world.keys,
        audience=AUDIENCE,
        nonce=NONCE,
        status=world.status,
        now=NOW,
        policy=pw.policy,
    )
    assert verified.expires_at.year == 9999


def _status_token(**claims: object) -> str:
    sw = status_world()
    token = decode_jws(sw.tokens[0], what="status list token")
    return sign_jws(sw.issuer, token.header, {**token.payload, **claims})


def test_status_list_token_exp_at_year_9999_verifies_without_overflow() -> None:
    sw = status_world()
    token = _status_token(exp=LAST_NUMERIC_DATE)
    verified = verify_status_list_token(
        token, keys=sw.keys, uri=STATUS_URI, allowed_algorithms=BOTH_ALGS, now=NOW
    )
    assert verified.expires_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    cache = StatusListCache(sw.keys, BOTH_ALGS)
    cache.put(STATUS_URI, token, NOW)
    assert cache.status_list(STATUS_URI, NOW) == verified.status_list
    assert not cache.needs_refresh(STATUS_URI, NOW)


def test_status_list_cache_put_with_a_ttl_of_centuries_refreshes_at_exp() -> None:
    sw = status_world()
    token = _status_token(ttl=LAST_NUMERIC_DATE * 2)
    cache = StatusListCache(sw.keys, BOTH_ALGS)
    verified = cache.put(STATUS_URI, token, NOW)
    assert verified.expires_at is not None
    assert not cache.needs_refresh(STATUS_URI, verified.expires_at - timedelta(seconds=1))
    assert cache.needs_refresh(STATUS_URI, verified.expires_at)
    assert verified.issuer == ISSUER


def test_catalogue_without_a_source_round_trips_through_to_dict() -> None:
    path = Path(__file__).parents[2] / "node" / "data" / "incentives" / "suzhou.json"
    doc = json.loads(path.read_text("utf-8"))
    items = [{k: v for k, v in item.items() if k != "source"} for item in doc["incentives"]]
    scale = builtin_scale(doc["scale"])
    catalogue = parse_catalogue({**doc, "incentives": items}, scale)
    assert parse_catalogue(catalogue.to_dict(), scale) == catalogue


# -- certs ----------------------------------------------------------------------------------


def _der(pem: str) -> bytes:
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


def _pem(der: bytes) -> bytes:
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n".encode()


def test_certificate_with_a_damaged_extension_is_a_bad_file() -> None:
    ca = certs_world().federation["zhengzhou"].ca_cert
    der = _der(certificate_pem(ca))
    from cryptography import x509

    digest = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    # extnValue OCTET STRING (22) holding an OCTET STRING (20): claim 21 bytes inside.
    at = der.index(b"\x04\x16\x04\x14" + digest)
    damaged = der[:at] + b"\x04\x16\x04\x15" + der[at + 4 :]
    with pytest.raises(BadFileError, match="damaged"):
        load_certificate(_pem(damaged))


def test_certificate_with_an_unknown_version_is_a_bad_file() -> None:
    ca = certs_world().federation["zhengzhou"].ca_cert
    der = _der(certificate_pem(ca))
    at = der.index(b"\xa0\x03\x02\x01\x02")  # [0] EXPLICIT INTEGER 2 (v3)
    damaged = der[:at] + b"\xa0\x03\x02\x01\x42" + der[at + 5 :]
    with pytest.raises(BadFileError, match="damaged"):
        load_certificate(_pem(damaged))


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """``(tag, header length, content length)`` of the DER element at ``pos``."""
    first = buf[pos + 1]
    if first < 0x80:
        return buf[pos], 2, first
    size = first & 0x7F
    return buf[pos], 2 + size, int.from_bytes(buf[pos + 2 : pos + 2 + size], "big")


def _wrap(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _with_extension_twice(der: bytes) -> bytes:
    """The certificate with its first extension listed twice (the signature is left stale)."""
    _, head, _ = _tlv(der, 0)
    tbs_at = head
    _, tbs_head, tbs_len = _tlv(der, tbs_at)
    pos, end = tbs_at + tbs_head, tbs_at + tbs_head + tbs_len
    children = []
    while pos < end:
        tag, h, n = _tlv(der, pos)
        children.append((tag, der[pos : pos + h + n]))
        pos += h + n
    rest = der[end:]
    tag, ext_field = children[-1]
    assert tag == 0xA3  # [3] EXPLICIT Extensions
    _, h3, _ = _tlv(ext_field, 0)
    _, hs, ns = _tlv(ext_field, h3)
    extensions = ext_field[h3 + hs : h3 + hs + ns]
    _, he, ne = _tlv(extensions, 0)
    doubled = _wrap(0xA3, _wrap(0x30, extensions + extensions[: he + ne]))
    tbs = _wrap(0x30, b"".join(c for _, c in children[:-1]) + doubled)
    return _wrap(0x30, tbs + rest)


def test_certificate_listing_an_extension_twice_is_a_bad_file() -> None:
    ca = certs_world().federation["zhengzhou"].ca_cert
    damaged = _with_extension_twice(_der(certificate_pem(ca)))
    with pytest.raises(BadFileError, match="damaged"):
        load_certificate(_pem(damaged))


#: An Ed25519 PKCS#8 key whose algorithm OID was changed to Ed448 (1.3.101.112 -> .113): the
#: 32-byte key is too short for Ed448 and OpenSSL fails with an InternalError.
ED448_OID_ON_ED25519_KEY = (
    b"-----BEGIN PRIVATE KEY-----\n"
    b"MC4CAQAwBQYDK2VxBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n"
    b"-----END PRIVATE KEY-----\n"
)


def test_private_key_with_an_ed448_oid_on_an_ed25519_key_is_a_bad_file() -> None:
    with pytest.raises(CertsError):
        load_private_key(ED448_OID_ON_ED25519_KEY)


def test_jwk_kty_deeply_nested_is_a_wrong_key_type() -> None:
    with pytest.raises(WrongKeyTypeError, match="has kty 'list'"):
        parse_key_jwk({"kty": _deep()})


@pytest.mark.parametrize(
    ("where", "raw"),
    [("roots", '"\\ud800"'), ("materials", '"\\udfff"'), ("materials", "1e999")],
)
def test_bundle_embedding_what_json_cannot_carry_back_is_a_bad_file(where: str, raw: str) -> None:
    cw = certs_world()
    doc = json.loads(cw.bundle)
    doc[where][0]["payload"] = "__RAW__"
    data = json_bytes(doc).replace(b'"__RAW__"', raw.encode())
    with pytest.raises(BadFileError, match="cannot be JSON text"):
        TrustBundle.load(data, pinned_root=cw.small_root, now=CERTS_NOW)


def test_the_seed_bundle_still_loads() -> None:
    cw = certs_world()
    bundle = TrustBundle.load(cw.bundle, pinned_root=cw.small_root, now=CERTS_NOW)
    assert [m.city for m in bundle.members] == list(cw.small_cities)
    assert b64u_encode(b"") == ""
