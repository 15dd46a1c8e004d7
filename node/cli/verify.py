"""``huxin verify``: a merchant verifies a visitor's presentation offline and decides eligibility.

Thin click wrapper over :mod:`node.merchant` (which wraps ``protocol``): reads the presentation
(a file, ``-`` for standard input, or a PNG/JPEG QR image), the trust bundle (verified from the
pinned root), the saved status lists, and prints one verdict, bilingual, or one JSON object.
``--refresh-status`` first fetches the members' status lists over HTTP into the cache.

What it deliberately does not do: any check of its own; it only does I/O and formatting.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from certs.bundle import TrustBundle
from node.cli._common import echo_json, fail, reported_errors
from node.cli.ca import parse_at, read_bytes
from node.cli.federation import read_root
from node.merchant import (
    MerchantVerdict,
    SqliteReplayCache,
    StatusCacheDir,
    default_audience,
    load_incentive,
    refresh_status_lists,
    verify_for_incentive,
)
from node.qr import decode_image, is_image
from protocol.jose import json_bytes, parse_json_object
from protocol.replay import MemoryReplayCache, ReplayCache
from protocol.status_list import StatusListCache, StatusListSource
from protocol.verifier import VerifierPolicy

_FILE = click.Path(dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)
_EXISTING = click.Path(dir_okay=False, exists=True, path_type=Path)
#: Largest presentation input read (a QR photo can be a few MB; text is far smaller).
MAX_INPUT_BYTES = 16 * 1024 * 1024


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _first_root(bundle_data: bytes, bundle_path: Path) -> bytes:
    """The bundle's own first root (trust on first use), as TrustBundle.load reads it."""
    try:
        obj = parse_json_object(bundle_data, what=str(bundle_path))
    except ValueError:
        fail("bad_file", f"{bundle_path} is not JSON (truncated?)")
    roots = obj.get("roots")
    if not isinstance(roots, list) or not roots:
        fail("invalid_bundle", f"{bundle_path} holds no roots")
    return json_bytes(roots[0])


def _read_presentation(source: str) -> str:
    stdin = source == "-"
    data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1) if stdin else read_bytes(Path(source))
    if len(data) > MAX_INPUT_BYTES:
        fail("too_large", f"the input is larger than {MAX_INPUT_BYTES} bytes")
    if is_image(data):
        return decode_image(data)
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        fail("malformed", "the presentation is neither ASCII text nor a PNG/JPEG QR image")


def _level_text(verdict: MerchantVerdict) -> str:
    if verdict.level is not None:
        return str(verdict.level)
    if verdict.level_at_least:
        return f"≥{max(verdict.level_at_least)}"
    return "-"


def _print_human(verdict: MerchantVerdict, bundle: TrustBundle, title: tuple[str, str]) -> None:
    zh_title, en_title = title
    if not verdict.valid:
        click.echo(f"[拒绝 REJECTED] 证明无效 / invalid presentation ({verdict.error})")
        click.echo(f"  {verdict.explanation.zh}")
        click.echo(f"  {verdict.explanation.en}")
        if verdict.message:
            click.echo(f"  detail: {verdict.message}")
        return
    eligibility = verdict.eligibility.value if verdict.eligibility else None
    if eligibility == "eligible":
        line = f"[通过 PASS] 证明有效，符合「{zh_title}」/ valid, eligible for “{en_title}”"
    elif eligibility == "not_eligible":
        line = (
            f"[不符合 NOT ELIGIBLE] 证明有效，但不符合「{zh_title}」/ valid, "
            f"not eligible for “{en_title}”"
        )
    else:
        line = (
            f"[待定 UNDETERMINED] 证明有效，需要更细的披露 / valid, ask for a finer "
            f"disclosure for “{en_title}”"
        )
    click.echo(line)
    member = bundle.member(verdict.issuer) if verdict.issuer else None
    who = f"{member.name_zh} {member.name_en} ({member.city})" if member else "-"
    band = f"  分数段 band: {verdict.band[0]}–{verdict.band[1]}" if verdict.band else ""
    expires = f"{verdict.expires_at:%Y-%m-%d %H:%M} UTC" if verdict.expires_at else "-"
    click.echo(f"  签发城市 issuer: {who}  等级 level: {_level_text(verdict)}{band}")
    click.echo(f"  有效期至 expires: {expires}")
    click.echo(f"  {verdict.explanation.zh}")
    click.echo(f"  {verdict.explanation.en}")
    if verdict.ask_for is not None and verdict.ask_for.band:
        click.echo("  请持有人出示分数段 / ask the holder to present their band")
    for warning in verdict.warnings:
        _warn(warning)


