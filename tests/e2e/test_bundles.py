"""Peer sync at work: every node serves a complete, verified trust bundle merchants can use.

The demo builds the merchants' bundle itself as its set-up step; here each running node's own
``/federation/bundle`` -- aggregated from what it synced from its peers -- must be as good:
verified from the pinned root, every member present with its current keys and its status lists,
and enough for ``huxin verify`` to check a visitor, revocation included.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from certs.bundle import TrustBundle
from node.cli import cli
from tests.e2e.conftest import Demo

#: A sync round runs every few seconds in the demo; this bounds the wait for convergence.
CONVERGE_SECONDS = 45.0


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - our own node
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _converged(demo: Demo, data: bytes) -> TrustBundle | None:
    """The node's bundle, once it carries what the demo's own bundle does; else None."""
    fed = demo.fed
    now = datetime.now(UTC)
    pinned = fed.pinned_root_path.read_bytes()
    reference = TrustBundle.load(fed.bundle_path.read_bytes(), pinned_root=pinned, now=now)
    bundle = TrustBundle.load(data, pinned_root=pinned, now=now)
    if bundle.root.version != reference.root.version:
        return None
    for member in reference.members:
        wanted = {k.kid for k in reference.attestation_keys(member.city)}
        if not wanted <= {k.kid for k in bundle.attestation_keys(member.city)}:
            return None
    return bundle


def test_every_node_serves_a_complete_verified_bundle(demo: Demo, tmp_path: Path) -> None:
    deadline = time.monotonic() + CONVERGE_SECONDS
    bundles: dict[str, TrustBundle] = {}
    for city in demo.fed.cities:
        url = f"{demo.fed.city(city).url}/federation/bundle"
        while True:
            status, data = _get(url)
            if status == 200:
                bundle = _converged(demo, data)
                if bundle is not None:
                    bundles[city] = bundle
                    (tmp_path / f"{city}-bundle.json").write_bytes(data)
                    break
            assert time.monotonic() < deadline, (city, status, data[:300])
            time.sleep(1)
    for city, bundle in bundles.items():
        assert {m.city for m in bundle.members} == set(demo.fed.cities), city
        for member in bundle.members:
            # A bundle without status list URIs could never check revocation.
            assert bundle.status_list_uris(member.city), (city, member.city)


def test_a_merchant_verifies_with_its_city_nodes_bundle(demo: Demo, tmp_path: Path) -> None:
    status, data = _get(f"{demo.fed.city('hangzhou').url}/federation/bundle")
    assert status == 200
    bundle_path = tmp_path / "hangzhou-bundle.json"
    bundle_path.write_bytes(data)
    merchant = [
        "--bundle",
        str(bundle_path),
        "--root",
        str(demo.fed.pinned_root_path),
        "--status-cache",
        str(tmp_path / "status"),
    ]
    refreshed = CliRunner().invoke(cli, ["verify", "--refresh-status", *merchant])
    assert refreshed.exit_code == 0, refreshed.output
    expected = json.loads((demo.sandbox / "expected.json").read_text("utf-8"))
    cases = {Path(c["file"]).stem: c for c in expected["presentations"]}
    for name in ("zhengzhou-valid", "zhengzhou-revoked", "wuhan-not-eligible"):
        case = cases[name]
        args = [
            "verify",
            str(demo.sandbox / case["file"]),
            *merchant,
            "--incentive",
            case["incentive"],
            "--aud",
            case["aud"],
            "--at",
            case["at"],
            "--json",
        ]
        if case.get("nonce"):
            args += ["--nonce", case["nonce"]]
        out = json.loads(CliRunner().invoke(cli, args).stdout)
        for key, value in case["expected"].items():
            assert out[key] == value, (name, key, out)
