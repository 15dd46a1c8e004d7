"""SD-JWT mechanics: Disclosures, digests, decoys, compact format, RFC 9901 processing rules."""

from __future__ import annotations

import pytest

from protocol.errors import BadDisclosureError, MalformedError, TooLargeError
from protocol.jose import b64u_encode, json_bytes
from protocol.sdjwt import (
    MAX_DEPTH,
    decoy_digest,
    digest,
    join_sd_jwt,
    make_disclosure,
    parse_disclosure,
    process_disclosures,
    sd_hash,
    split_compact,
)

# RFC 9901 section 4.2.1 and 4.2.2 examples.
RFC_DISCLOSURE = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
RFC_DIGEST = "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"
RFC_ARRAY_ELEMENT = "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"
SALT = bytes(range(16))


def raw_disclosure(value: object) -> str:
    return b64u_encode(json_bytes(value))


def test_rfc9901_disclosure_example() -> None:
    d = parse_disclosure(RFC_DISCLOSURE)
    assert (d.salt, d.name, d.value) == ("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius")
    assert d.digest == RFC_DIGEST == digest(RFC_DISCLOSURE)


def test_rfc9901_array_element_is_processed() -> None:
    payload = {"nationalities": [{"...": digest(RFC_ARRAY_ELEMENT)}, "DE"]}
    out = process_disclosures(payload, [RFC_ARRAY_ELEMENT])
    assert out.claims == {"nationalities": ["FR", "DE"]}
    assert out.disclosed == {}


def test_make_and_parse_round_trip() -> None:
    d = make_disclosure("level", 4, SALT)
    assert parse_disclosure(d.encoded) == d
    assert d.salt == b64u_encode(SALT)
    with pytest.raises(ValueError, match="reserved"):
        make_disclosure("_sd", 1, SALT)
    with pytest.raises(ValueError, match="128"):
        make_disclosure("level", 1, b"short")
    with pytest.raises(ValueError, match="128"):
        decoy_digest(b"short")
    assert decoy_digest(SALT) != decoy_digest(bytes(16))


@pytest.mark.parametrize(
    "bad",
    [
        "%%%",
        b64u_encode(b"not json"),
        raw_disclosure({"a": 1}),
        raw_disclosure(["salt", "level"]),
        raw_disclosure([1, "level", 3]),
        raw_disclosure(["salt", 5, 3]),
        raw_disclosure(["salt", "_sd", 3]),
        raw_disclosure(["salt", "...", 3]),
        b64u_encode(b'["s","a",{"x":1,"x":2}]'),
    ],
)
def test_parse_disclosure_refuses(bad: str) -> None:
    with pytest.raises(BadDisclosureError):
        parse_disclosure(bad)


def test_split_and_sd_hash() -> None:
    parts = split_compact("a.b.c~d1~d2~k.b.s")
    assert parts.disclosures == ("d1", "d2")
    assert parts.kb_jwt == "k.b.s"
    assert parts.presented_sd_jwt == "a.b.c~d1~d2~" == join_sd_jwt("a.b.c", ["d1", "d2"])
    assert sd_hash(parts.presented_sd_jwt) == digest("a.b.c~d1~d2~")
    assert split_compact("a.b.c~").kb_jwt is None
    for bad in ["a.b.c", "~d~", "a.b.c~~k"]:
        with pytest.raises(MalformedError):
            split_compact(bad)
    with pytest.raises(TooLargeError):
        split_compact("a" + "~d" * 5 + "~", max_disclosures=4)


def _payload(*disclosures: str, extra: list[str] | None = None) -> dict[str, object]:
    return {
        "iss": "x",
        "_sd_alg": "sha-256",
        "_sd": [digest(d) for d in disclosures] + (extra or []),
    }


