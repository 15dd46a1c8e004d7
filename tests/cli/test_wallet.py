"""``huxin wallet``: keys, import and fetch, show, least-disclosure presentations, QR codes."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from node.cli import cli
from node.cli.wallet import Wallet
from node.qr import decode_image
from protocol.qrform import COMPACT_PREFIX, expand_presentation
from protocol.sdjwt import split_compact
from tests.cli.merchant_sim import AT, MerchantWorld


def run(
    args: Sequence[str | Path],
    *,
    code: int = 0,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, input=stdin)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def new_wallet(world: MerchantWorld, count: int = 3) -> Path:
    d = world.base / "wallet"
    run(["wallet", "init", "--dir", d, "--count", str(count)])
    return d


def fill(
    world: MerchantWorld, d: Path, city: str, level: int, band: tuple[int, int] | None = None
) -> int:
    """Issue one attestation per unbound key of the wallet and import them; return how many."""
    jwks = json.loads(run(["wallet", "keys", "--dir", d, "--json"]).stdout)["holder_keys"]
    tokens = [
        world.issue(city, jwk, level=level, band=band, idx=10 + n) for n, jwk in enumerate(jwks)
    ]
    response = {"attestations": [{"sd_jwt": t} for t in tokens]}
    path = world.base / "batch.json"
    path.write_text(json.dumps(response))
    run(["wallet", "import", "--dir", d, "--at", AT, path])
    return len(tokens)


def present(world: MerchantWorld, d: Path, ref: str, *extra: str | Path, code: int = 0) -> Result:
    return run(
        [
            "wallet",
            "present",
            "--dir",
            d,
            "--for",
            ref,
            "--bundle",
            world.bundle,
            "--root",
            world.root,
            "--at",
            AT,
            *extra,
        ],
        code=code,
    )


def verify(world: MerchantWorld, text: str, ref: str, *extra: str) -> dict[str, object]:
    path = world.base / "shown.txt"
    path.write_text(text)
    result = run(
        [
            "verify",
            path,
            "--bundle",
            world.bundle,
            "--root",
            world.root,
            "--status-cache",
            world.status_dir,
            "--incentive",
            ref,
            "--at",
            AT,
            "--json",
            *extra,
        ],
    )
    out = json.loads(result.stdout)
    assert isinstance(out, dict)
    return out


def test_init_keys_are_private_and_env_chooses_the_dir(world: MerchantWorld) -> None:
    d = world.base / "from-env"
    result = run(["wallet", "init", "--count", "2"], env={"HUXIN_WALLET": str(d)})
    assert str(d) in result.output
    keys = sorted((d / "keys").glob("*.pem"))
    assert len(keys) == 2
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "wallet.json").stat().st_mode) == 0o600
    again = run(["wallet", "init", "--dir", d], code=1)
    assert "error[wallet_exists]" in again.stderr
    assert "error[no_wallet]" in run(["wallet", "show", "--dir", d / "x"], code=1).stderr


def test_import_show_and_present_least_disclosure(world: MerchantWorld) -> None:
    d = new_wallet(world, 3)
    assert fill(world, d, "zhengzhou", level=3) == 3
    shown = run(["wallet", "show", "--dir", d, "--at", AT]).stdout
    assert "3 份可用 unused" in shown
    assert "等级 level 3" in shown
    assert "https://zhengzhou.huxin.example" in shown
    assert "PRIVATE" not in shown
    data = json.loads(run(["wallet", "show", "--dir", d, "--at", AT, "--json"]).stdout)
    assert "sd_jwt" not in data["attestations"][0]
    assert '"d"' not in json.dumps(data)
    # Hangzhou campus fitness (钱江分 > 580): "level at least 3" decides it (600 and above).
    result = present(world, d, "hangzhou/campus-fitness")
    assert "disclosing level at least 3" in result.stderr
    text = result.stdout.strip()
    out = verify(world, text, "hangzhou/campus-fitness")
    assert out["valid"] is True
    assert out["eligibility"] == "eligible"
    assert out["level"] is None
    assert out["band"] is None
    assert out["level_at_least"] == [3]
    # Exactly one Disclosure travels.
    assert len(split_compact(text).disclosures) == 1
    # The next presentation uses another attestation: nothing joinable.
    second = present(world, d, "hangzhou/campus-fitness").stdout.strip()
    assert split_compact(second).issuer_jwt != split_compact(text).issuer_jwt
    data = json.loads(run(["wallet", "show", "--dir", d, "--at", AT, "--json"]).stdout)
    assert data["unused"] == 1
    assert [a["used_for"] for a in data["attestations"]][:2] == ["hangzhou/campus-fitness"] * 2


def test_band_only_when_the_threshold_falls_inside_the_level(world: MerchantWorld) -> None:
    d = new_wallet(world, 1)
    fill(world, d, "zhengzhou", level=2, band=(96, 99))
    text = present(world, d, "hangzhou/campus-fitness").stdout.strip()
    out = verify(world, text, "hangzhou/campus-fitness")
    assert out["band"] == [96, 99]
    assert out["level_at_least"] == []
    assert out["eligibility"] == "eligible"


def test_running_out_and_cannot_qualify(world: MerchantWorld) -> None:
    d = new_wallet(world, 2)
    fill(world, d, "wuhan", level=1)
    refused = present(world, d, "zhengzhou/library-card", code=1)
    assert "error[cannot_qualify]" in refused.stderr
    assert "不满足" in refused.stderr
    data = json.loads(run(["wallet", "show", "--dir", d, "--at", AT, "--json"]).stdout)
    assert data["unused"] == 2  # the refusal used nothing
    # A Fuzhou level-4 holder presents twice for Wuhan's bike share (level 3), then runs out.
    d2 = new_wallet_at(world, "w2", 2)
    fill(world, d2, "fuzhou", level=4)
    present(world, d2, "wuhan/bike-share")
    last = present(world, d2, "wuhan/bike-share")
    assert "batch used up" in last.stderr
    out = present(world, d2, "wuhan/bike-share", code=1)
    assert "error[no_attestation_left]" in out.stderr
    assert "huxin wallet fetch" in out.stderr


def new_wallet_at(world: MerchantWorld, name: str, count: int) -> Path:
    d = world.base / name
    run(["wallet", "init", "--dir", d, "--count", str(count)])
    return d


def test_qr_outputs_and_one_way_verification(world: MerchantWorld) -> None:
    d = new_wallet(world, 2)
    fill(world, d, "nanjing", level=4)
    png, txt = world.base / "p.png", world.base / "p.txt"
    result = present(world, d, "zhengzhou/library-card", "--qr", png, "--out", txt)
    assert result.stdout == ""
    text = txt.read_text().strip()
    # The QR code carries the compact form of the same presentation (docs/protocol.md 7.1).
    scanned = decode_image(png.read_bytes())
    assert scanned.startswith(COMPACT_PREFIX)
    assert expand_presentation(scanned, max_bytes=8192) == text
    assert len(scanned) < 900 < len(text)
    # The merchant scans the PNG: one-way mode, the default audience of the incentive.
    out = run(
        [
            "verify",
            png,
            "--bundle",
            world.bundle,
            "--root",
            world.root,
            "--status-cache",
            world.status_dir,
            "--incentive",
            "zhengzhou/library-card",
            "--at",
            AT,
            "--json",
        ]
    )
    assert json.loads(out.stdout)["eligibility"] == "eligible"
    drawn = present(world, d, "zhengzhou/library-card", "--qr-terminal").stdout
    assert "█" in drawn or "▀" in drawn


def test_the_compact_text_verifies_like_the_full_one(world: MerchantWorld) -> None:
    d = new_wallet(world, 1)
    fill(world, d, "hangzhou", level=5)
    args = ("--aud", "metro-gate-7", "--nonce", "n-43")
    command: list[str | Path] = [
        "wallet",
        "present",
        "--dir",
        d,
        "--for",
        "fuzhou/bus-metro-discount",
    ]
    text = run([*command, *args, "--compact", "--at", AT]).stdout.strip()
    assert text.startswith(COMPACT_PREFIX)
    out = verify(world, text, "fuzhou/bus-metro-discount", *args)
    assert out["eligibility"] == "eligible"


def test_nonce_mode_and_builtin_catalogue(world: MerchantWorld) -> None:
    d = new_wallet(world, 1)
    fill(world, d, "hangzhou", level=5)
    text = run(
        [
            "wallet",
            "present",
            "--dir",
            d,
            "--for",
            "fuzhou/bus-metro-discount",
            "--aud",
            "metro-gate-7",
            "--nonce",
            "n-42",
            "--at",
            AT,
        ]
    ).stdout.strip()
    out = verify(
        world, text, "fuzhou/bus-metro-discount", "--aud", "metro-gate-7", "--nonce", "n-42"
    )
    assert out["eligibility"] == "eligible"
    assert out["issuer"] == "hangzhou"


def test_import_refuses_foreign_and_duplicate_attestations(world: MerchantWorld) -> None:
    d = new_wallet(world, 1)
    other = new_wallet_at(world, "other", 1)
    jwk = json.loads(run(["wallet", "keys", "--dir", other, "--json"]).stdout)["holder_keys"][0]
    token = world.issue("zhengzhou", jwk, level=4)
    refused = run(["wallet", "import", "--dir", d, "-"], code=1, stdin=token + "\n")
    assert "error[unknown_holder_key]" in refused.stderr
    run(["wallet", "import", "--dir", other, "-"], stdin=token + "\n")
    again = run(["wallet", "import", "--dir", other, "-"], code=1, stdin=token + "\n")
    assert "error[wallet_error]" in again.stderr


# --------------------------------------------------------------------------------------------
# fetch through the node's /v1/attestations (the app backend's credential)


class _Node(BaseHTTPRequestHandler):
    world: MerchantWorld | None = None
    seen: list[dict[str, object]] = []  # noqa: RUF012 - reset per test

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        if self.path != "/v1/attestations" or self.headers.get("Authorization") != "Bearer hx_app":
            self._answer(401, {"error": "unauthorized", "message": "malformed credential"})
            return
        self.seen.append(body)
        assert self.world is not None
        assert set(body) == {"national_id", "holder_keys"}
        items = [
            {"sd_jwt": self.world.issue("zhengzhou", jwk, level=4, idx=n)}
            for n, jwk in enumerate(body["holder_keys"])
        ]
        self._answer(200, {"attestations": items})

    def _answer(self, status: int, obj: dict[str, object]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def node(world: MerchantWorld) -> Iterator[str]:
    _Node.world = world
    _Node.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_fetch_registers_fresh_keys(world: MerchantWorld, node: str) -> None:
    d = new_wallet(world, 2)
    result = run(
        ["wallet", "fetch", "--dir", d, "--node", node, "--count", "4", "--at", AT],
        env={"HUXIN_CREDENTIAL": "hx_app", "HUXIN_NATIONAL_ID": "410102199001010000"},
    )
    assert "fetched 4" in result.stdout
    assert "410102199001010000" not in result.output
    (request,) = _Node.seen
    assert request["national_id"] == "410102199001010000"
    keys = request["holder_keys"]
    assert isinstance(keys, list)
    assert len(keys) == 4
    assert all(set(k) == {"kty", "crv", "x", "y"} for k in keys)  # public keys only
    data = json.loads(run(["wallet", "show", "--dir", d, "--at", AT, "--json"]).stdout)
    assert data["unused"] == 4
    refused = run(
        [
            "wallet",
            "fetch",
            "--dir",
            d,
            "--node",
            node,
            "--credential",
            "wrong",
            "--national-id",
            "1",
        ],
        code=1,
    )
    assert "error[fetch_failed]" in refused.stderr
    assert "HTTP 401" in refused.stderr


def test_picks_an_attestation_that_meets_the_rule(world: MerchantWorld) -> None:
    # After a level change a wallet may hold attestations of two levels.
    d = new_wallet(world, 1)
    fill(world, d, "wuhan", level=2)
    keys = json.loads(run(["wallet", "keys", "--dir", d, "--json"]).stdout)["holder_keys"]
    assert keys == []
    # The next batch (one more key) carries level 4.
    wallet = Wallet.open(d)
    (kid,) = wallet.add_keys(1)
    token = world.issue("wuhan", wallet.public_jwk(kid), level=4)
    run(["wallet", "import", "--dir", d, "-"], stdin=token)
    text = present(world, d, "zhengzhou/library-card").stdout.strip()
    assert verify(world, text, "zhengzhou/library-card")["level_at_least"] == [4]
    data = json.loads(run(["wallet", "show", "--dir", d, "--at", AT, "--json"]).stdout)
    assert [(a["level"], a["used_for"]) for a in data["attestations"]] == [
        (2, None),
        (4, "zhengzhou/library-card"),
    ]


def test_describe_names_what_each_request_discloses() -> None:
    from node.cli.wallet import _describe
    from protocol.presentation import DisclosureRequest

    assert _describe(DisclosureRequest(level_at_least=3)) == (
        "信用等级至少 3 级",
        "level at least 3",
    )
    assert _describe(DisclosureRequest(band=True))[1] == "the score band"
    assert _describe(DisclosureRequest(level=True))[1] == "the level"
    assert "no level disclosed" in _describe(DisclosureRequest())[1]
