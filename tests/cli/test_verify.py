"""``huxin verify``: a merchant verifies presentations offline and decides eligibility."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from certs.bundle import TrustBundle
from node.cli import cli
from node.merchant import (
    SqliteReplayCache,
    StatusCacheDir,
    default_audience,
    load_incentive,
    refresh_status_lists,
    verify_for_incentive,
)
from node.qr import encode_png
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present
from tests.certs.sim import NOW, Federation
from tests.cli.merchant_sim import AT, MerchantWorld

SHOWN_AT = NOW + timedelta(seconds=10)
AUD = "shop-42"


def run(args: Sequence[str | Path], *, code: int = 0, stdin: bytes | None = None) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], input=stdin)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def show(
    world: MerchantWorld,
    *,
    city: str = "zhengzhou",
    level: int = 4,
    band: tuple[int, int] | None = None,
    request: DisclosureRequest | None = None,
    audience: str = AUD,
    nonce: str | None = "n-123",
    idx: int = 7,
) -> str:
    holder = KeySigner.generate()
    sd_jwt = world.issue(city, holder.public_jwk, level=level, band=band, idx=idx)
    return present(
        sd_jwt,
        holder,
        request=request or DisclosureRequest(level_at_least=level),
        audience=audience,
        nonce=nonce,
        now=SHOWN_AT,
    )


def verify_json(
    world: MerchantWorld,
    presentation: str,
    incentive: str,
    *extra: str,
    code: int = 0,
    cache: bool = True,
) -> dict[str, object]:
    path = world.base / "p.txt"
    path.write_text(presentation)
    args: list[str | Path] = [
        "verify",
        path,
        "--bundle",
        world.bundle,
        "--root",
        world.root,
        "--incentive",
        incentive,
        "--at",
        AT,
        "--json",
        *extra,
    ]
    if cache:
        args += ["--status-cache", world.status_dir]
    out = json.loads(run(args, code=code).stdout)
    assert isinstance(out, dict)
    return out


def test_valid_presentation_json_fields(world: MerchantWorld) -> None:
    out = verify_json(
        world, show(world), "zhengzhou/library-card", "--aud", AUD, "--nonce", "n-123"
    )
    assert out["valid"] is True
    assert out["error"] is None
    assert out["issuer"] == "zhengzhou"
    assert out["level"] is None  # only "level at least 4" was disclosed
    assert out["level_at_least"] == [4]
    assert out["eligibility"] == "eligible"
    explanation = out["explanation"]
    assert isinstance(explanation, dict)
    assert "要求 4 级" in explanation["zh"]
    assert "eligible" in explanation["en"]


def test_wrong_audience_and_nonce(world: MerchantWorld) -> None:
    shown = show(world)
    out = verify_json(
        world, shown, "zhengzhou/library-card", "--aud", "shop-43", "--nonce", "n-123", code=1
    )
    assert out["valid"] is False
    assert out["error"] == "wrong_audience"
    assert out["eligibility"] is None
    out = verify_json(
        world, shown, "zhengzhou/library-card", "--aud", AUD, "--nonce", "n-999", code=1
    )
    assert out["error"] == "wrong_nonce"
    explanation = out["explanation"]
    assert isinstance(explanation, dict)
    assert explanation["zh"].startswith("随机数不符")


def test_revoked_attestation(world: MerchantWorld) -> None:
    world.save_status({"zhengzhou": [7]})
    out = verify_json(
        world,
        show(world, idx=7),
        "zhengzhou/library-card",
        "--aud",
        AUD,
        "--nonce",
        "n-123",
        code=1,
    )
    assert out["error"] == "revoked"
    # Another index of the same list is still fine.
    out = verify_json(
        world, show(world, idx=8), "zhengzhou/library-card", "--aud", AUD, "--nonce", "n-123"
    )
    assert out["valid"] is True


def test_no_status_cache_is_status_unavailable(world: MerchantWorld) -> None:
    result = run(
        [
            "verify",
            "-",
            "--bundle",
            world.bundle,
            "--root",
            world.root,
            "--incentive",
            "zhengzhou/library-card",
            "--aud",
            AUD,
            "--nonce",
            "n-123",
            "--at",
            AT,
            "--json",
        ],
        code=1,
        stdin=show(world).encode(),
    )
    assert json.loads(result.stdout)["error"] == "status_unavailable"
    assert "revocation cannot be checked" in result.stderr


def test_expired_status_list_is_unavailable(world: MerchantWorld) -> None:
    cache = StatusCacheDir(world.status_dir)
    cache.store(
        world.uri("zhengzhou"),
        world.status_token("zhengzhou", lifetime=timedelta(seconds=1)),
        NOW,
    )
    out = verify_json(
        world,
        show(world),
        "zhengzhou/library-card",
        "--aud",
        AUD,
        "--nonce",
        "n-123",
        "--at",
        "2026-11-25T12:05:00Z",
        code=1,
    )
    assert out["error"] == "status_unavailable"


def test_one_way_presentation_is_accepted_once(world: MerchantWorld) -> None:
    shown = show(world, nonce=None, audience=default_audience("hangzhou/campus-fitness"))
    first = verify_json(world, shown, "hangzhou/campus-fitness")
    assert first["valid"] is True
    assert (world.status_dir / "replay.sqlite").is_file()
    second = verify_json(world, shown, "hangzhou/campus-fitness", code=1)
    assert second["error"] == "replayed"
    # An explicit --replay-db is a separate cache.
    third = verify_json(
        world, shown, "hangzhou/campus-fitness", "--replay-db", str(world.base / "gate.db")
    )
    assert third["valid"] is True
    # The default audience binds the QR code to one incentive.
    other = verify_json(world, shown, "hangzhou/library-card", code=1)
    assert other["error"] == "wrong_audience"


@pytest.mark.parametrize(
    ("request_", "expected", "words"),
    [
        (DisclosureRequest(level_at_least=3), "eligible", "[600, 1000]"),
        (DisclosureRequest(level=True), "undetermined", "[550, 599]"),
    ],
)
def test_eligibility_for_a_score_rule(
    world: MerchantWorld, request_: DisclosureRequest, expected: str, words: str
) -> None:
    # Hangzhou campus fitness: 钱江分 above 580 (min_score 581); a Zhengzhou visitor.
    level = 3 if expected == "eligible" else 2
    shown = show(world, level=level, request=request_)
    out = verify_json(world, shown, "hangzhou/campus-fitness", "--aud", AUD, "--nonce", "n-123")
    assert out["eligibility"] == expected
    explanation = out["explanation"]
    assert isinstance(explanation, dict)
    assert words in explanation["zh"]
    assert words in explanation["en"]
    assert "581" in explanation["en"]
    if expected == "undetermined":
        assert out["ask_for"] == {"level": False, "level_at_least": None, "band": True}


def test_not_eligible_and_band(world: MerchantWorld) -> None:
    out = verify_json(
        world,
        show(world, level=1, request=DisclosureRequest(level=True)),
        "hangzhou/campus-fitness",
        "--aud",
        AUD,
        "--nonce",
        "n-123",
    )
    assert out["valid"] is True  # exit 0: the presentation is valid, the rule is not met
    assert out["eligibility"] == "not_eligible"
    # A level-2 visitor whose band maps above the threshold is eligible on the band alone.
    out = verify_json(
        world,
        show(world, level=2, band=(96, 99), request=DisclosureRequest(band=True)),
        "hangzhou/campus-fitness",
        "--aud",
        AUD,
        "--nonce",
        "n-123",
    )
    assert out["eligibility"] == "eligible"
    assert out["band"] == [96, 99]


def test_visitors_not_honoured(world: MerchantWorld) -> None:
    # Zhengzhou's elderly-care priority is for local residents only.
    out = verify_json(
        world,
        show(world, city="wuhan", nonce="n-1"),
        "zhengzhou/elderly-care",
        "--aud",
        AUD,
        "--nonce",
        "n-1",
    )
    assert out["eligibility"] == "not_eligible"
    explanation = out["explanation"]
    assert isinstance(explanation, dict)
    assert explanation["zh"] == "该优惠仅面向本市居民"


def test_qr_image_input_and_human_output(world: MerchantWorld) -> None:
    png = world.base / "scan.png"
    png.write_bytes(encode_png(show(world, city="fuzhou", level=5)))
    result = run(
        [
            "verify",
            png,
            "--bundle",
            world.bundle,
            "--root",
            world.root,
            "--incentive",
            "zhengzhou/library-card",
            "--aud",
            AUD,
            "--nonce",
            "n-123",
            "--status-cache",
            world.status_dir,
            "--at",
            AT,
        ]
    )
    first = result.stdout.splitlines()[0]
    assert first.startswith("[通过 PASS] 证明有效，符合「市图书馆免押金办理借书证」")
    assert "valid, eligible" in first
    assert "福州 Fuzhou (fuzhou)" in result.stdout
    assert "等级 level: ≥5" in result.stdout


def test_rejected_human_output_and_tofu_warning(world: MerchantWorld) -> None:
    result = run(
        [
            "verify",
            "-",
            "--bundle",
            world.bundle,
            "--incentive",
            "zhengzhou/library-card",
            "--aud",
            AUD,
            "--nonce",
            "n-123",
            "--status-cache",
            world.status_dir,
            "--at",
            AT,
        ],
        code=1,
        stdin=(show(world)[:-5] + "AAAAA").encode(),
    )
    assert "trust on first use" in result.stderr
    assert result.stdout.startswith("[拒绝 REJECTED] 证明无效 / invalid presentation (")
    assert "持有人签名无效" in result.stdout


def test_setup_errors_are_reported(world: MerchantWorld) -> None:
    result = run(
        [
            "verify",
            "-",
            "--bundle",
            world.bundle,
            "--root",
            world.root,
            "--incentive",
            "zhengzhou/no-such-thing",
            "--at",
            AT,
            "--json",
        ],
        code=1,
        stdin=b"x",
    )
    out = json.loads(result.stdout)
    assert out["error"] == "unknown_incentive"
    assert out["valid"] is False
    assert out["explanation"]["zh"].startswith("核验未能进行")
    assert "error[unknown_incentive]" in result.stderr
    result = run(["verify", "-", "--bundle", world.bundle], code=2, stdin=b"x")
    assert "--incentive" in result.output


# --------------------------------------------------------------------------------------------
# Filling the status cache


class _Tokens(BaseHTTPRequestHandler):
    tokens: dict[str, bytes] = {}  # noqa: RUF012 - set per test before serving

    def do_GET(self) -> None:
        body = self.tokens.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/statuslist+jwt")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Tokens)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_refresh_status_over_http(
    fed: Federation, tmp_path: Path, server: ThreadingHTTPServer
) -> None:
    port = server.server_address[1]
    world = MerchantWorld(fed, tmp_path, status_base=f"http://127.0.0.1:{port}").build()
    _Tokens.tokens = {
        f"/{city}/status/1": world.status_token(city, [7] if city == "wuhan" else [])
        for city in fed.cities
    }
    _Tokens.tokens["/nanjing/status/1"] = b"garbage"
    del _Tokens.tokens["/fuzhou/status/1"]
    args: list[str | Path] = [
        "verify",
        "--refresh-status",
        "--bundle",
        world.bundle,
        "--root",
        world.root,
        "--status-cache",
        world.status_dir,
        "--at",
        AT,
        "--json",
    ]
    result = run(args, code=1)
    refreshed = {r["city"]: r for r in json.loads(result.stdout)["refreshed"]}
    assert refreshed["zhengzhou"]["ok"] is True
    assert refreshed["nanjing"]["error"] == "malformed"
    assert refreshed["fuzhou"]["error"] == "fetch_failed"
    assert "HTTP 404" in result.stderr
    index = json.loads((world.status_dir / "index.json").read_text())
    assert sorted(index["lists"]) == sorted(
        world.uri(c) for c in ("zhengzhou", "hangzhou", "wuhan")
    )
    # Verification now sees Wuhan's revocation.
    out = verify_json(
        world,
        show(world, city="wuhan", idx=7),
        "zhengzhou/library-card",
        "--aud",
        AUD,
        "--nonce",
        "n-123",
        code=1,
    )
    assert out["error"] == "revoked"
    # A node answering garbage leaves the last good copy in place.
    _Tokens.tokens["/zhengzhou/status/1"] = b"garbage"
    result = run(args, code=1)
    again = {r["city"]: r for r in json.loads(result.stdout)["refreshed"]}
    assert again["zhengzhou"]["error"] == "malformed"
    out = verify_json(
        world, show(world), "zhengzhou/library-card", "--aud", AUD, "--nonce", "n-123"
    )
    assert out["valid"] is True
    # --if-stale fetches only what is missing or past its ttl (here: fuzhou and nanjing).
    result = run([*args, "--if-stale"], code=1)
    again = {r["city"]: r for r in json.loads(result.stdout)["refreshed"]}
    assert again["zhengzhou"]["ok"] is True
    assert again["nanjing"]["error"] == "malformed"
    assert "up to date" in result.stderr


def test_refresh_with_a_bundle_that_lists_no_status_lists(fed: Federation, tmp_path: Path) -> None:
    world = MerchantWorld(fed, tmp_path, with_status_lists=False).build()
    args: list[str | Path] = ["verify", "--refresh-status", "--bundle", world.bundle, "--at", AT]
    result = run([*args, "--root", world.root, "--status-cache", world.status_dir], code=1)
    assert "the bundle lists no status lists" in result.stderr


def test_python_api_for_merchant_apps(world: MerchantWorld) -> None:
    # The exact calls docs/merchant.md shows.
    now = datetime.fromisoformat(AT.replace("Z", "+00:00"))
    bundle = TrustBundle.load(
        world.bundle.read_bytes(), pinned_root=world.root.read_bytes(), now=now
    )
    cache_dir = StatusCacheDir(world.status_dir)
    results = refresh_status_lists(
        bundle,
        cache_dir,
        now=now,
        fetch=lambda uri: world.status_token(uri.split("/")[2].split(".")[0]),
        force=True,
    )
    assert all(r.ok for r in results)
    status, problems = cache_dir.load(bundle, now)
    assert problems == {}
    incentive, local_scale = load_incentive(bundle, "fuzhou/bus-metro-discount")
    replay = SqliteReplayCache(world.base / "gate.sqlite")
    shown = show(world, level=4, audience=default_audience(incentive.ref), nonce=None)
    verdict = verify_for_incentive(
        shown,
        bundle=bundle,
        incentive=incentive,
        local_scale=local_scale,
        audience=default_audience(incentive.ref),
        nonce=None,
        status=status,
        replay=replay,
        now=now,
    )
    assert verdict.valid
    assert verdict.eligibility is not None
    assert verdict.eligibility.value == "eligible"
    again = verify_for_incentive(
        shown,
        bundle=bundle,
        incentive=incentive,
        local_scale=local_scale,
        audience=default_audience(incentive.ref),
        nonce=None,
        status=status,
        replay=replay,
        now=now,
    )
    assert again.error == "replayed"


def test_docs_cover_every_option_and_error_code() -> None:
    from node.cli.verify import verify as command
    from node.merchant import _ERROR_TEXT

    doc = (Path(__file__).resolve().parents[2] / "docs" / "merchant.md").read_text()
    for param in command.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                assert f"`{opt}" in doc, opt
    for code in _ERROR_TEXT:
        assert f"`{code}`" in doc, code