@click.command("verify")
@click.argument("presentation", required=False)
@click.option("--bundle", "bundle_path", type=_EXISTING, required=True, help="Trust bundle file.")
@click.option("--incentive", "incentive_ref", default=None, help="The incentive: CITY/ID.")
@click.option("--aud", "audience", default=None, help="This verifier's id (default per incentive).")
@click.option("--nonce", default=None, help="The nonce you gave the holder (omit: one-way QR).")
@click.option("--status-cache", type=_DIR, default=None, help="Saved status lists (directory).")
@click.option(
    "--refresh-status", is_flag=True, help="First fetch the members' status lists into the cache."
)
@click.option(
    "--if-stale",
    is_flag=True,
    help="With --refresh-status: fetch only lists never saved, past their ttl, or expired.",
)
@click.option("--replay-db", type=_FILE, default=None, help="One-way replay cache (SQLite file).")
@click.option("--root", "root_path", type=_EXISTING, default=None, help="The pinned root file.")
@click.option("--at", "at", default=None, help="Verification time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify(
    presentation: str | None,
    bundle_path: Path,
    incentive_ref: str | None,
    audience: str | None,
    nonce: str | None,
    status_cache: Path | None,
    refresh_status: bool,
    if_stale: bool,
    replay_db: Path | None,
    root_path: Path | None,
    at: str | None,
    as_json: bool,
) -> None:
    """核验访客的信用证明 Verify a visitor's presentation offline, and whether it qualifies.

    PRESENTATION is a file, `-` for standard input, or a QR code image (PNG/JPEG). Exit status
    0 means a valid presentation (eligible or not; see the verdict), 1 an invalid one.

    \b
    Examples:
      huxin verify --refresh-status --bundle trust-bundle.json --root 1.root.json \\
          --status-cache status/
      huxin verify scan.png --bundle trust-bundle.json --root 1.root.json \\
          --status-cache status/ --incentive hangzhou/campus-fitness
      wallet-app | huxin verify - --bundle trust-bundle.json --root 1.root.json \\
          --status-cache status/ --incentive zhengzhou/library-card --aud shop-42 --nonce N --json
    """
    if presentation is None and not refresh_status:
        raise click.UsageError("give a PRESENTATION to verify, or --refresh-status")
    if presentation is not None and incentive_ref is None:
        raise click.UsageError("--incentive CITY/ID is required to verify a presentation")
    if refresh_status and status_cache is None:
        raise click.UsageError("--refresh-status needs --status-cache DIR")
    now = parse_at(at)
    policy = VerifierPolicy()

    def json_error(code: str, message: str) -> None:
        if as_json:
            echo_json(
                {
                    "valid": False,
                    "error": code,
                    "message": message,
                    "incentive": incentive_ref,
                    "issuer": None,
                    "level": None,
                    "eligibility": None,
                    "explanation": {
                        "zh": "核验未能进行：商户端设置有误（信任包、优惠编号或文件）",
                        "en": "could not verify: verifier setup error (bundle, incentive or file)",
                    },
                }
            )

    with reported_errors(json_error):
        data = read_bytes(bundle_path)
        if root_path is not None:
            pinned = read_root(root_path)
        else:
            _warn(
                "no --root given: trusting the bundle's own first root (trust on first use). "
                "Pin the root your federation published; see docs/merchant.md"
            )
            pinned = _first_root(data, bundle_path)
        bundle = TrustBundle.load(data, pinned_root=pinned, now=now)
        for warning in bundle.warnings:
            _warn(warning)
        cache_dir = StatusCacheDir(status_cache) if status_cache is not None else None
        if refresh_status and cache_dir is not None:
            results = refresh_status_lists(
                bundle, cache_dir, now=now, policy=policy, force=not if_stale
            )
            if not results:
                _warn(
                    "信任包未列出任何状态列表，无法核查撤销 / the bundle lists no status lists; "
                    "revocation cannot be checked (rebuild or re-fetch the bundle)"
                )
            for r in results:
                state = "up to date" if r.skipped else "fetched" if r.ok else f"{r.error}"
                click.echo(f"status list {r.uri} ({r.city}): {state}", err=True)
                if r.message:
                    click.echo(f"  {r.message}", err=True)
            if presentation is None:
                if as_json:
                    echo_json(
                        {
                            "refreshed": [
                                {"uri": r.uri, "city": r.city, "ok": r.ok, "error": r.error}
                                for r in results
                            ]
                        }
                    )
                if not results or not all(r.ok for r in results):
                    sys.exit(1)
                return
        assert presentation is not None  # noqa: S101 - checked above
        assert incentive_ref is not None  # noqa: S101 - checked above
        incentive, local_scale = load_incentive(bundle, incentive_ref)
        status: StatusListSource
        if cache_dir is not None:
            status, problems = cache_dir.load(bundle, now, policy)
            for uri, problem in problems.items():
                _warn(f"status list {uri} not usable: {problem}")
        else:
            _warn("no --status-cache: revocation cannot be checked (status_unavailable)")
            status = StatusListCache(bundle, policy.allowed_algorithms)
        replay: ReplayCache | None = None
        if nonce is None:
            if replay_db is not None:
                replay = SqliteReplayCache(replay_db)
            elif cache_dir is not None:
                replay = SqliteReplayCache(cache_dir.replay_path)
            else:
                _warn("one-way mode without --replay-db or --status-cache: replays go unnoticed")
                replay = MemoryReplayCache()
        text = _read_presentation(presentation)
        verdict = verify_for_incentive(
            text,
            bundle=bundle,
            incentive=incentive,
            local_scale=local_scale,
            audience=audience or default_audience(incentive.ref),
            nonce=nonce,
            status=status,
            replay=replay,
            now=now,
            policy=policy,
        )
    if as_json:
        echo_json(verdict.to_dict())
    else:
        _print_human(verdict, bundle, (incentive.title.zh, incentive.title.en))
    if not verdict.valid:
        sys.exit(1)
