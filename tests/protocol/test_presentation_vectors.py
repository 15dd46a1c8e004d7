"""Presentation and JOSE vectors: the committed files are the generator's output, and every
case behaves as labelled. Also keeps docs/protocol.md's generated parts in step with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from protocol import verifier
from protocol.errors import ERROR_CLASSES, ProtocolError
from protocol.jose import (
    EDDSA,
    ES256,
    b64u_decode,
    jwk_thumbprint,
    public_key_from_jwk,
    verify_signature,
)
from tests.vectors import generate

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
PRESENTATIONS = json.loads((VECTORS / "presentations.json").read_text(encoding="utf-8"))
JOSE = json.loads((VECTORS / "jose.json").read_text(encoding="utf-8"))
LISTS = generate.load_status_lists(PRESENTATIONS)


def test_committed_files_match_the_generator() -> None:
    for path, text in generate.outputs().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run tests/vectors/generate.py"
        )


@pytest.mark.parametrize("case", PRESENTATIONS["cases"], ids=lambda c: f"tc{c['tcId']}")
def test_presentation_vector(case: dict[str, object]) -> None:
    assert set(case) >= {"tcId", "comment", "now", "issuer_jwk", "presentation", "aud", "nonce"}
    if case["result"] == "valid":
        result = generate.run_case(case, LISTS, PRESENTATIONS["issuer"], PRESENTATIONS["city"])
        assert case["error"] is None
        assert dict(result.disclosed) == case["disclosed"]
        assert result.issuer == PRESENTATIONS["issuer"]
    else:
        assert case["result"] == "invalid"
        assert "disclosed" not in case
        with pytest.raises(ProtocolError) as info:
            generate.run_case(case, LISTS, PRESENTATIONS["issuer"], PRESENTATIONS["city"])
        assert info.value.code == case["error"]


def _verifier_codes() -> set[str]:
    doc = verifier.verify_presentation.__doc__ or ""
    raises = doc.split("Raises:", 1)[1]
    names = set(re.findall(r"^\s{8}(\w+Error):", raises, re.MULTILINE)) - {"ValueError"}
    by_name = {cls.__name__: code for code, cls in ERROR_CLASSES.items()}
    return {by_name[name] for name in names}


def test_every_verifier_error_code_has_an_invalid_vector() -> None:
    codes = _verifier_codes()
    assert len(codes) >= 20
    covered = {c["error"] for c in PRESENTATIONS["cases"] if c["result"] == "invalid"}
    assert codes <= covered, codes - covered
    assert covered <= codes, covered - codes


@pytest.mark.parametrize("case", JOSE["cases"], ids=lambda c: f"jose{c['tcId']}")
def test_jose_vector(case: dict[str, object]) -> None:
    jwk = case["jwk"]
    jws = case["jws"]
    assert isinstance(jwk, dict)
    assert isinstance(jws, str)
    assert jwk_thumbprint(jwk) == case["thumbprint"]
    header_b64, payload_b64, sig_b64 = jws.split(".")
    alg = json.loads(b64u_decode(header_b64))["alg"]
    key = public_key_from_jwk(jwk)
    data = f"{header_b64}.{payload_b64}".encode()
    allowed = frozenset({ES256, EDDSA})
    if case["result"] == "valid":
        verify_signature(alg, key, data, b64u_decode(sig_b64), allowed)
    else:
        with pytest.raises(ProtocolError) as info:
            verify_signature(alg, key, data, b64u_decode(sig_b64), allowed)
        assert info.value.code == case["error"]


def test_doc_error_table_lists_every_code() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = doc.split("<!-- BEGIN GENERATED: errors", 1)[1].split("<!-- END GENERATED: errors", 1)[
        0
    ]
    assert set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)) == set(ERROR_CLASSES)


def test_generator_check_mode() -> None:
    assert generate.main(["--check"]) == 0
