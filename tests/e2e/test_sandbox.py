"""The merchant sandbox: ``huxin verify`` gives every exported presentation its expected result."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from node.cli import cli
from tests.e2e.conftest import Demo


def test_sandbox_layout(demo: Demo) -> None:
    box = demo.sandbox
    for name in ("trust-bundle.json", "root.json", "expected.json", "holder-key.pem", "README.txt"):
        assert (box / name).is_file(), name
    assert (box / "status" / "index.json").is_file()
    assert len(list((box / "status" / "lists").glob("*.jwt"))) == 5
    expected = json.loads((box / "expected.json").read_text())
    cases = expected["presentations"]
    assert {c["holder_city"] for c in cases} == set(demo.fed.cities)
    errors = {c["expected"]["error"] for c in cases}
    assert {None, "revoked", "wrong_audience", "expired", "wrong_nonce", "bad_signature"} <= errors
    assert {c["expected"]["eligibility"] for c in cases} >= {"eligible", "not_eligible", None}
    # Nothing about a resident in the sandbox: no synthetic ID anywhere in it.
    ids = {r.national_id for c in demo.fed.cities.values() for r in c.residents}
    for path in box.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".txt", ".jwt", ".sd-jwt"}:
            text = path.read_text(errors="replace")
            assert not any(i in text for i in ids), path


def test_huxin_verify_gives_every_expected_result(demo: Demo) -> None:
    box = demo.sandbox
    expected = json.loads((box / "expected.json").read_text())
    runner = CliRunner()
    wrong = []
    for case in expected["presentations"]:
        result = runner.invoke(
            cli,
            [
                "verify",
                str(box / case["file"]),
                "--bundle",
                str(box / expected["bundle"]),
                "--root",
                str(box / expected["root"]),
                "--status-cache",
                str(box / expected["status_cache"]),
                "--incentive",
                case["incentive"],
                "--aud",
                case["aud"],
                "--nonce",
                case["nonce"],
                "--at",
                case["at"],
                "--json",
            ],
        )
        verdict = json.loads(result.stdout)
        got = {k: verdict[k] for k in ("valid", "error", "eligibility")}
        if got != case["expected"] or result.exit_code != (0 if got["valid"] else 1):
            wrong.append((case["file"], got, case["expected"], result.exit_code))
    assert wrong == []


@pytest.mark.parametrize("flag", ["--aud", "--nonce"])
def test_sandbox_cases_are_sensitive(demo: Demo, flag: str) -> None:
    """A valid exported case fails when the merchant's own input changes (not a fixed answer)."""
    box = demo.sandbox
    expected = json.loads((box / "expected.json").read_text())
    case = next(c for c in expected["presentations"] if c["file"].endswith("zhengzhou-valid.txt"))
    args = {"--aud": case["aud"], "--nonce": case["nonce"]}
    args[flag] = "something-else"
    result = CliRunner().invoke(
        cli,
        [
            "verify",
            str(box / case["file"]),
            "--bundle",
            str(box / "trust-bundle.json"),
            "--root",
            str(box / "root.json"),
            "--status-cache",
            str(box / "status"),
            "--incentive",
            case["incentive"],
            "--at",
            case["at"],
            "--json",
            *[x for kv in args.items() for x in kv],
        ],
    )
    verdict = json.loads(result.stdout)
    assert verdict["valid"] is False
    assert verdict["error"] == ("wrong_audience" if flag == "--aud" else "wrong_nonce")
