"""``huxin ca``: a city's certificate authority -- create it, issue node certificates.

Thin click wrappers over :mod:`certs.ca` and :mod:`certs.keys`; this module does the file I/O the
pure package leaves out. It also holds the file helpers ``huxin federation`` and ``huxin bundle``
share: private keys are written with mode 0600 and never overwritten, optionally encrypted with a
passphrase read from a file; every file written is reported on standard output.

A city directory (``--dir``) keeps secrets and published material apart::

    zhengzhou/
      offline/ca.key            city CA private key   -- keep on an offline machine
      governance/governance.key root-signing key      -- the governance officer's
      node/attestation.key      node signing key      -- the node's
      node/tls.key              node TLS key          -- the node's
      public/                   everything here may be published
        ca.pem  attestation.pem  tls.pem  member.json  governance.jwk  material.json

What it deliberately does not do: hold certificate logic (that is :mod:`certs`), or keep a
database of issued serial numbers (node certificates are short-lived instead).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import click

from certs.ca import DEFAULT_CA_LIFETIME, DEFAULT_NODE_LIFETIME, Purpose, create_ca
from certs.ca import issue_node_certificate as _issue
from certs.chain import verify_node_certificate
from certs.keys import (
    PRIVATE_KEY_FILE_MODE,
    certificate_pem,
    generate_private_key,
    load_certificate,
    load_private_key,
    load_public_key,
    private_key_pem,
)
from node.cli._common import fail, reported_errors
from protocol.jose import PrivateKey, PublicKey, key_thumbprint

OFFLINE: Final = "offline"
GOVERNANCE: Final = "governance"
NODE: Final = "node"
PUBLIC: Final = "public"

_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING = click.Path(dir_okay=False, exists=True, path_type=Path)


# --------------------------------------------------------------------------------------------
# File helpers shared by the certs commands


def read_bytes(path: Path) -> bytes:
    """Read a file, turning a missing or unreadable file into ``error[file_not_found]``."""
    try:
        return path.read_bytes()
    except OSError as err:
        fail("file_not_found", f"cannot read {path}: {err.strerror or err}")


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write a private key; never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_FILE_MODE)
    except FileExistsError:
        fail("exists", f"{path} already exists; a private key is never overwritten")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, PRIVATE_KEY_FILE_MODE)  # in case the umask narrowed it further
    click.echo(f"wrote {path} (private key, mode 0600)")


def write_public(path: Path, data: bytes, *, what: str) -> None:
    """Write a public file (creating directories) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    click.echo(f"wrote {path} ({what})")


def read_passphrase(path: Path | None) -> bytes | None:
    """The passphrase in ``path`` (first line, without the newline), or ``None``."""
    if path is None:
        return None
    text = read_bytes(path).splitlines()
    if not text or not text[0]:
        fail("bad_passphrase", f"{path} holds no passphrase on its first line")
    return text[0]


def load_key_file(path: Path, passphrase_file: Path | None) -> PrivateKey:
    """Load a private key file with a clear error for every way it can be wrong.

    Raises:
        CertsError: see :func:`certs.keys.load_private_key`.
    """
    return load_private_key(read_bytes(path), read_passphrase(passphrase_file), what=str(path))


def new_key_file(path: Path, alg: str, passphrase_file: Path | None) -> PrivateKey:
    """Generate a key and write it to ``path`` (0600, encrypted if a passphrase is given)."""
    key = generate_private_key(alg)
    write_private(path, private_key_pem(key, read_passphrase(passphrase_file)))
    return key