def test_processing_substitutes_and_keeps_decoys_hidden() -> None:
    level = make_disclosure("level", 4, SALT).encoded
    band = make_disclosure("band", [1, 2], bytes(16)).encoded
    payload = _payload(level, band, extra=[decoy_digest(b"d" * 16)])
    out = process_disclosures(payload, [level])
    assert out.claims == {"iss": "x", "level": 4}
    assert out.disclosed == {"level": 4}


def test_unreferenced_disclosure_is_refused() -> None:
    level = make_disclosure("level", 4, SALT).encoded
    foreign = make_disclosure("level", 5, bytes(16)).encoded
    with pytest.raises(BadDisclosureError, match="not referenced"):
        process_disclosures(_payload(level), [foreign])


def test_same_disclosure_twice_is_refused() -> None:
    level = make_disclosure("level", 4, SALT).encoded
    with pytest.raises(BadDisclosureError, match="twice"):
        process_disclosures(_payload(level), [level, level])


def test_duplicate_digest_in_payload_is_refused() -> None:
    level = make_disclosure("level", 4, SALT).encoded
    payload = _payload(level, level)
    with pytest.raises(BadDisclosureError, match="more than once"):
        process_disclosures(payload, [])
    nested = make_disclosure("addr", {"_sd": [digest(level)]}, bytes(16)).encoded
    with pytest.raises(BadDisclosureError, match="more than once"):
        process_disclosures(_payload(level, nested), [nested])


def test_override_of_signed_claim_is_refused() -> None:
    iss = make_disclosure("iss", "evil", SALT).encoded
    with pytest.raises(BadDisclosureError, match="override"):
        process_disclosures(_payload(iss), [iss])


def test_reserved_names_and_wrong_containers_are_refused() -> None:
    for bad in (raw_disclosure(["c2FsdHNhbHQ", "_sd", []]), raw_disclosure(["c2FsdA", "...", 1])):
        with pytest.raises(BadDisclosureError, match="reserved"):
            process_disclosures(_payload(bad), [bad])
    with pytest.raises(BadDisclosureError, match="array-element"):
        process_disclosures(_payload(RFC_ARRAY_ELEMENT), [RFC_ARRAY_ELEMENT])
    prop = make_disclosure("level", 4, SALT).encoded
    with pytest.raises(BadDisclosureError, match="from array"):
        process_disclosures({"a": [{"...": digest(prop)}]}, [prop])
    with pytest.raises(BadDisclosureError):
        process_disclosures({"a": [{"...": digest(prop), "x": 1}]}, [])
    with pytest.raises(BadDisclosureError, match="not an array"):
        process_disclosures({"_sd": "x"}, [])
    with pytest.raises(BadDisclosureError, match="not a string"):
        process_disclosures({"_sd": [1]}, [])
    with pytest.raises(BadDisclosureError):
        process_disclosures({"_sd": []}, ["%%%"])


def test_nested_disclosures_are_processed_recursively() -> None:
    inner = make_disclosure("city", "zhengzhou", SALT).encoded
    outer = make_disclosure("home", {"_sd": [digest(inner)], "zip": "450000"}, bytes(16)).encoded
    out = process_disclosures(_payload(outer), [outer, inner])
    assert out.claims["home"] == {"zip": "450000", "city": "zhengzhou"}
    assert out.disclosed == {"home": {"zip": "450000", "city": "zhengzhou"}}


def test_deep_nesting_is_refused_not_crashing() -> None:
    deep: object = {"_sd": []}
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(MalformedError, match="nested"):
        process_disclosures({"x": deep}, [])
    shallow: object = "leaf"
    for _ in range(MAX_DEPTH - 2):
        shallow = {"a": [shallow]} if isinstance(shallow, str) else [shallow]
    assert process_disclosures({"x": shallow}, []).claims["x"] == shallow
    # Far beyond the interpreter's recursion limit: refused by the parser, not a crash.
    with pytest.raises(BadDisclosureError):
        parse_disclosure(b64u_encode(b'["s","n",' + b"[" * 100_000 + b"]" * 100_000 + b"]"))
