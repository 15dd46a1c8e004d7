"""docs/federation.md stays in step with the code: every error code, the EKU, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from certs.ca import ATTESTATION_EKU
from certs.errors import ERROR_CLASSES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "federation.md").read_text()


@pytest.mark.parametrize("code", sorted(c for c in ERROR_CLASSES if c != "certs_error"))
def test_every_error_code_is_documented(code: str) -> None:
    assert f"| `{code}` | `{ERROR_CLASSES[code].__name__}` |" in DOC


def test_attestation_eku_is_documented() -> None:
    assert ATTESTATION_EKU.dotted_string in DOC


@pytest.mark.parametrize(
    "command",
    [
        "huxin ca init",
        "huxin ca issue",
        "huxin federation init",
        "huxin federation propose",
        "huxin federation sign",
        "huxin federation combine",
        "huxin federation verify",
        "huxin bundle build",
        "huxin bundle verify",
    ],
)
def test_commands_are_documented(command: str) -> None:
    assert command in DOC
