"""A node killed (SIGKILL) midway: the others keep verifying from their caches, and it comes
back with nothing lost -- residents, attestations and status list intact."""

from __future__ import annotations

import json
import shutil
import sqlite3
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from certs.keys import load_private_key
from node.cli import cli
from node.demo.federation import http_json
from node.merchant import default_audience
from protocol.jose import KeySigner, b64u_decode
from protocol.presentation import DisclosureRequest, present
from tests.e2e.conftest import Demo

INCENTIVE = "hangzhou/library-card"


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("resident", "attestation", "status_list", "audit_entry")
        }


def _status_list(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - our own node
        token = resp.read().decode()
    payload = json.loads(b64u_decode(token.split(".")[1]))
    assert isinstance(payload["status_list"], dict)
    return payload["status_list"]


def _presentation(demo: Demo) -> str:
    box = demo.sandbox
    sd_jwt = (box / "attestations" / "zhengzhou-good-4.sd-jwt").read_text().strip()
    cnf = json.loads(b64u_decode(sd_jwt.split(".")[1]))["cnf"]["jwk"]
    for pem in (box / "holder-keys").glob("*.pem"):
        key = KeySigner(load_private_key(pem.read_bytes()))
        if key.public_jwk["x"] == cnf["x"]:
            return present(
                sd_jwt,
                key,
                request=DisclosureRequest(level_at_least=4),
                audience=default_audience(INCENTIVE),
                nonce="restart-test",
                now=datetime.now(UTC),
            )
    raise AssertionError("no holder key for the attestation")


def _merchant_args(demo: Demo) -> list[str]:
    fed = demo.fed
    return [
        "--bundle",
        str(fed.bundle_path),
        "--root",
        str(fed.pinned_root_path),
        "--status-cache",
        str(demo.story.merchant("hangzhou")),
    ]


def _verify(demo: Demo, path: Path) -> dict[str, object]:
    result = CliRunner().invoke(
        cli,
        [
            "verify",
            str(path),
            *_merchant_args(demo),
            "--incentive",
            INCENTIVE,
            "--nonce",
            "restart-test",
            "--json",
        ],
    )
    verdict = json.loads(result.stdout)
    assert isinstance(verdict, dict)
    return verdict


def test_node_killed_and_restarted(demo: Demo, tmp_path: Path) -> None:
    fed = demo.fed
    zz = fed.city("zhengzhou")
    db = zz.node_dir / "node.db"
    before_counts = _counts(db)
    before_list = _status_list(f"{zz.url}/status/1")
    person = demo.story.people["zhengzhou"]

    fed.supervisor.kill("zhengzhou")
    assert not fed.supervisor.children["zhengzhou"].alive()
    status, _ = http_json("GET", f"{zz.url}/healthz")
    assert status == 502  # the proxy: nobody behind it

    # The others keep going: they answer, issue, and the merchant verifies from its cache.
    for city in ("hangzhou", "nanjing", "wuhan", "suzhou"):
        status, ready = http_json("GET", f"{fed.city(city).url}/readyz")
        assert status == 200, (city, ready)
    hz_resident = fed.city("hangzhou").residents[5]
    fed.consent("hangzhou", hz_resident.national_id)
    assert fed.issue("hangzhou", hz_resident.national_id, [KeySigner.generate().public_jwk])
    refresh = CliRunner().invoke(cli, ["verify", "--refresh-status", *_merchant_args(demo)])
    assert refresh.exit_code == 1  # Zhengzhou's list could not be fetched ...
    presentation = tmp_path / "p.txt"
    presentation.write_text(_presentation(demo))
    verdict = _verify(demo, presentation)  # ... and the last good copy still serves
    assert verdict["valid"] is True, verdict
    assert verdict["issuer"] == "zhengzhou"
    assert verdict["eligibility"] == "eligible"

    # It comes back with nothing lost.
    fed.start_node("zhengzhou")
    assert _counts(db) == before_counts
    assert _status_list(f"{zz.url}/status/1") == before_list
    status, me = http_json(
        "POST",
        f"{zz.url}/v1/residents/me",
        {"national_id": person.resident.national_id},
        token=zz.credentials["app"],
    )
    assert status == 200
    assert me["score"] == 95
    assert me["level"] == 2
    audit = CliRunner().invoke(cli, ["node", "audit", "verify", "--data", str(zz.node_dir)])
    assert audit.exit_code == 0, audit.output
    # The revoked attestation is still revoked; the good one still verifies.
    refresh = CliRunner().invoke(cli, ["verify", "--refresh-status", *_merchant_args(demo)])
    assert refresh.exit_code == 0, refresh.output
    # A fresh presentation from one of the revoked attestations: still revoked. The story's
    # wallet retired them when it fetched the new batch; a second phone holding a copy of the
    # wallet from before that fetch still has them.
    stale = tmp_path / "stale-wallet"
    shutil.copytree(demo.story.wallet("zhengzhou"), stale)
    state = json.loads((stale / "wallet.json").read_text("utf-8"))
    for held in state["attestations"]:
        held["superseded_at"] = None
    (stale / "wallet.json").write_text(json.dumps(state), "utf-8")
    revoked = tmp_path / "revoked.txt"
    made = CliRunner().invoke(
        cli,
        [
            "wallet",
            "present",
            "--dir",
            str(stale),
            "--for",
            INCENTIVE,
            "--bundle",
            str(fed.bundle_path),
            "--root",
            str(fed.pinned_root_path),
            "--out",
            str(revoked),
        ],
    )
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(
        cli, ["verify", str(revoked), *_merchant_args(demo), "--incentive", INCENTIVE, "--json"]
    )
    assert json.loads(result.stdout)["error"] == "revoked"
    presentation.write_text(_presentation(demo))
    assert _verify(demo, presentation)["valid"] is True
    # And it issues again.
    sample = zz.residents[3]
    fed.consent("zhengzhou", sample.national_id)
    assert fed.issue("zhengzhou", sample.national_id, [KeySigner.generate().public_jwk])
