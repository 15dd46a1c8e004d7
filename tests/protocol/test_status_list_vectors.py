"""Run every case of ``tests/vectors/status_lists.json`` and check the file is freshly generated.

The file holds the four test vectors and two worked examples of
draft-ietf-oauth-status-list-14 (cases with an ``origin``) plus our own valid and invalid cases;
see ``tests/vectors/generate_status_lists.py`` for the format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from protocol.errors import ProtocolError
from protocol.jose import public_key_from_jwk
from protocol.keys import StaticKeyResolver, TrustedKey
from protocol.status_list import (
    DEFAULT_MAX_STATUS_LIST_SIZE,
    DEFAULT_MAX_TOKEN_BYTES,
    StatusList,
    decode_status_list,
    verify_status_list_token,
)
from tests.vectors import generate_status_lists

VECTORS = Path(__file__).parent.parent / "vectors" / "status_lists.json"
DOCUMENT = cast(dict[str, object], json.loads(VECTORS.read_text(encoding="utf-8")))
CASES = cast(list[dict[str, object]], DOCUMENT["cases"])


def _resolver() -> StaticKeyResolver:
    keys = cast(list[dict[str, object]], DOCUMENT["keys"])
    return StaticKeyResolver(
        TrustedKey(
            issuer=str(k["issuer"]),
            city="zhengzhou",
            kid=str(k["kid"]),
            alg=str(k["alg"]),
            public_key=public_key_from_jwk(cast(Mapping[str, object], k["jwk"])),
        )
        for k in keys
    )


RESOLVER = _resolver()


def _check_list(case: Mapping[str, object], got: StatusList) -> None:
    assert got.bits == case["bits"]
    assert got.size == case["size"]
    expected = {int(i): v for i, v in cast(dict[str, int], case["statuses"]).items()}
    assert dict(got.nonzero()) == expected
    for idx, value in expected.items():
        assert got.status(idx) == value


def _run(case: Mapping[str, object]) -> None:
    if case["kind"] == "status_list":
        max_size = case["max_size"]
        got = decode_status_list(
            cast(Mapping[str, object], case["status_list"]),
            max_size=DEFAULT_MAX_STATUS_LIST_SIZE if max_size is None else cast(int, max_size),
        )
        _check_list(case, got)
        return
    assert case["kind"] == "status_list_token"
    max_bytes = case["max_token_bytes"]
    verified = verify_status_list_token(
        cast(str, case["token"]),
        keys=RESOLVER,
        uri=cast(str, case["uri"]),
        allowed_algorithms=frozenset(cast(list[str], case["allowed_algorithms"])),
        now=datetime.fromtimestamp(cast(int, case["now"]), tz=UTC),
        leeway=timedelta(seconds=cast(int, case["leeway"])),
        issuer=cast("str | None", case["issuer"]),
        max_token_bytes=DEFAULT_MAX_TOKEN_BYTES if max_bytes is None else cast(int, max_bytes),
    )
    assert verified.issuer == case["iss"]
    assert verified.uri == case["uri"]
    assert verified.issued_at == datetime.fromtimestamp(cast(int, case["iat"]), tz=UTC)
    assert verified.expires_at == datetime.fromtimestamp(cast(int, case["exp"]), tz=UTC)
    assert verified.ttl == timedelta(seconds=cast(int, case["ttl"]))
    _check_list(case, verified.status_list)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"tc{c['tcId']}")
def test_vector(case: dict[str, object]) -> None:
    if case["result"] == "valid":
        assert case["error"] is None
        _run(case)
        return
    with pytest.raises(ProtocolError) as caught:
        _run(case)
    assert caught.value.code == case["error"], case["comment"]


def test_committed_file_is_what_the_generator_writes() -> None:
    assert VECTORS.read_text(encoding="utf-8") == generate_status_lists.render()


def test_ids_are_sequential_and_counted() -> None:
    assert [c["tcId"] for c in CASES] == list(range(1, len(CASES) + 1))
    assert DOCUMENT["numberOfTests"] == len(CASES)


def test_draft_vectors_are_present_with_their_origin() -> None:
    origins = [str(c["origin"]) for c in CASES if "origin" in c]
    for bits in (1, 2, 4, 8):
        assert any(f"{bits} bit Status List" in o for o in origins)
    assert all("draft-ietf-oauth-status-list-14" in o for o in origins)


def test_every_status_list_error_code_is_covered() -> None:
    codes = {c["error"] for c in CASES if c["result"] == "invalid"}
    assert {
        "malformed",
        "too_large",
        "bad_signature",
        "wrong_type",
        "alg_not_allowed",
        "unknown_key",
        "untrusted_issuer",
        "forbidden_header",
        "expired",
        "not_yet_valid",
        "missing_claim",
        "wrong_subject",
    } <= codes
