"""``huxin bundle``: sign a city's public material, build and verify the merchant trust bundle.

Thin click wrappers over :mod:`certs.bundle`. ``material`` runs at each city (it needs that
city's node attestation key); ``build`` runs anywhere (it needs only public files); ``verify``
is what a merchant or an auditor runs against the root they pinned.

What it deliberately does not do: verification logic of its own, or fetching material over the
network (the node's peer sync does that).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click

from certs.bundle import BundlePolicy, TrustBundle, build_bundle, sign_material
from certs.ca import Purpose, name_parts
from certs.chain import verify_node_certificate
from certs.keys import certificate_public_key, load_certificate
from certs.root import RootPolicy, parse_signed_root
from mapping.scale import builtin_scale
from node.cli._common import echo_json, fail, reported_errors
from node.cli.ca import NODE, PUBLIC, load_key_file, parse_at, read_bytes, write_public
from node.cli.federation import pinned_root_options, read_root
from node.scalefile import load_scale_file
from protocol.errors import UnknownKeyError, UntrustedIssuerError
from protocol.jose import KeySigner

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.group()
def bundle() -> None:
    """信任包 The merchant trust bundle: one file to verify any member city offline.

    A bundle holds the chain of signed roots and every member's signed public material
    (attestation keys with their node certificates, scale, incentive catalogue, status list
    URIs). A merchant verifies it from the root it pinned; no network needed.

    \b
    Worked example (five cities, after `huxin federation --help`):
      # at each city, sign its public material with its node attestation key:
      huxin bundle material --dir zhengzhou --root federation/roots/2.root.json
      # anyone builds the bundle from public files:
      huxin bundle build --root federation/roots/1.root.json \\
          --root federation/roots/2.root.json --out trust-bundle.json */public/material.json
      # a merchant checks it against the root it pinned:
      huxin bundle verify --pinned federation/roots/1.root.json trust-bundle.json
    """


@bundle.command("material")
@click.option("--dir", "directory", type=_DIR, required=True, help="The city's directory.")
@click.option(
    "--root",
    "root_path",
    type=_EXISTING,
    required=True,
    help="The current signed root (for the city's scale id).",
)
@click.option(
    "--key",
    "key_path",
    type=_EXISTING,
    default=None,
    help="Attestation key that signs (default DIR/node/attestation.key).",
)
@click.option("--passphrase-file", type=_EXISTING, default=None, help="Its passphrase.")
@click.option(
    "--cert",
    "certs",
    type=_EXISTING,
    multiple=True,
    help="Attestation certificates to publish (default DIR/public/attestation.pem; repeat to "
    "publish an old and a new key during rotation).",
)
@click.option("--scale-file", type=_EXISTING, default=None, help="Scale definition file.")
@click.option("--incentives", type=_EXISTING, default=None, help="Incentive catalogue (JSON).")
@click.option("--status-list", "status_lists", multiple=True, help="Status list URI (repeatable).")
@click.option("--at", "at", default=None, help="Signing time (default: now).")
@click.option("--out", type=_FILE, default=None, help="Default DIR/public/material.json.")
def material(
    directory: Path,
    root_path: Path,
    key_path: Path | None,
    passphrase_file: Path | None,
    certs: tuple[Path, ...],
    scale_file: Path | None,
    incentives: Path | None,
    status_lists: tuple[str, ...],
    at: str | None,
    out: Path | None,
) -> None:
    """Sign this city's public material for the bundle (run at the city).

    The scale is the built-in one the root names for the city unless --scale-file is given.

    \b
    Example (each of the five cities runs this with its own --dir):
      huxin bundle material --dir fuzhou --root federation/roots/2.root.json \\
          --status-list https://fuzhou.huxin.example/status/1
    """
    now = parse_at(at)
    with reported_errors():
        root = parse_signed_root(read_bytes(root_path), what=str(root_path)).root
        signer = KeySigner(
            load_key_file(key_path or directory / NODE / "attestation.key", passphrase_file)
        )
        pairs = []
        for path in certs or (directory / PUBLIC / "attestation.pem",):
            cert = load_certificate(read_bytes(path), what=str(path))
            pairs.append((certificate_public_key(cert), cert))
        federation_id, city = name_parts(pairs[0][1].subject)
        member = root.member(city)
        for _, cert in pairs:
            verify_node_certificate(
                cert, member.ca_certificate, purpose=Purpose.ATTESTATION, now=now
            )
        scale = load_scale_file(scale_file) if scale_file else builtin_scale(member.scale_id)
        catalogue: dict[str, object] = {}
        if incentives is not None:
            try:
                loaded = json.loads(read_bytes(incentives))
            except ValueError:
                fail("bad_file", f"{incentives} is not JSON (truncated?)")
            if not isinstance(loaded, dict):
                fail("bad_file", f"{incentives} is not a JSON object")
            catalogue = loaded
        data = sign_material(
            signer,
            federation=federation_id,
            city=city,
            attestation_keys=pairs,
            scale=scale,
            incentives=catalogue,
            status_lists=status_lists,
            now=now,
        )
        write_public(out or directory / PUBLIC / "material.json", data, what="member material")
    click.echo(
        f"material of {city!r}: {len(pairs)} attestation key(s), scale {scale.id}, "
        f"{len(status_lists)} status list(s); signed by {signer.kid}"
    )


@bundle.command("build")
@click.option(
    "--root",
    "roots",
    type=_EXISTING,
    multiple=True,
    required=True,
    help="Signed root files, oldest first (repeat: 1.root.json, 2.root.json, ...).",
)
@click.option("--out", type=_FILE, required=True, help="Bundle file to write.")
@click.option("--at", "at", default=None, help="Verification time (default: now).")
@click.argument("materials", nargs=-1, required=True, type=_EXISTING)
def build(roots: tuple[Path, ...], out: Path, at: str | None, materials: tuple[Path, ...]) -> None:
    """Build the trust bundle from the signed roots and every member's material.

    Everything is verified before the file is written.

    \b
    Example (five cities; roots 1 and 2 of the 3-of-5 federation):
      huxin bundle build --root federation/roots/1.root.json \\
          --root federation/roots/2.root.json --out trust-bundle.json \\
          zhengzhou/public/material.json hangzhou/public/material.json \\
          fuzhou/public/material.json nanjing/public/material.json wuhan/public/material.json
    """
    now = parse_at(at)
    with reported_errors():
        data, verified = build_bundle(
            [read_root(p) for p in roots], [read_bytes(p) for p in materials], now=now
        )
        write_public(out, data, what="trust bundle")
    click.echo(
        f"bundle for {verified.root.federation!r} at root v{verified.root.version}: "
        f"{len(verified.members)} members; pin {roots[0]} to verify it"
    )


@bundle.command("verify")
@pinned_root_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.argument("bundle_file", type=_EXISTING)
def verify(pinned: Path, at: str | None, grace_days: int, as_json: bool, bundle_file: Path) -> None:
    """Verify a trust bundle offline from the pinned root; list each city's keys.

    \b
    Example (five cities, 3-of-5 root; the merchant pinned 1.root.json):
      huxin bundle verify --pinned federation/roots/1.root.json trust-bundle.json
      huxin bundle verify --pinned federation/roots/1.root.json --at 2027-01-10 --json \\
          trust-bundle.json
    """
    now = parse_at(at)
    policy = BundlePolicy(root=RootPolicy(grace=timedelta(days=grace_days)))
    with reported_errors():
        trusted = TrustBundle.load(
            read_bytes(bundle_file), pinned_root=read_root(pinned), now=now, policy=policy
        )
    summary: list[dict[str, object]] = []
    lines: list[str] = []
    for member in trusted.members:
        keys: list[dict[str, str]] = []
        lines.append(
            f"  {member.city:<10} scale {trusted.scale(member.city).id:<12} issuer {member.issuer}"
        )
        for key in trusted.attestation_keys(member.city):
            try:
                trusted.resolve(member.issuer, key.kid, now)
                state = "valid"
            except (UnknownKeyError, UntrustedIssuerError) as err:
                state = f"not trusted now: {err}"
            keys.append(
                {
                    "kid": key.kid,
                    "alg": key.alg,
                    "not_after": key.not_after.isoformat(),
                    "state": state,
                }
            )
            lines.append(f"    key {key.kid[:8]} {key.alg} until {key.not_after:%Y-%m-%d}: {state}")
        summary.append(
            {
                "city": member.city,
                "issuer": member.issuer,
                "scale": trusted.scale(member.city).id,
                "status_lists": list(trusted.status_list_uris(member.city)),
                "keys": keys,
            }
        )
    root = trusted.root
    if as_json:
        echo_json(
            {
                "federation": root.federation,
                "root_version": root.version,
                "threshold": root.threshold,
                "warnings": list(trusted.warnings),
                "members": summary,
            }
        )
        return
    click.echo(
        f"federation {root.federation!r}, root v{root.version} "
        f"({root.threshold} of {len(root.members)}), verified from {pinned}"
    )
    for line in lines:
        click.echo(line)
    for warning in trusted.warnings:
        click.echo(f"warning: {warning}", err=True)
    for item in summary:
        published = item["keys"]
        if isinstance(published, list) and not any(k["state"] == "valid" for k in published):
            click.echo(
                f"warning: {item['city']} has no attestation key valid at {now:%Y-%m-%d %H:%M} UTC;"
                " its attestations cannot be verified until it renews its node certificate",
                err=True,
            )
    click.echo("ok: bundle verified")