def parse_at(value: str | None) -> datetime:
    """``--at`` as a UTC datetime: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ``; default now."""
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (2027-01-31 or 2027-01-31T08:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Commands


@click.group()
def ca() -> None:
    """城市CA City certificate authority: create it, issue node certificates.

    Each city runs its own CA. Its key stays offline; it certifies the node's short-lived
    attestation-signing and TLS keys, and its certificate goes into the federation root.

    \b
    Worked example (one of five cities; repeat for hangzhou, fuzhou, nanjing, wuhan):
      huxin ca init  --dir zhengzhou --city zhengzhou --federation huxin-demo
      huxin ca issue --dir zhengzhou --purpose attestation
      huxin ca issue --dir zhengzhou --purpose tls --dns zhengzhou.huxin.example
    then `huxin federation --help` to agree the 3-of-5 root.
    """


@ca.command("init")
@click.option("--dir", "directory", type=_DIR, required=True, help="The city's directory.")
@click.option("--city", required=True, help="City id, e.g. zhengzhou.")
@click.option(
    "--federation", required=True, help="Federation id all members agree, e.g. huxin-demo."
)
@click.option(
    "--alg",
    type=click.Choice(["ES256", "EdDSA"]),
    default="ES256",
    show_default=True,
    help="CA key algorithm.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 20 * 365),
    default=DEFAULT_CA_LIFETIME.days,
    show_default=True,
    help="CA certificate lifetime in days.",
)
@click.option("--at", "at", default=None, help="Start of validity (default: now).")
@click.option(
    "--passphrase-file",
    type=_EXISTING,
    default=None,
    help="Encrypt the CA key with the passphrase on this file's first line.",
)
def init(
    directory: Path,
    city: str,
    federation: str,
    alg: str,
    days: int,
    at: str | None,
    passphrase_file: Path | None,
) -> None:
    """Create a city CA: DIR/offline/ca.key (0600) and DIR/public/ca.pem.

    Move DIR/offline to an offline machine afterwards; `huxin ca issue` needs it only when
    certifying node keys.

    \b
    Example, five cities of the federation huxin-demo:
      for c in zhengzhou hangzhou fuzhou nanjing wuhan; do
        huxin ca init --dir $c --city $c --federation huxin-demo
      done
    """
    for label, value in (("--city", city), ("--federation", federation)):
        if not _ID_RE.match(value):
            raise click.BadParameter(
                f"{value!r}: use lowercase letters, digits and '-'", param_hint=label
            )
    now = parse_at(at)
    with reported_errors():
        key_path = directory / OFFLINE / "ca.key"
        if key_path.exists():
            fail("exists", f"{key_path} already exists; this city already has a CA")
        key = new_key_file(key_path, alg, passphrase_file)
        cert = create_ca(
            key, federation=federation, city=city, now=now, lifetime=timedelta(days=days)
        )
        write_public(
            directory / PUBLIC / "ca.pem", certificate_pem(cert).encode(), what="CA certificate"
        )
    click.echo(
        f"city CA of {city!r} in federation {federation!r}, {alg}, valid until "
        f"{cert.not_valid_after_utc:%Y-%m-%d}; key id {key_thumbprint(key.public_key())}"
    )
    click.echo(f"next: huxin ca issue --dir {directory} --purpose attestation")


@ca.command("issue")
@click.option("--dir", "directory", type=_DIR, required=True, help="The city's directory.")
@click.option(
    "--purpose",
    type=click.Choice([p.value for p in Purpose]),
    default=Purpose.ATTESTATION.value,
    show_default=True,
    help="attestation: signs credit attestations and status lists; tls: the node's HTTPS key.",
)
@click.option(
    "--key",
    "key_path",
    type=_FILE,
    default=None,
    help="Node private key to certify (default DIR/node/PURPOSE.key; created if absent).",
)
@click.option(
    "--public-key",
    type=_EXISTING,
    default=None,
    help="Certify this PEM public key instead (a key held in an HSM).",
)
@click.option(
    "--out", type=_FILE, default=None, help="Certificate file (default DIR/public/PURPOSE.pem)."
)
@click.option("--dns", multiple=True, help="DNS name for a TLS certificate (repeatable).")
@click.option("--ip", multiple=True, help="IP address for a TLS certificate (repeatable).")
@click.option(
    "--days",
    type=click.IntRange(1, 397),
    default=DEFAULT_NODE_LIFETIME.days,
    show_default=True,
    help="Certificate lifetime in days (short-lived: renew by issuing again).",
)
@click.option(
    "--alg",
    type=click.Choice(["ES256", "EdDSA"]),
    default="ES256",
    show_default=True,
    help="Algorithm of a newly created node key.",
)
@click.option("--at", "at", default=None, help="Start of validity (default: now).")
@click.option(
    "--ca-passphrase-file", type=_EXISTING, default=None, help="Passphrase of an encrypted CA key."
)
@click.option(
    "--passphrase-file",
    type=_EXISTING,
    default=None,
    help="Passphrase of the node key (encrypts a new one).",
)
def issue(
    directory: Path,
    purpose: str,
    key_path: Path | None,
    public_key: Path | None,
    out: Path | None,
    dns: tuple[str, ...],
    ip: tuple[str, ...],
    days: int,
    alg: str,
    at: str | None,
    ca_passphrase_file: Path | None,
    passphrase_file: Path | None,
) -> None:
    """Issue a short-lived node certificate signed by the city CA.

    Creates the node key DIR/node/PURPOSE.key (0600) if it does not exist, or certifies the
    existing one (renewal). To rotate the attestation key, pass a new --key path.

    \b
    Examples:
      huxin ca issue --dir zhengzhou --purpose attestation
      huxin ca issue --dir zhengzhou --purpose tls --dns zhengzhou.huxin.example --ip 127.0.0.1
      huxin ca issue --dir zhengzhou --key zhengzhou/node/attestation-2.key \\
                     --out zhengzhou/public/attestation-2.pem        # key rotation
    """
    kind = Purpose(purpose)
    now = parse_at(at)
    with reported_errors():
        ca_cert = load_certificate(
            read_bytes(directory / PUBLIC / "ca.pem"), what=str(directory / PUBLIC / "ca.pem")
        )
        ca_key = load_key_file(directory / OFFLINE / "ca.key", ca_passphrase_file)
        subject: PublicKey
        if public_key is not None:
            subject = load_public_key(read_bytes(public_key), what=str(public_key))
        else:
            path = key_path or directory / NODE / f"{kind.value}.key"
            if path.exists():
                subject = load_key_file(path, passphrase_file).public_key()
                click.echo(f"certifying the existing key {path}")
            else:
                subject = new_key_file(path, alg, passphrase_file).public_key()
        cert = _issue(
            ca_key,
            ca_cert,
            subject,
            purpose=kind,
            now=now,
            lifetime=timedelta(days=days),
            dns_names=dns,
            ip_addresses=ip,
        )
        verified = verify_node_certificate(cert, ca_cert, purpose=kind, now=now)
        target = out or directory / PUBLIC / f"{kind.value}.pem"
        write_public(target, certificate_pem(cert).encode(), what=f"{kind.value} certificate")
    click.echo(
        f"{kind.value} certificate for {verified.city!r}: key id {verified.kid}, valid "
        f"{verified.not_before:%Y-%m-%d %H:%M} .. {verified.not_after:%Y-%m-%d %H:%M} UTC"
    )
    if kind is Purpose.ATTESTATION:
        click.echo(
            f"next: huxin federation member --dir {directory} ... (join the root), or "
            f"huxin bundle material --dir {directory} ... (publish the renewed certificate)"
        )
