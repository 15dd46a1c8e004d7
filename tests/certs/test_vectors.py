"""Run the language-neutral root-update vectors (``tests/certs/vectors/root_update.json``).

The file is made by ``tests/certs/generate_vectors.py``; each case names its expected result and
error code, so another city's implementation can run the same file.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from certs.errors import CertsError
from certs.root import RootPolicy, VerifiedRootChain, parse_time, verify_root_chain
from protocol.jose import json_bytes

VECTORS = json.loads((Path(__file__).parent / "vectors" / "root_update.json").read_text())
ROOTS: dict[str, bytes] = {name: json_bytes(doc) for name, doc in VECTORS["roots"].items()}
POLICY = RootPolicy(grace=timedelta(days=VECTORS["grace_days"]))


def test_file_is_consistent() -> None:
    assert VECTORS["numberOfTests"] == len(VECTORS["tests"])
    assert [t["tcId"] for t in VECTORS["tests"]] == list(range(1, len(VECTORS["tests"]) + 1))
    assert {t["result"] for t in VECTORS["tests"]} == {"valid", "invalid"}


@pytest.mark.parametrize("case", VECTORS["tests"], ids=lambda c: f"tc{c['tcId']}")
def test_vector(case: dict[str, object]) -> None:
    pinned, chain, now = case["pinned"], case["chain"], case["now"]
    assert isinstance(pinned, str)
    assert isinstance(chain, list)

    def run() -> VerifiedRootChain:
        return verify_root_chain(
            ROOTS[pinned],
            [ROOTS[name] for name in chain],
            now=parse_time(now, what="now"),
            policy=POLICY,
        )

    if case["result"] == "valid":
        result = run()
        assert result.root.version == case["version"], case["comment"]
        assert len(result.warnings) == case["warnings"], case["comment"]
    else:
        with pytest.raises(CertsError) as info:
            run()
        assert info.value.code == case["error"], (case["comment"], info.value.message)
