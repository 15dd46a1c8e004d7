"""``huxin federation``: five cities agree a 3-of-5 root, rotate a key, refuse bad roots."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.cli.federation_flow import AT, Flow, five_city_federation, huxin


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    return five_city_federation(tmp_path_factory.mktemp("federation"))


def test_help_shows_a_worked_example() -> None:
    for command in ("init", "propose", "sign", "combine", "verify", "member", "keygen"):
        out = huxin(["federation", command, "--help"]).output
        assert "Example" in out, command
    out = huxin(["federation", "--help"]).output
    assert "3-of-5" in out
    assert "huxin federation combine" in out


def test_layout_separates_secrets_from_published_files(flow: Flow) -> None:
    city = flow.city("zhengzhou")
    for secret in ("offline/ca.key", "governance/governance.key", "node/attestation.key"):
        assert (city / secret).stat().st_mode & 0o777 == 0o600, secret
    public = {p.name for p in (city / "public").iterdir()}
    assert {"ca.pem", "attestation.pem", "member.json", "governance.jwk", "material.json"} <= public
    assert not any(p.suffix == ".key" for p in (city / "public").iterdir())


def test_chain_verifies_from_pinned_root(flow: Flow) -> None:
    out = huxin(
        ["federation", "verify", "--pinned", flow.root(1), "--at", AT, flow.root(1), flow.root(2)]
    ).output
    assert "root v2 (verified against v1)" in out
    assert "ok: root v2 is trusted" in out
    doc = json.loads(
        huxin(
            ["federation", "verify", "--pinned", flow.root(1), "--at", AT, "--json", flow.root(2)]
        ).output
    )
    wuhan = next(m for m in doc["members"] if m["city"] == "wuhan")
    new_jwk = json.loads((flow.city("wuhan") / "public" / "governance-2.jwk").read_text())
    assert wuhan["governance_keys"] == [new_jwk]
    assert doc["threshold"] == 3


def test_rolled_back_root_is_refused(flow: Flow) -> None:
    result = huxin(
        ["federation", "verify", "--pinned", flow.root(2), "--at", AT, flow.root(1)], code=1
    )
    assert "error[rollback]" in result.output


def _forge(src: Path, dst: Path, **changes: object) -> Path:
    doc = json.loads(src.read_text())
    payload = json.loads(base64.urlsafe_b64decode(doc["payload"] + "=="))
    payload.update(changes)
    raw = json.dumps(payload, ensure_ascii=False).encode()
    doc["payload"] = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    dst.write_text(json.dumps(doc))
    return dst


def test_forged_root_is_refused(flow: Flow, tmp_path: Path) -> None:
    forged = _forge(flow.root(2), tmp_path / "3.root.json", version=3, threshold=1)
    result = huxin(
        ["federation", "verify", "--pinned", flow.root(1), "--at", AT, flow.root(2), forged], code=1
    )
    assert "error[threshold_not_met]" in result.output
    assert "do not verify" in result.output


def test_skipped_version_is_refused(flow: Flow, tmp_path: Path) -> None:
    v3 = _forge(flow.root(2), tmp_path / "3.root.json", version=3)
    result = huxin(["federation", "verify", "--pinned", flow.root(1), "--at", AT, v3], code=1)
    assert "error[version_skipped]" in result.output


def test_grace_period_and_frozen_root(flow: Flow) -> None:
    late = "2027-11-28T12:00:00Z"  # expiry + 3 days: inside the 7-day grace, with a warning
    result = huxin(["federation", "verify", "--pinned", flow.root(1), "--at", late, flow.root(2)])
    assert "warning:" in result.output
    result = huxin(
        [
            "federation",
            "verify",
            "--pinned",
            flow.root(1),
            "--at",
            late,
            "--grace-days",
            "1",
            flow.root(2),
        ],
        code=1,
    )
    assert "error[frozen]" in result.output


def test_combine_refuses_too_few_signatures(flow: Flow, tmp_path: Path) -> None:
    proposal = tmp_path / "root-3.json"
    huxin(
        ["federation", "propose", "--current", flow.root(2), "--threshold", "4", "--out", proposal]
    )
    for city in ("zhengzhou", "hangzhou"):
        huxin(["federation", "sign", "--proposal", proposal, "--key", flow.governance(city)])
    out = tmp_path / "3.root.json"
    result = huxin(
        [
            "federation",
            "combine",
            "--proposal",
            proposal,
            "--previous",
            flow.root(2),
            "--out",
            out,
            *sorted(tmp_path.glob("root-3.*.sig.json")),
        ],
        code=1,
    )
    assert "error[threshold_not_met]" in result.output
    assert "NOT MET" in result.output
    assert not out.exists()


def test_removed_key_cannot_sign(flow: Flow, tmp_path: Path) -> None:
    # Wuhan's old governance key was rotated out in v2; signing v3 with it counts for nobody.
    proposal = tmp_path / "root-3.json"
    huxin(
        [
            "federation",
            "propose",
            "--current",
            flow.root(2),
            "--extend-days",
            "30",
            "--out",
            proposal,
        ]
    )
    result = huxin(
        [
            "federation",
            "sign",
            "--proposal",
            proposal,
            "--key",
            flow.governance("wuhan"),
            "--previous",
            flow.root(2),
        ],
        code=1,
    )
    assert "error[unknown_key]" in result.output


def test_signature_over_another_proposal_is_refused(flow: Flow, tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "root-3.json", tmp_path / "b" / "root-3.json"
    huxin(["federation", "propose", "--current", flow.root(2), "--threshold", "4", "--out", a])
    huxin(["federation", "propose", "--current", flow.root(2), "--threshold", "2", "--out", b])
    huxin(["federation", "sign", "--proposal", a, "--key", flow.governance("zhengzhou")])
    huxin(["federation", "sign", "--proposal", b, "--key", flow.governance("hangzhou")])
    sigs = [*a.parent.glob("*.sig.json"), *b.parent.glob("*.sig.json")]
    result = huxin(
        [
            "federation",
            "combine",
            "--proposal",
            a,
            "--previous",
            flow.root(2),
            "--out",
            tmp_path / "x.json",
            *sigs,
        ],
        code=1,
    )
    assert "error[payload_mismatch]" in result.output


def test_bad_files_give_clear_errors(flow: Flow, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(flow.root(1).read_bytes()[:200])
    result = huxin(["federation", "verify", "--pinned", truncated], code=1)
    assert "error[bad_file]" in result.output
    assert "truncated" in result.output
    assert str(truncated) in result.output
    pem = flow.city("zhengzhou") / "public" / "ca.pem"
    result = huxin(
        ["federation", "sign", "--proposal", flow.proposals / "root-2.json", "--key", pem], code=1
    )
    assert "error[bad_file]" in result.output
    assert "not a private key" in result.output
    result = huxin(
        [
            "federation",
            "init",
            "--federation",
            "other",
            "--threshold",
            "1",
            "--out",
            tmp_path / "p.json",
            flow.city("fuzhou") / "public" / "member.json",
        ],
        code=1,
    )
    assert "error[wrong_federation]" in result.output


def test_membership_changes(flow: Flow, tmp_path: Path) -> None:
    # Suzhou joins (threshold 4 of 6), Wuhan replaces its CA, all in v3.
    suzhou = tmp_path / "suzhou"
    huxin(
        [
            "ca",
            "init",
            "--dir",
            suzhou,
            "--city",
            "suzhou",
            "--federation",
            "huxin-demo",
            "--at",
            AT,
        ]
    )
    huxin(
        [
            "federation",
            "member",
            "--dir",
            suzhou,
            "--name-zh",
            "苏州",
            "--name-en",
            "Suzhou",
            "--node-url",
            "https://suzhou.huxin.example",
            "--scale",
            "osmanthus",
        ]
    )
    new_wuhan = tmp_path / "wuhan-2"
    huxin(
        [
            "ca",
            "init",
            "--dir",
            new_wuhan,
            "--city",
            "wuhan",
            "--federation",
            "huxin-demo",
            "--at",
            AT,
        ]
    )
    proposal = tmp_path / "root-3.json"
    out = huxin(
        [
            "federation",
            "propose",
            "--current",
            flow.root(2),
            "--add-member",
            suzhou / "public" / "member.json",
            "--replace-ca",
            f"wuhan={new_wuhan / 'public' / 'ca.pem'}",
            "--threshold",
            "4",
            "--expires",
            "2028-06-30",
            "--out",
            proposal,
        ]
    ).output
    assert "add member suzhou" in out
    assert "wuhan: new CA certificate" in out
    assert "threshold 3 -> 4" in out
    assert "-> 2028-06-30T00:00:00Z" in out
    signers = [flow.governance(c) for c in ("zhengzhou", "hangzhou", "fuzhou")]
    signers.append(suzhou / "governance" / "governance.key")
    flow_sign: list[list[str | Path]] = [
        ["federation", "sign", "--proposal", proposal, "--key", k, "--previous", flow.root(2)]
        for k in signers
    ]
    for args in flow_sign[:3]:
        huxin(args)
    v3 = tmp_path / "3.root.json"
    sigs = sorted(tmp_path.glob("root-3.*.sig.json"))
    result = huxin(
        [
            "federation",
            "combine",
            "--proposal",
            proposal,
            "--previous",
            flow.root(2),
            "--out",
            v3,
            *sigs,
        ],
        code=1,
    )
    assert "3 of 4 required (its own members): NOT MET" in result.output
    huxin(flow_sign[3])
    sigs = sorted(tmp_path.glob("root-3.*.sig.json"))
    huxin(
        [
            "federation",
            "combine",
            "--proposal",
            proposal,
            "--previous",
            flow.root(2),
            "--out",
            v3,
            *sigs,
        ]
    )
    out = huxin(
        ["federation", "verify", "--pinned", flow.root(1), "--at", AT, flow.root(2), v3]
    ).output
    assert "threshold 4 of 6 cities" in out
    # v4 removes Nanjing; four of v3's six must sign.
    proposal4 = tmp_path / "v4" / "root-4.json"
    out = huxin(
        ["federation", "propose", "--current", v3, "--remove-member", "nanjing", "--out", proposal4]
    ).output
    assert "remove member nanjing" in out
    for key in [flow.governance(c) for c in ("zhengzhou", "hangzhou", "fuzhou")] + [signers[3]]:
        huxin(["federation", "sign", "--proposal", proposal4, "--key", key])
    v4 = tmp_path / "4.root.json"
    huxin(
        [
            "federation",
            "combine",
            "--proposal",
            proposal4,
            "--previous",
            v3,
            "--out",
            v4,
            *sorted(proposal4.parent.glob("*.sig.json")),
        ]
    )
    doc = json.loads(
        huxin(
            [
                "federation",
                "verify",
                "--pinned",
                flow.root(1),
                "--at",
                AT,
                "--json",
                flow.root(2),
                v3,
                v4,
            ]
        ).output
    )
    assert [m["city"] for m in doc["members"]] == [
        "zhengzhou",
        "hangzhou",
        "fuzhou",
        "wuhan",
        "suzhou",
    ]
