"""``huxin bundle``: member material, building the trust bundle, and a merchant verifying it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certs.bundle import TrustBundle, sign_material
from certs.keys import load_certificate, load_private_key
from certs.root import parse_time
from mapping.scale import builtin_scale
from protocol.jose import KeySigner
from tests.cli.federation_flow import AT, Flow, five_city_federation, huxin


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    return five_city_federation(tmp_path_factory.mktemp("bundle"))


def test_help_shows_a_worked_example() -> None:
    for command in ("material", "build", "verify"):
        assert "Example" in huxin(["bundle", command, "--help"]).output
    assert "huxin bundle build" in huxin(["bundle", "--help"]).output


def test_bundle_verifies_from_the_pinned_root(flow: Flow) -> None:
    out = huxin(["bundle", "verify", "--pinned", flow.root(1), "--at", AT, flow.bundle]).output
    assert "root v2 (3 of 5)" in out
    assert out.count(": valid") == 5
    assert "ok: bundle verified" in out
    bundle = TrustBundle.load(
        flow.bundle.read_bytes(), pinned_root=flow.root(1).read_bytes(), now=parse_time(AT, what="")
    )
    assert bundle.scale("nanjing").id == "honest-card"
    assert bundle.status_list_uris("wuhan") == ("https://wuhan.huxin.example/status/1",)


def test_json_summary_and_expired_node_certificates(flow: Flow) -> None:
    doc = json.loads(
        huxin(
            ["bundle", "verify", "--pinned", flow.root(1), "--at", AT, "--json", flow.bundle]
        ).output
    )
    assert doc["root_version"] == 2
    assert [m["city"] for m in doc["members"]] == [
        "zhengzhou",
        "hangzhou",
        "fuzhou",
        "nanjing",
        "wuhan",
    ]
    later = "2027-01-10T00:00:00Z"  # after the 30-day node certificates
    out = huxin(["bundle", "verify", "--pinned", flow.root(1), "--at", later, flow.bundle]).output
    assert out.count("not trusted now") == 5
    assert "expired" in out
    assert "no attestation key valid" in out


def test_rolled_back_pin_is_refused(flow: Flow, tmp_path: Path) -> None:
    # A bundle built at v1 only, checked by a merchant who already pinned v2.
    old = tmp_path / "old-bundle.json"
    huxin(
        [
            "bundle",
            "build",
            "--root",
            flow.root(1),
            "--at",
            AT,
            "--out",
            old,
            *(
                flow.city(c) / "public" / "material.json"
                for c in ("zhengzhou", "hangzhou", "fuzhou", "nanjing", "wuhan")
            ),
        ]
    )
    result = huxin(["bundle", "verify", "--pinned", flow.root(2), "--at", AT, old], code=1)
    assert "error[rollback]" in result.output


def test_node_certificate_of_another_city_is_refused(flow: Flow, tmp_path: Path) -> None:
    # Fuzhou's material publishes (and signs with) a key whose certificate Hangzhou's CA issued.
    hangzhou = flow.city("hangzhou")
    key = KeySigner(load_private_key((hangzhou / "node" / "attestation.key").read_bytes()))
    cert = load_certificate((hangzhou / "public" / "attestation.pem").read_bytes())
    fake = tmp_path / "fuzhou-material.json"
    fake.write_bytes(
        sign_material(
            key,
            federation="huxin-demo",
            city="fuzhou",
            attestation_keys=[(key.public_key, cert)],
            scale=builtin_scale("jasmine"),
            incentives={},
            status_lists=[],
            now=parse_time(AT, what="at"),
        )
    )
    materials = [
        flow.city(c) / "public" / "material.json"
        for c in ("zhengzhou", "hangzhou", "nanjing", "wuhan")
    ]
    result = huxin(
        [
            "bundle",
            "build",
            "--root",
            flow.root(1),
            "--root",
            flow.root(2),
            "--at",
            AT,
            "--out",
            tmp_path / "b.json",
            *materials,
            fake,
        ],
        code=1,
    )
    assert "error[wrong_issuer]" in result.output
    assert "fuzhou" in result.output
    assert not (tmp_path / "b.json").exists()


def test_material_with_expired_certificate_is_refused(flow: Flow, tmp_path: Path) -> None:
    result = huxin(
        [
            "bundle",
            "material",
            "--dir",
            flow.city("wuhan"),
            "--root",
            flow.root(2),
            "--at",
            "2027-06-01T00:00:00Z",
            "--out",
            tmp_path / "m.json",
        ],
        code=1,
    )
    assert "error[expired]" in result.output


def test_truncated_bundle(flow: Flow, tmp_path: Path) -> None:
    cut = tmp_path / "cut.json"
    cut.write_bytes(flow.bundle.read_bytes()[:1000])
    result = huxin(["bundle", "verify", "--pinned", flow.root(1), "--at", AT, cut], code=1)
    assert "error[bad_file]" in result.output
