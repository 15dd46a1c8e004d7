"""``huxin wallet fetch`` against the real node API, then a presentation the node verifies."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from node.cli import cli
from tests.node.conftest import Node, national_id

pytestmark = pytest.mark.asyncio
AT = "2026-11-25T08:00:10Z"  # the node's fake clock starts at 08:00


async def _huxin(args: list[str], env: dict[str, str] | None = None) -> Result:
    # The CLI blocks on urllib; run it off the event loop that serves the node.
    return await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)


async def test_fetch_present_and_node_verifies(node: Node, tmp_path: Path) -> None:
    nid = national_id(7)
    await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": 135, "seq": 1}
    )
    wallet = str(tmp_path / "wallet")
    url = str(node.client.make_url("/"))
    assert (await _huxin(["wallet", "init", "--dir", wallet, "--count", "2"])).exit_code == 0

    env = {"HUXIN_CREDENTIAL": node.tokens["app"], "HUXIN_NATIONAL_ID": nid}
    fetch = ["wallet", "fetch", "--dir", wallet, "--node", url, "--count", "3", "--at", AT]
    refused = await _huxin(fetch, env)
    assert refused.exit_code == 1
    assert "error[fetch_failed]" in refused.stderr
    assert "consent" in refused.stderr  # the node's own message comes through

    await node.ok(
        "POST", "/v1/residents/consent", role="app", json={"national_id": nid, "granted": True}
    )
    result = await _huxin(fetch, env)
    assert result.exit_code == 0, result.output
    assert "fetched 3" in result.stdout
    shown = json.loads(
        (await _huxin(["wallet", "show", "--dir", wallet, "--json", "--at", AT])).stdout
    )
    assert shown["unused"] == 3
    assert {a["level"] for a in shown["attestations"]} == {4}

    presented = await _huxin(
        [
            "wallet",
            "present",
            "--dir",
            wallet,
            "--for",
            "zhengzhou/library-card",
            "--aud",
            "shop-1",
            "--nonce",
            "n-7",
            "--at",
            AT,
        ]
    )
    assert presented.exit_code == 0, presented.output
    node.clock.advance(seconds=10)
    verdict = await node.ok(
        "POST",
        "/v1/verify",
        role="merchant",
        json={"presentation": presented.stdout.strip(), "audience": "shop-1", "nonce": "n-7"},
    )
    assert verdict["valid"] is True
    assert verdict["level_at_least"] == [4]
    assert verdict["level"] is None


async def test_a_new_batch_retires_the_unused_rest_of_the_old_one(
    node: Node, tmp_path: Path
) -> None:
    nid = national_id(8)
    await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": 135, "seq": 1}
    )
    await node.ok(
        "POST", "/v1/residents/consent", role="app", json={"national_id": nid, "granted": True}
    )
    wallet = str(tmp_path / "wallet")
    url = str(node.client.make_url("/"))
    env = {"HUXIN_CREDENTIAL": node.tokens["app"], "HUXIN_NATIONAL_ID": nid}
    fetch = ["wallet", "fetch", "--dir", wallet, "--node", url, "--count", "3", "--at", AT]
    assert (await _huxin(["wallet", "init", "--dir", wallet, "--count", "3"])).exit_code == 0
    assert (await _huxin(fetch, env)).exit_code == 0

    # A dishonesty record: the level drops from 4 to 3 and the node revokes the first batch.
    await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": nid, "score": 110, "seq": 2}
    )
    again = await _huxin(fetch, env)
    assert again.exit_code == 0, again.output
    assert "3 unused attestations of the previous batch retired" in again.stdout
    shown = json.loads(
        (await _huxin(["wallet", "show", "--dir", wallet, "--json", "--at", AT])).stdout
    )
    states = sorted((a["level"], a["superseded_at"] is not None) for a in shown["attestations"])
    assert states == [(3, False)] * 3 + [(4, True)] * 3
    assert shown["unused"] == 3

    # Only new-batch attestations are presented, and they verify (the old ones are revoked).
    for n in range(3):
        presented = await _huxin(
            [
                *("wallet", "present", "--dir", wallet, "--for", "wuhan/bike-share"),
                *("--aud", "shop-2", "--nonce", f"n-{n}", "--at", AT),
            ]
        )
        assert presented.exit_code == 0, presented.output
        verdict = await node.ok(
            "POST",
            "/v1/verify",
            role="merchant",
            json={
                "presentation": presented.stdout.strip(),
                "audience": "shop-2",
                "nonce": f"n-{n}",
            },
        )
        assert verdict["valid"] is True, verdict
    out = await _huxin(
        ["wallet", "present", "--dir", wallet, "--for", "wuhan/bike-share", "--at", AT]
    )
    assert "error[no_attestation_left]" in out.stderr
    assert "3 retired" in out.stderr
