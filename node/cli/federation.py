"""``huxin federation``: agree, change and verify the k-of-n signed federation root.

Thin click wrappers over :mod:`certs.update` and :mod:`certs.root`: each command reads files,
calls the pure API and writes files, saying what it wrote. A federation's shared directory
holds proposals and signature files while a version is being agreed, and the signed roots::

    federation/
      proposals/root-2.json                       unsigned proposal, readable JSON
      proposals/root-2.zhengzhou.<kid>.sig.json   one member's signature file
      roots/1.root.json  roots/2.root.json        signed roots; 1 is the pinned root

What it deliberately does not do: any verification logic of its own, or network transport of
proposals and signatures (members exchange the files however they like; they are public).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import click

from certs.ca import name_parts
from certs.keys import key_jwk, load_certificate, parse_key_jwk
from certs.multisig import json_bytes_pretty
from certs.root import (
    Root,
    RootPolicy,
    RootVerificationResult,
    SignedRoot,
    format_time,
    get_verification_result,
    parse_root_payload,
    parse_signed_root,
    verify_initial_root,
    verify_root_chain,
    verify_root_update,
)
from certs.update import (
    Proposal,
    combine_signatures,
    describe_changes,
    initial_root,
    member_entry,
    parse_member_entry,
    propose,
    sign_proposal,
)
from mapping.scale import builtin_scale
from node.cli._common import echo_json, fail, reported_errors
from node.cli.ca import (
    GOVERNANCE,
    PUBLIC,
    load_key_file,
    new_key_file,
    parse_at,
    read_bytes,
    write_public,
)
from protocol.jose import KeySigner, PublicKey

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING = click.Path(dir_okay=False, exists=True, path_type=Path)


_F = TypeVar("_F", bound=Callable[..., object])


def pinned_root_options(command: _F) -> _F:
    """``--pinned``, ``--at`` and ``--grace-days``: how every offline root check is anchored."""
    command = click.option(
        "--grace-days",
        type=click.IntRange(0, 365),
        default=7,
        show_default=True,
        help="Accept an expired newest root this many days, with a warning.",
    )(command)
    command = click.option("--at", "at", default=None, help="Verification time (default: now).")(
        command
    )
    return click.option(
        "--pinned", type=_EXISTING, required=True, help="The root you trust (pinned)."
    )(command)


def read_root(path: Path) -> bytes:
    """Read a signed root file, refusing it early (naming the file) if it is not one."""
    data = read_bytes(path)
    parse_signed_root(data, what=str(path))
    return data


def _short(kid: str) -> str:
    return kid[:8]


def _print_root(root: Root) -> None:
    click.echo(
        f"federation {root.federation!r} root v{root.version}: threshold {root.threshold} of "
        f"{len(root.members)} cities, expires {format_time(root.expires)}"
    )
    for m in root.members:
        keys = ", ".join(_short(k.kid) for k in m.governance_keys)
        click.echo(
            f"  {m.city:<10} {m.name_zh} {m.name_en}  issuer {m.issuer}  scale {m.scale_id}  "
            f"governance keys {keys}  CA until {m.ca_certificate.not_valid_after_utc:%Y-%m-%d}"
        )


def _print_result(result: RootVerificationResult, *, previous: Root | None) -> None:
    sides = [("its own members", result.own)]
    if previous is not None:
        sides.insert(0, (f"the members of v{previous.version}", result.trusted))
    for label, count in sides:
        mark = "ok" if count.verified else "NOT MET"
        click.echo(
            f"  signed by {len(count.signers)} of {count.threshold} required ({label}): {mark}; "
            f"signed: {', '.join(sorted(count.signers)) or '-'}; "
            f"missing: {', '.join(sorted(count.missing)) or '-'}"
        )
        if count.invalid:
            click.echo(
                f"  signatures that do not verify: {', '.join(sorted(count.invalid))}", err=True
            )


@click.group()
def federation() -> None:
    """联盟根 The k-of-n signed federation root: who the member cities are.

    No single city controls the federation: the root lists every member's CA certificate,
    issuer, node URL, scale and governance keys, and a new version counts only when a
    threshold of the previous version's members AND of its own have signed it.

    \b
    Worked example: five cities agree a 3-of-5 root, then rotate Wuhan's key.
      # each city (after `huxin ca init`):
      huxin federation member --dir zhengzhou --name-zh 郑州 --name-en Zhengzhou \\
          --node-url https://zhengzhou.huxin.example --scale shangding
      # anyone drafts version 1 from the five member.json files:
      huxin federation init --federation huxin-demo --threshold 3 --days 365 \\
          --out federation/proposals/root-1.json */public/member.json
      # at least three cities sign it, each with its own governance key:
      huxin federation sign --proposal federation/proposals/root-1.json \\
          --key zhengzhou/governance/governance.key
      # anyone combines the signature files into the signed root:
      huxin federation combine --proposal federation/proposals/root-1.json \\
          --out federation/roots/1.root.json federation/proposals/root-1.*.sig.json
      # rotation: Wuhan makes a new key; a proposal for version 2 replaces the old one
      huxin federation keygen --dir wuhan --name governance-2
      huxin federation propose --current federation/roots/1.root.json \\
          --rotate-key wuhan=wuhan/public/governance-2.jwk --out federation/proposals/root-2.json
      # three members of v1 sign, and Wuhan signs with old and new key; then:
      huxin federation combine --proposal federation/proposals/root-2.json \\
          --previous federation/roots/1.root.json --out federation/roots/2.root.json \\
          federation/proposals/root-2.*.sig.json
      huxin federation verify --pinned federation/roots/1.root.json federation/roots/*.root.json
    """


@federation.command("keygen")
@click.option("--dir", "directory", type=_DIR, required=True, help="The city's directory.")
@click.option(
    "--name", default="governance", show_default=True, help="File name of the key (no suffix)."
)
@click.option("--alg", type=click.Choice(["ES256", "EdDSA"]), default="ES256", show_default=True)
@click.option(
    "--passphrase-file", type=_EXISTING, default=None, help="Encrypt the key with this passphrase."
)
def keygen(directory: Path, name: str, alg: str, passphrase_file: Path | None) -> None:
    """Make a governance key: DIR/governance/NAME.key (0600) and DIR/public/NAME.jwk.

    \b
    Example (Wuhan prepares a key rotation):
      huxin federation keygen --dir wuhan --name governance-2
    """
    with reported_errors():
        key = new_key_file(directory / GOVERNANCE / f"{name}.key", alg, passphrase_file)
        jwk = key_jwk(key.public_key())
        write_public(
            directory / PUBLIC / f"{name}.jwk", json_bytes_pretty(jwk), what="governance JWK"
        )
    click.echo(f"governance key id {jwk['kid']}")


@federation.command("member")
@click.option("--dir", "directory", type=_DIR, required=True, help="The city's directory.")
@click.option("--name-zh", required=True, help="Chinese name, e.g. 郑州.")
@click.option("--name-en", required=True, help="English name, e.g. Zhengzhou.")
@click.option("--node-url", required=True, help="Base URL of the city's node.")
@click.option("--issuer", default=None, help="The `iss` of its attestations (default: node URL).")
@click.option("--scale", "scale_id", required=True, help="Scale id, e.g. shangding.")
@click.option("--alg", type=click.Choice(["ES256", "EdDSA"]), default="ES256", show_default=True)
@click.option(
    "--passphrase-file",
    type=_EXISTING,
    default=None,
    help="Passphrase of the governance key (encrypts a new one).",
)
def member(
    directory: Path,
    name_zh: str,
    name_en: str,
    node_url: str,
    issuer: str | None,
    scale_id: str,
    alg: str,
    passphrase_file: Path | None,
) -> None:
    """Write the city's entry for the root: DIR/public/member.json.

    Creates the governance key DIR/governance/governance.key (0600) unless it exists. City and
    federation come from DIR/public/ca.pem.

    \b
    Example:
      huxin federation member --dir hangzhou --name-zh 杭州 --name-en Hangzhou \\
          --node-url https://hangzhou.huxin.example --scale qianjiang
    """
    with reported_errors():
        ca_path = directory / PUBLIC / "ca.pem"
        ca_cert = load_certificate(read_bytes(ca_path), what=str(ca_path))
        federation_id, city = name_parts(ca_cert.subject)
        builtin_scale(scale_id)  # a typo in the scale id is caught here, not by the merchants
        key_path = directory / GOVERNANCE / "governance.key"
        if key_path.exists():
            key = load_key_file(key_path, passphrase_file)
            click.echo(f"using the existing governance key {key_path}")
        else:
            key = new_key_file(key_path, alg, passphrase_file)
        gov: PublicKey = key.public_key()
        entry = member_entry(
            city=city,
            name_zh=name_zh,
            name_en=name_en,
            issuer=issuer or node_url,
            node_url=node_url,
            scale_id=scale_id,
            ca_certificate=ca_cert,
            governance_keys=[gov],
        )
        data = json_bytes_pretty(entry)
        parse_member_entry(data, federation=federation_id)
        write_public(
            directory / PUBLIC / "governance.jwk", json_bytes_pretty(key_jwk(gov)), what="JWK"
        )
        write_public(directory / PUBLIC / "member.json", data, what="member entry")
    click.echo(f"member {city!r} of {federation_id!r}; send member.json to the other members")
    click.echo("next: one member runs `huxin federation init ... */public/member.json`")


@federation.command("init")
@click.option("--federation", "federation_id", required=True, help="Federation id.")
@click.option("--threshold", type=int, required=True, help="Cities that must sign a change.")
@click.option("--days", type=click.IntRange(1, 3660), default=365, show_default=True)
@click.option("--expires", default=None, help="Expiry date instead of --days (2027-11-25).")
@click.option("--at", "at", default=None, help="Reference time for --days (default: now).")
@click.option("--out", type=_FILE, required=True, help="Proposal file to write.")
@click.argument("members", nargs=-1, required=True, type=_EXISTING)
def init(
    federation_id: str,
    threshold: int,
    days: int,
    expires: str | None,
    at: str | None,
    out: Path,
    members: tuple[Path, ...],
) -> None:
    """Draft version 1 of the root from the members' member.json files.

    \b
    Example (five cities, 3-of-5):
      huxin federation init --federation huxin-demo --threshold 3 --days 365 \\
          --out federation/proposals/root-1.json \\
          zhengzhou/public/member.json hangzhou/public/member.json \\
          fuzhou/public/member.json nanjing/public/member.json wuhan/public/member.json
    """
    until = parse_at(expires) if expires else parse_at(at) + timedelta(days=days)
    with reported_errors():
        entries = [parse_member_entry(read_bytes(p), federation=federation_id) for p in members]
        root = initial_root(
            federation=federation_id, members=entries, threshold=threshold, expires=until
        )
        for line in describe_changes(None, root):
            click.echo(f"  {line}")
        write_public(out, root.payload(), what="unsigned root v1 proposal")
    click.echo(f"next: {threshold} or more members run `huxin federation sign --proposal {out}`")


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, Path]]:
    out = []
    for value in values:
        city, sep, path = value.partition("=")
        if not sep or not city or not path:
            raise click.BadParameter(f"{value!r} is not CITY=FILE", param_hint=option)
        out.append((city, Path(path)))
    return out


@federation.command("propose")
@click.option("--current", type=_EXISTING, required=True, help="The current signed root.")
@click.option("--out", type=_FILE, required=True, help="Proposal file to write.")
@click.option("--add-member", type=_EXISTING, multiple=True, help="A new member's member.json.")
@click.option("--remove-member", multiple=True, help="City id to remove.")
@click.option(
    "--rotate-key",
    multiple=True,
    help="CITY=JWK-FILE: replace the city's governance keys (repeat to list several).",
)
@click.option("--replace-ca", multiple=True, help="CITY=PEM-FILE: replace the city's CA.")
@click.option("--threshold", type=int, default=None, help="New threshold.")
@click.option("--expires", default=None, help="New expiry date (2028-11-25).")
@click.option("--extend-days", type=int, default=None, help="Move the expiry N days later.")
def propose_cmd(
    current: Path,
    out: Path,
    add_member: tuple[Path, ...],
    remove_member: tuple[str, ...],
    rotate_key: tuple[str, ...],
    replace_ca: tuple[str, ...],
    threshold: int | None,
    expires: str | None,
    extend_days: int | None,
) -> None:
    """Draft version N+1 of the root: add/remove members, rotate keys, change the threshold.

    \b
    Examples:
      huxin federation propose --current federation/roots/1.root.json \\
          --rotate-key wuhan=wuhan/public/governance-2.jwk --out federation/proposals/root-2.json
      huxin federation propose --current federation/roots/2.root.json \\
          --add-member suzhou/public/member.json --threshold 4 --extend-days 365 \\
          --out federation/proposals/root-3.json
    """
    with reported_errors():
        root = parse_signed_root(read_bytes(current), what=str(current)).root
        keys: dict[str, list[PublicKey]] = defaultdict(list)
        for city, path in _pairs(rotate_key, "--rotate-key"):
            keys[city].append(parse_key_jwk(_json(path), what=str(path))[1])
        cas = {
            city: load_certificate(read_bytes(path), what=str(path))
            for city, path in _pairs(replace_ca, "--replace-ca")
        }
        new_expiry = parse_at(expires) if expires else None
        if extend_days is not None:
            new_expiry = (new_expiry or root.expires) + timedelta(days=extend_days)
        change = Proposal(
            add=tuple(
                parse_member_entry(read_bytes(p), federation=root.federation) for p in add_member
            ),
            remove=remove_member,
            governance_keys={c: tuple(k) for c, k in keys.items()},
            ca_certificates=cas,
            threshold=threshold,
            expires=new_expiry,
        )
        new = propose(root, change)
        click.echo(f"root v{new.version} proposal changes v{root.version}:")
        for line in describe_changes(root, new):
            click.echo(f"  {line}")
        write_public(out, new.payload(), what=f"unsigned root v{new.version} proposal")
    click.echo(f"next: members run `huxin federation sign --proposal {out}`")


def _json(path: Path) -> dict[str, object]:
    try:
        value = json.loads(read_bytes(path))
    except ValueError:
        fail("bad_file", f"{path} is not JSON (truncated?)")
    if not isinstance(value, dict):
        fail("bad_file", f"{path} is not a JSON object")
    return value


@federation.command("sign")
@click.option("--proposal", type=_EXISTING, required=True, help="The proposal file to sign.")
@click.option("--key", "key_path", type=_EXISTING, required=True, help="Your governance key.")
@click.option("--passphrase-file", type=_EXISTING, default=None, help="Its passphrase.")
@click.option(
    "--previous", type=_EXISTING, default=None, help="The current signed root, to show changes."
)
@click.option("--out", type=_FILE, default=None, help="Signature file (default next to proposal).")
def sign_cmd(
    proposal: Path,
    key_path: Path,
    passphrase_file: Path | None,
    previous: Path | None,
    out: Path | None,
) -> None:
    """Sign a proposal with your governance key, into a separate signature file.

    Read what you sign: the changes are printed first. Pass --previous to see them relative
    to the current root.

    \b
    Example (five cities, 3-of-5: at least three members sign, each with its own key):
      for c in zhengzhou hangzhou fuzhou; do
        huxin federation sign --proposal federation/proposals/root-1.json \\
            --key $c/governance/governance.key
      done
      huxin federation sign --proposal federation/proposals/root-2.json \\
          --key hangzhou/governance/governance.key --previous federation/roots/1.root.json
    """
    with reported_errors():
        payload = read_bytes(proposal)
        new = parse_root_payload(payload)
        old = parse_signed_root(read_bytes(previous), what=str(previous)).root if previous else None
        signer = KeySigner(load_key_file(key_path, passphrase_file))
        cities = sorted(
            keys[signer.kid][0]
            for keys in (r.governance_keys() for r in (new, old) if r is not None)
            if signer.kid in keys
        )
        if not cities:
            fail(
                "unknown_key",
                f"key {signer.kid} is no governance key of the proposal"
                + (" or of the previous root" if old else "")
                + "; its signature would not count",
            )
        city = cities[0]
        click.echo(f"signing root v{new.version} of {new.federation!r} as {city!r}:")
        for line in describe_changes(old, new):
            click.echo(f"  {line}")
        target = out or proposal.with_name(f"{proposal.stem}.{city}.{_short(signer.kid)}.sig.json")
        write_public(target, sign_proposal(payload, signer), what="signature file")


@federation.command("combine")
@click.option("--proposal", type=_EXISTING, required=True, help="The proposal that was signed.")
@click.option(
    "--previous",
    type=_EXISTING,
    default=None,
    help="The current signed root (required for version 2 and later).",
)
@click.option("--out", type=_FILE, required=True, help="Signed root file to write.")
@click.argument("signatures", nargs=-1, required=True, type=_EXISTING)
def combine_cmd(
    proposal: Path, previous: Path | None, out: Path, signatures: tuple[Path, ...]
) -> None:
    """Combine signature files into the signed root; written only if thresholds are met.

    \b
    Example (five cities, 3-of-5: v1 needs 3 of its members; v2 needs 3 of v1's AND 3 of its own):
      huxin federation combine --proposal federation/proposals/root-1.json \\
          --out federation/roots/1.root.json federation/proposals/root-1.*.sig.json
      huxin federation combine --proposal federation/proposals/root-2.json \\
          --previous federation/roots/1.root.json --out federation/roots/2.root.json \\
          federation/proposals/root-2.*.sig.json
    """
    with reported_errors():
        payload = read_bytes(proposal)
        signed = combine_signatures(payload, [read_bytes(p) for p in signatures])
        version = signed.root.version
        trusted: Root | None = None
        if version > 1:
            if previous is None:
                fail(
                    "missing_previous",
                    f"root v{version} needs --previous (the v{version - 1} root)",
                )
            trusted = parse_signed_root(read_bytes(previous), what=str(previous)).root
        result = get_verification_result(trusted, signed)
        click.echo(f"root v{version}: {len(signed.jws.signatures)} signatures")
        _print_result(result, previous=trusted)
        data = signed.to_bytes()
        if trusted is None:
            verify_initial_root(data)
        else:
            verify_root_update(trusted, data)
        write_public(out, data, what=f"signed root v{version}")
    if version == 1:
        click.echo(
            f"next: every member compares `sha256sum {out}` out of band and pins this file; "
            "then `huxin bundle material` at each city"
        )
    else:
        click.echo(f"next: publish {out}; `huxin bundle build` with every root version")


@federation.command("verify")
@pinned_root_options
@click.option("--json", "as_json", is_flag=True, help="Print the newest root as JSON.")
@click.argument("roots", nargs=-1, type=_EXISTING)
def verify_cmd(
    pinned: Path, at: str | None, grace_days: int, as_json: bool, roots: tuple[Path, ...]
) -> None:
    """Verify the chain of roots from the pinned one to the newest.

    Refuses rollbacks, skipped versions, forged or under-signed roots, another federation's
    roots, and a newest root expired beyond the grace period.

    \b
    Examples (five cities, 3-of-5; every member pinned 1.root.json when it was agreed):
      huxin federation verify --pinned federation/roots/1.root.json federation/roots/*.root.json
      huxin federation verify --pinned federation/roots/2.root.json federation/roots/1.root.json
          error[rollback]: ...
    """
    now = parse_at(at)
    with reported_errors():
        chain = verify_root_chain(
            read_root(pinned),
            [read_root(p) for p in roots],
            now=now,
            policy=RootPolicy(grace=timedelta(days=grace_days)),
        )
        if as_json:
            echo_json(chain.root.to_dict())
            return
        previous: Root | None = None
        for step in chain.roots:
            _print_step(step, previous)
            previous = step.root
        _print_root(chain.root)
        for warning in chain.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"ok: root v{chain.root.version} is trusted")


def _print_step(step: SignedRoot, previous: Root | None) -> None:
    result = get_verification_result(previous, step)
    what = "pinned" if previous is None else f"verified against v{previous.version}"
    click.echo(f"root v{step.root.version} ({what})")
    _print_result(result, previous=previous)
